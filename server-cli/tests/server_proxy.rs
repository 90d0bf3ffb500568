//! Proxy routes through the real binary: round-robin over two upstreams (themselves oc-server
//! processes), one killed mid-test, 502 and 504, and 100 MiB bodies both ways in bounded
//! memory. On each IO backend.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;
use support::{BACKENDS, Client, TempDir, config, start};

/// An oc-server that answers `/` with `name` (and the directory of its configuration).
fn named_upstream(backend: &str, name: &str) -> (TempDir, support::Server) {
    let dir = TempDir::new(name);
    let server = start(&dir, &config(backend, json!([{ "kind": "fixed", "path": "/", "body": name }])));
    (dir, server)
}

#[test]
fn round_robin_and_an_upstream_killed_mid_test() {
    for backend in BACKENDS {
        let dir = TempDir::new("rr");
        let (_a_dir, a) = named_upstream(backend, "A");
        let (_b_dir, mut b) = named_upstream(backend, "B");
        let routes = json!([{
            "kind": "proxy", "path": "/", "upstreams": [a.addr().to_string(), b.addr().to_string()],
            "connect_timeout_ms": 1000, "read_timeout_ms": 2000, "fail_timeout_ms": 60000
        }]);
        let proxy = start(&dir, &config(backend, routes));
        let mut c = Client::connect(proxy.addr()).unwrap();
        let seen: Vec<String> = (0..10).map(|_| c.get("/x").unwrap().text()).collect();
        assert_eq!(seen.iter().filter(|s| *s == "A").count(), 5, "{backend}: {seen:?}");
        assert_eq!(seen.iter().filter(|s| *s == "B").count(), 5, "{backend}: {seen:?}");
        assert!(seen.windows(2).all(|w| w[0] != w[1]), "alternates: {seen:?}");

        // B dies (no goodbye: SIGKILL). At most the first request after may fail; every
        // later one is answered by A.
        let _ = b.child.kill();
        b.wait_exit(Duration::from_secs(10));
        let mut failures = Vec::new();
        for i in 0..40 {
            let mut c = Client::connect(proxy.addr()).unwrap();
            match c.get("/y") {
                Ok(r) if r.status == 200 && r.text() == "A" => {}
                other => failures.push((i, format!("{other:?}"))),
            }
        }
        assert!(failures.is_empty() || (failures.len() == 1 && failures[0].0 == 0), "{backend}: {failures:?}");

        // Both down: 502.
        a.stop();
        let r = Client::connect(proxy.addr()).unwrap().get("/z").unwrap();
        assert_eq!(r.status, 502, "{backend}: {}", r.text());
        proxy.stop();
    }
}

#[test]
fn a_slow_upstream_is_a_gateway_timeout() {
    for backend in BACKENDS {
        let dir = TempDir::new("slow");
        let silent = support::silent_upstream();
        let routes =
            json!([{ "kind": "proxy", "path": "/", "upstreams": [silent.to_string()], "read_timeout_ms": 300 }]);
        let proxy = start(&dir, &config(backend, routes));
        let started = std::time::Instant::now();
        let r = Client::connect(proxy.addr()).unwrap().get("/").unwrap();
        assert_eq!(r.status, 504, "{backend}: {}", r.text());
        assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
        proxy.stop();
    }
}

#[test]
fn hundred_mib_bodies_stream_through_in_bounded_memory() {
    const SIZE: u64 = 100 * 1024 * 1024;
    for backend in BACKENDS {
        let dir = TempDir::new("big");
        // The response: a 100 MiB file on an oc-server static upstream.
        let site = dir.path().join("site");
        std::fs::create_dir_all(&site).unwrap();
        let file = std::fs::File::create(site.join("big.bin")).unwrap();
        file.set_len(SIZE).unwrap();
        let files = TempDir::new("files");
        let upstream = start(&files, &config(backend, json!([{ "kind": "static", "path": "/", "root": site }])));
        // The request: 100 MiB to an upstream that counts what it gets.
        let counting = support::counting_upstream();
        let routes = json!([
            { "kind": "proxy", "path": "/files", "upstreams": [upstream.addr().to_string()], "strip_prefix": true },
            { "kind": "proxy", "path": "/upload", "upstreams": [counting.to_string()] },
        ]);
        let proxy = start(&dir, &config(backend, routes));

        let mut c = Client::connect(proxy.addr()).unwrap();
        c.send("GET", "x", "/files/big.bin", "", b"").unwrap();
        // Read the response head, then count the body without keeping it.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            c.stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{backend}: {head}");
        assert!(head.to_ascii_lowercase().contains(&format!("content-length: {SIZE}")), "{head}");
        let got = std::io::copy(&mut (&mut c.stream).take(SIZE), &mut std::io::sink()).unwrap();
        assert_eq!(got, SIZE);

        let mut up = Client::connect(proxy.addr()).unwrap();
        up.stream
            .write_all(format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes())
            .unwrap();
        let chunk = vec![7u8; 1024 * 1024];
        for _ in 0..100 {
            up.stream.write_all(&chunk).unwrap();
        }
        let r = up.read_response(false).unwrap();
        assert_eq!((r.status, r.text()), (200, format!("got {SIZE} bytes")), "{backend}");

        let peak_kib = proxy.status_kib("VmHWM");
        eprintln!("{backend}: the proxy's peak RSS after 2 x 100 MiB: {peak_kib} KiB");
        assert!(peak_kib < 64 * 1024, "{backend}: the proxy's peak RSS was {peak_kib} KiB");
        proxy.stop();
        upstream.stop();
    }
}

#[test]
fn sighup_swaps_upstreams_under_load_without_a_failed_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    for backend in BACKENDS {
        let dir = TempDir::new("swap");
        let (_a_dir, a) = named_upstream(backend, "A");
        let (_b_dir, b) = named_upstream(backend, "B");
        let config = |upstream: std::net::SocketAddr| {
            let mut c = config(backend, json!([{ "kind": "proxy", "path": "/", "upstreams": [upstream.to_string()] }]));
            c["logging"] = json!({ "level": "info" });
            c
        };
        let proxy = start(&dir, &config(a.addr()));
        let addr = proxy.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(AtomicU64::new(0));
        let clients: Vec<_> = (0..8)
            .map(|_| {
                let (stop, failed) = (stop.clone(), failed.clone());
                std::thread::spawn(move || {
                    let mut c = Client::connect(addr).unwrap();
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Acquire) {
                        match c.get("/") {
                            Ok(r) if r.status == 200 => {
                                if seen.last() != Some(&r.text()) {
                                    seen.push(r.text());
                                }
                            }
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                c = Client::connect(addr).unwrap();
                            }
                        }
                    }
                    seen
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(&proxy.config, serde_json::to_vec(&config(b.addr())).unwrap()).unwrap();
        proxy.signal(libc::SIGHUP);
        assert!(proxy.stderr.wait_for("configuration reloaded", Duration::from_secs(10)).is_some());
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Release);
        for client in clients {
            assert_eq!(client.join().unwrap(), ["A", "B"], "{backend}: A until the reload, B after");
        }
        assert_eq!(failed.load(Ordering::Relaxed), 0, "{backend}");
        proxy.stop();
        a.stop();
        b.stop();
    }
}
