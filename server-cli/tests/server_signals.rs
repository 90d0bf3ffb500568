//! Signals and scale-out through the real binary on each IO backend: SIGTERM under 200
//! keep-alive clients (readiness off first, every started response completed), SIGHUP under
//! load (a route swapped, no request failed; a broken file reported and the running
//! configuration kept), and two processes sharing a port with `reuse_port`.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::{BACKENDS, Client, TempDir, start};

const FILE_SIZE: usize = 128 * 1024;

/// How one client's run ended.
#[derive(Debug, Default)]
struct Outcome {
    /// Responses received whole.
    complete: u64,
    /// Of those, received after SIGTERM was sent.
    after_signal: u64,
    /// Responses that came whole with `Connection: close`: requests in flight when the
    /// listeners closed, finished before their connection was.
    finished_at_close: u64,
    /// Requests sent whose connection closed before any byte of an answer: the server closed
    /// it as idle, not having read them (the keep-alive race every HTTP/1.1 server has at
    /// shutdown; a client sends such a request again, RFC 9112 §9.3.1). The server leaves idle
    /// connections a moment for a request on its way, which makes these rare.
    unread: u64,
    /// Responses whose head arrived and whose body did not, or came wrong.
    truncated: u64,
}

#[test]
fn sigterm_under_200_keep_alive_clients_completes_every_started_response() {
    for backend in BACKENDS {
        let dir = TempDir::new("term");
        let content: Vec<u8> = (0..FILE_SIZE).map(|i| (i % 251) as u8).collect();
        dir.write("site/big.bin", &content);
        let config = json!({
            "runtime": { "workers": 2, "io_backend": backend },
            "listeners": [{ "address": "127.0.0.1:0" }],
            "http": { "max_connections": 1000 },
            "shutdown": { "drain_delay_ms": 2000, "grace_ms": 20000 },
            "routes": [
                { "kind": "health", "path": "/readyz", "check": "ready" },
                { "kind": "static", "path": "/", "root": dir.path().join("site") },
            ],
        });
        let mut server = start(&dir, &config);
        let addr = server.addr();
        let signalled = Arc::new(AtomicBool::new(false));
        let content = Arc::new(content);

        let clients: Vec<_> = (0..200)
            .map(|_| {
                let (signalled, content) = (signalled.clone(), content.clone());
                std::thread::spawn(move || {
                    let mut out = Outcome::default();
                    let Ok(mut c) = Client::connect(addr) else { return out };
                    loop {
                        if c.send("GET", "x", "/big.bin", "", b"").is_err() {
                            return out;
                        }
                        match c.read_response(false) {
                            Ok(r) => {
                                if r.status != 200 || r.body != *content {
                                    out.truncated += 1;
                                    return out;
                                }
                                out.complete += 1;
                                if signalled.load(Ordering::Acquire) {
                                    out.after_signal += 1;
                                }
                                if r.closes() {
                                    out.finished_at_close += 1;
                                    return out;
                                }
                            }
                            // A head that arrived without its whole body is a broken
                            // response; a close before any byte is a request the server
                            // never took (it was closing that idle connection).
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                                ) && c.response_bytes() == 0 =>
                            {
                                out.unread += 1;
                                return out;
                            }
                            Err(_) => {
                                out.truncated += 1;
                                return out;
                            }
                        }
                    }
                })
            })
            .collect();

        // The readiness prober: a fresh connection every 5 ms; when did it first see 503, and
        // when was it first refused?
        let probe = {
            let stop = Arc::new(AtomicBool::new(false));
            let seen = Arc::new(Mutex::new((None::<Instant>, None::<Instant>)));
            let (stop2, seen2) = (stop.clone(), seen.clone());
            let handle = std::thread::spawn(move || {
                while !stop2.load(Ordering::Acquire) {
                    let answer = Client::connect(addr).and_then(|mut c| c.request("GET", "x", "/readyz", ""));
                    let now = Instant::now();
                    match answer {
                        Ok(r) if r.status == 503 => {
                            seen2.lock().unwrap().0.get_or_insert(now);
                        }
                        Ok(_) => {}
                        Err(_) => {
                            seen2.lock().unwrap().1.get_or_insert(now);
                            return;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
            (stop, seen, handle)
        };

        std::thread::sleep(Duration::from_millis(800));
        signalled.store(true, Ordering::Release);
        let signal_at = Instant::now();
        server.signal(libc::SIGTERM);
        let code = server.wait_exit(Duration::from_secs(60));
        assert_eq!(code, 0, "{backend}: {}", server.stderr.text());

        let outcomes: Vec<Outcome> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        probe.0.store(true, Ordering::Release);
        probe.2.join().unwrap();
        let (first_503, first_refused) = *probe.1.lock().unwrap();

        let complete: u64 = outcomes.iter().map(|o| o.complete).sum();
        let after: u64 = outcomes.iter().map(|o| o.after_signal).sum();
        let truncated: u64 = outcomes.iter().map(|o| o.truncated).sum();
        let at_close: u64 = outcomes.iter().map(|o| o.finished_at_close).sum();
        let unread: u64 = outcomes.iter().map(|o| o.unread).sum();
        eprintln!(
            "{backend}: {complete} responses, {after} after SIGTERM, {at_close} in flight at the close, \
             {unread} unread on idle connections, {truncated} truncated"
        );
        // Every client ended one way or the other, having been answered before.
        assert_eq!(outcomes.iter().filter(|o| o.complete == 0).count(), 0, "{backend}");
        assert_eq!(truncated, 0, "{backend}: every response that started was completed");
        assert!(after > 0, "{backend}: requests kept being answered after SIGTERM");
        assert!(at_close > 0, "{backend}: requests in flight when the listeners closed were answered");
        let since = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(signal_at));
        eprintln!("{backend}: 503 at {:?}, refused at {:?} after the signal", since(first_503), since(first_refused));
        let first_503 = first_503.expect("/readyz turned 503");
        assert!(first_503 >= signal_at);
        if let Some(refused) = first_refused {
            assert!(first_503 < refused, "{backend}: /readyz turned 503 before the listener closed");
        }
        assert!(server.stderr.text().contains("every connection closed"), "{}", server.stderr.text());
    }
}

#[test]
fn sighup_under_load_swaps_a_route_without_failing_a_request() {
    for backend in BACKENDS {
        let dir = TempDir::new("hup");
        let config = |body: &str, level: &str| {
            json!({
                "runtime": { "workers": 2, "io_backend": backend },
                "listeners": [{ "address": "127.0.0.1:0" }],
                "logging": { "level": level },
                "routes": [{ "kind": "fixed", "path": "/", "body": body }],
            })
        };
        let server = start(&dir, &config("v1", "info"));
        let addr = server.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        // How many clients have seen v1, and v2: the reloads wait for every client rather
        // than for a fixed time, which a loaded machine may not give them.
        let (saw_v1, saw_v2) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        const CLIENTS: u64 = 32;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (stop, failures) = (stop.clone(), failures.clone());
                let (saw_v1, saw_v2) = (saw_v1.clone(), saw_v2.clone());
                std::thread::spawn(move || {
                    let mut c = Client::connect(addr).unwrap();
                    let (mut v1, mut v2, mut went_back) = (0u64, 0u64, false);
                    while !stop.load(Ordering::Acquire) {
                        match c.get("/") {
                            Ok(r) if r.status == 200 && r.body == b"v1" => {
                                went_back |= v2 > 0;
                                if v1 == 0 {
                                    saw_v1.fetch_add(1, Ordering::Relaxed);
                                }
                                v1 += 1;
                            }
                            Ok(r) if r.status == 200 && r.body == b"v2" => {
                                if v2 == 0 {
                                    saw_v2.fetch_add(1, Ordering::Relaxed);
                                }
                                v2 += 1;
                            }
                            _ => {
                                failures.fetch_add(1, Ordering::Relaxed);
                                c = Client::connect(addr).unwrap();
                            }
                        }
                    }
                    (v1, v2, went_back)
                })
            })
            .collect();

        let all_saw = |count: &AtomicU64| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while count.load(Ordering::Relaxed) < CLIENTS && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        all_saw(&saw_v1);
        std::fs::write(&server.config, serde_json::to_vec(&config("v2", "warn")).unwrap()).unwrap();
        server.signal(libc::SIGHUP);
        assert!(server.stderr.wait_for("configuration reloaded", Duration::from_secs(10)).is_some(), "{backend}");
        all_saw(&saw_v2);

        // A broken file: reported (file, line, column), the running routes kept.
        std::fs::write(&server.config, "{\n  \"listeners\": [\n").unwrap();
        server.signal(libc::SIGHUP);
        let line = server.stderr.wait_for("reload failed", Duration::from_secs(10)).expect("the failure is logged");
        assert!(line.contains(&format!("{}:3:", server.config.display())), "{line}");
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Release);

        let results: Vec<(u64, u64, bool)> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        assert_eq!(failures.load(Ordering::Relaxed), 0, "{backend}: no request failed");
        for (v1, v2, went_back) in &results {
            assert!(*v1 > 0 && *v2 > 0, "{backend}: each client saw both: {results:?}");
            assert!(!went_back, "{backend}: no client saw v1 after v2");
        }
        // Still serving v2 after the broken reload; the log level went to `warn` with the
        // good one, so the broken reload's error is the last info-or-above line.
        assert_eq!(support::get(addr, "x", "/").text(), "v2");
        let text = server.stderr.text();
        let after_reload = text.split("configuration reloaded").nth(1).unwrap();
        assert!(!after_reload.contains(" INFO "), "{backend}: info lines after the level went to warn: {after_reload}");
        server.stop();
    }
}

#[test]
fn two_processes_share_a_port_with_reuse_port() {
    for backend in BACKENDS {
        let config = |address: String, body: &str| {
            json!({
                "runtime": { "workers": 1, "io_backend": backend },
                "listeners": [{ "address": address, "reuse_port": true }],
                "routes": [{ "kind": "fixed", "path": "/", "body": body }],
            })
        };
        let dir_a = TempDir::new("reuse-a");
        let a = start(&dir_a, &config("127.0.0.1:0".into(), "A"));
        let dir_b = TempDir::new("reuse-b");
        let b = start(&dir_b, &config(a.addr().to_string(), "B"));
        assert_eq!(a.addr(), b.addr());
        let (mut from_a, mut from_b) = (0, 0);
        for _ in 0..64 {
            match support::get(a.addr(), "x", "/").text().as_str() {
                "A" => from_a += 1,
                "B" => from_b += 1,
                other => panic!("{other}"),
            }
        }
        // The kernel spreads connections by a hash of their addresses: both get some (all 64
        // to one has a chance of about 2^-63).
        assert!(from_a > 0 && from_b > 0, "{backend}: A {from_a}, B {from_b}");
        a.stop();
        // B keeps serving the port alone.
        assert_eq!(support::get(b.addr(), "x", "/").text(), "B");
        b.stop();
    }
}

#[test]
fn a_second_stop_signal_exits_at_once() {
    let dir = TempDir::new("twice");
    let config = json!({
        "runtime": { "workers": 1, "io_backend": BACKENDS[0] },
        "listeners": [{ "address": "127.0.0.1:0" }],
        "shutdown": { "drain_delay_ms": 30000 },
        "routes": [{ "kind": "health", "path": "/readyz", "check": "ready" }],
    });
    let mut server = start(&dir, &config);
    server.signal(libc::SIGTERM);
    assert!(server.stderr.wait_for("shutting down", Duration::from_secs(10)).is_some());
    // Draining: still serving, not ready.
    assert_eq!(support::get(server.addr(), "x", "/readyz").status, 503);
    let started = Instant::now();
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(Duration::from_secs(10)), 1);
    assert!(started.elapsed() < Duration::from_secs(10));
}
