//! The reverse proxy when upstreams fail: all down (502), too slow (504), killed mid-test
//! (no request fails after the first), a pooled connection closed under it (sent again once,
//! when idempotent), invalid or cut-off responses. Every test runs on both IO backends.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oc_http::proxy::{ProxyConfig, ReverseProxy};
use oc_http::{Request, Response, Router, Server, ServerHandle};
use support::{connect, each_backend, read_response, runtime};

/// A front server on `rt` proxying everything to `upstreams` with `adjust`ed settings.
fn front(
    rt: &oc_runtime::Runtime,
    upstreams: Vec<String>,
    adjust: impl FnOnce(&mut ProxyConfig) + Send + 'static,
) -> (ServerHandle, ReverseProxy) {
    rt.block_on(move || {
        let mut config = ProxyConfig::new(upstreams);
        adjust(&mut config);
        let proxy = ReverseProxy::new(config).unwrap();
        let server = Server::new(Router::new().streaming(None, "/*rest", proxy.clone())).bind("127.0.0.1:0").unwrap();
        (server.start(), proxy)
    })
}

fn get(s: &mut TcpStream, buf: &mut Vec<u8>, target: &str) -> Option<support::Resp> {
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: front\r\n\r\n").as_bytes()).ok()?;
    read_response(s, buf, false)
}

#[test]
fn no_upstream_answering_is_502_and_each_is_counted() {
    each_backend(|_| {
        let rt = runtime();
        // Refused, and no other test's server can take them while this one runs.
        let ((a, _a), (b, _b)) = (support::refused_addr(), support::refused_addr());
        let (server, proxy) = front(&rt, vec![a.to_string(), b.to_string()], |_| {});
        let mut s = connect(server.local_addrs()[0]);
        let mut buf = Vec::new();
        let resp = get(&mut s, &mut buf, "/x").unwrap();
        assert_eq!(resp.status, 502);
        let stats = proxy.stats();
        assert_eq!((stats.errors.connect, stats.bad_gateway), (2, 1));
        assert!(stats.upstreams.iter().all(|u| u.failed && u.errors == 1));
        // Both are skipped now, and so both are tried again (nothing else is left).
        assert_eq!(get(&mut s, &mut buf, "/x").unwrap().status, 502);
        assert_eq!(proxy.stats().errors.connect, 4);
        // A name that does not resolve is refused when the proxy is made, with the name.
        let err = ReverseProxy::new(ProxyConfig::new(["no-such-host.invalid:80"])).unwrap_err();
        assert!(err.to_string().contains("no-such-host.invalid:80"), "{err}");
        assert!(ReverseProxy::new(ProxyConfig::new(Vec::<String>::new())).is_err());
        server.shutdown(Duration::from_secs(2));
    });
}

#[test]
fn a_slow_upstream_is_504_after_the_read_time_out() {
    each_backend(|_| {
        let rt = runtime();
        let slow = rt.block_on(|| {
            let router = Router::new().get("/slow", |_: &Request| {
                oc_runtime::sleep(Duration::from_secs(2));
                Response::text("late")
            });
            Server::new(router).bind("127.0.0.1:0").unwrap().start()
        });
        let upstream = slow.local_addrs()[0].to_string();
        let (server, proxy) = front(&rt, vec![upstream], |c| c.read_timeout = Duration::from_millis(300));
        let mut s = connect(server.local_addrs()[0]);
        let mut buf = Vec::new();
        let began = Instant::now();
        let resp = get(&mut s, &mut buf, "/slow").unwrap();
        let took = began.elapsed();
        assert_eq!(resp.status, 504);
        assert!(took >= Duration::from_millis(250) && took < Duration::from_millis(1900), "504 after {took:?}");
        let stats = proxy.stats();
        assert_eq!((stats.errors.timeout, stats.gateway_timeout, stats.bad_gateway), (1, 1, 0));
        server.shutdown(Duration::from_secs(2));
        slow.shutdown(Duration::from_secs(3));
    });
}

/// A listener whose accept queue is full and never accepted from: a connection attempt to it
/// gets no answer to its SYN, and waits until it times out. The listener and the connections
/// that fill its queue are returned, to be kept while it is used.
fn unanswering_listener() -> (socket2::Socket, Vec<socket2::Socket>) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut filling = Vec::new();
    // Connections complete while the queue has room; the first that does not shows it full.
    for _ in 0..16 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let full = s.connect_timeout(&addr, Duration::from_millis(200)).is_err();
        filling.push(s);
        if full {
            return (listener, filling);
        }
    }
    panic!("the accept queue of a listener with backlog 0 took 16 connections");
}

#[test]
fn an_upstream_that_does_not_answer_the_connect_is_504_after_the_connect_time_out() {
    each_backend(|_| {
        let rt = runtime();
        let (listener, _filling) = unanswering_listener();
        let upstream = listener.local_addr().unwrap().as_socket().unwrap().to_string();
        let (server, proxy) = front(&rt, vec![upstream], |c| c.connect_timeout = Duration::from_millis(300));
        let mut s = connect(server.local_addrs()[0]);
        let mut buf = Vec::new();
        let began = Instant::now();
        let resp = get(&mut s, &mut buf, "/x").unwrap();
        let took = began.elapsed();
        assert_eq!(resp.status, 504);
        assert!(took >= Duration::from_millis(250) && took < Duration::from_millis(1900), "504 after {took:?}");
        let stats = proxy.stats();
        assert_eq!((stats.errors.timeout, stats.errors.connect, stats.gateway_timeout), (1, 0, 1));
        server.shutdown(Duration::from_secs(2));
    });
}

#[test]
fn an_upstream_killed_mid_test_fails_no_request_after_the_first() {
    each_backend(|_| {
        let rt = runtime();
        let upstream = |name: &'static str| {
            rt.block_on(move || {
                let router = Router::new().get("/who", move |_: &Request| Response::text(name));
                Server::new(router).bind("127.0.0.1:0").unwrap().start()
            })
        };
        let (a, b) = (upstream("a"), upstream("b"));
        let addrs = vec![a.local_addrs()[0].to_string(), b.local_addrs()[0].to_string()];
        let (server, proxy) = front(&rt, addrs, |_| {});
        let front_addr = server.local_addrs()[0];
        // Sequential keep-alive requests, and four clients at once, while `b` goes away.
        let killed = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (killed, stop) = (killed.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut s = connect(front_addr);
                    let mut buf = Vec::new();
                    // (succeeded, sent after the kill)
                    let mut outcomes = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        let after = killed.load(Ordering::SeqCst);
                        let ok = get(&mut s, &mut buf, "/who").is_some_and(|r| r.status == 200);
                        if !ok {
                            s = connect(front_addr);
                            buf.clear();
                        }
                        outcomes.push((ok, after));
                    }
                    outcomes
                })
            })
            .collect();
        let mut s = connect(front_addr);
        let mut buf = Vec::new();
        let mut failures = Vec::new();
        let mut names = Vec::new();
        for i in 0..400 {
            if i == 100 {
                b.shutdown(Duration::from_secs(2));
                killed.store(true, Ordering::SeqCst);
            }
            match get(&mut s, &mut buf, "/who") {
                Some(r) if r.status == 200 => names.push(r.text()),
                _ => {
                    failures.push(i);
                    s = connect(front_addr);
                    buf.clear();
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
        assert!(names[..90].contains(&"b".to_owned()) && names[names.len() - 250..].iter().all(|n| n == "a"));
        // One failure at most, all clients together: the requests under way when `b` went.
        let mut failed = failures.len();
        for client in clients {
            let outcomes = client.join().unwrap();
            failed += outcomes.iter().filter(|(ok, _)| !ok).count();
            assert!(outcomes.iter().any(|(_, after)| *after), "a client sent nothing after the kill");
        }
        assert!(failed <= 1, "{failed} requests failed (the main client's: {failures:?})");
        let stats = proxy.stats();
        assert!(stats.upstreams[1].failed, "{stats:?}");
        assert!(!stats.upstreams[0].failed && stats.upstreams[0].errors == 0, "{stats:?}");
        server.shutdown(Duration::from_secs(2));
        a.shutdown(Duration::from_secs(2));
    });
}

/// A raw upstream on its own thread: for each connection in turn, `answer(i, request head)`
/// gives what to send back for its `i`-th request and whether to close the connection then
/// (`None`: close it unanswered).
fn raw_upstream(
    connections: usize,
    answer: impl Fn(usize, &str) -> Option<(Vec<u8>, bool)> + Send + 'static,
) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut c, _) = listener.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut pending = Vec::new();
            let mut i = 0;
            loop {
                let Some(end) = support::find(&pending, b"\r\n\r\n") else {
                    let mut b = [0u8; 4096];
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => pending.extend_from_slice(&b[..n]),
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                pending.drain(..end + 4);
                match answer(i, &head) {
                    Some((bytes, close)) => {
                        c.write_all(&bytes).unwrap();
                        if close {
                            break;
                        }
                    }
                    None => break,
                }
                i += 1;
            }
        }
    });
    (addr, thread)
}

#[test]
fn a_pooled_connection_closed_under_the_proxy_is_replaced_for_idempotent_requests_only() {
    each_backend(|_| {
        // Each connection answers its first request and closes at its second, unanswered (an
        // upstream's idle time-out that strikes as the request arrives).
        const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (addr, upstream) = raw_upstream(4, |i, _| (i == 0).then(|| (OK.to_vec(), false)));
        let rt = runtime();
        let (server, proxy) = front(&rt, vec![addr.to_string()], |_| {});
        let mut s = connect(server.local_addrs()[0]);
        let mut buf = Vec::new();
        assert_eq!(get(&mut s, &mut buf, "/one").unwrap().text(), "ok");
        // Pooled, then closed by the upstream on arrival: sent again on a fresh connection.
        assert_eq!(get(&mut s, &mut buf, "/two").unwrap().text(), "ok");
        let stats = proxy.stats();
        assert_eq!((stats.retries, stats.upstreams[0].connections, stats.upstreams[0].reused), (1, 2, 1));
        assert_eq!(stats.errors, Default::default());
        // A POST is not sent twice: 502.
        s.write_all(b"POST /three HTTP/1.1\r\nHost: front\r\nContent-Length: 1\r\n\r\nx").unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 502);
        let stats = proxy.stats();
        assert_eq!((stats.retries, stats.errors.io, stats.bad_gateway), (1, 1, 1));
        server.shutdown(Duration::from_secs(2));
        // The upstream's last connections: opened by nobody else, so let it go.
        let _ = TcpStream::connect(addr);
        let _ = TcpStream::connect(addr);
        upstream.join().unwrap();
    });
}

#[test]
fn a_pooled_connection_is_looked_at_before_reuse_unless_recent_and_the_request_resendable() {
    each_backend(|_| {
        // Each connection answers one request and then closes, without saying so (as an
        // upstream whose idle time-out is very short): every pooled connection is dead.
        const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (addr, upstream) = raw_upstream(4, |_, _| Some((OK.to_vec(), true)));
        let rt = runtime();
        let (server, proxy) = front(&rt, vec![addr.to_string()], |_| {});
        let mut s = connect(server.local_addrs()[0]);
        let mut buf = Vec::new();
        let counts = |proxy: &ReverseProxy| {
            let stats = proxy.stats();
            assert_eq!(stats.errors, Default::default());
            (stats.retries, stats.upstreams[0].connections, stats.upstreams[0].reused)
        };
        assert_eq!(get(&mut s, &mut buf, "/one").unwrap().text(), "ok");
        std::thread::sleep(Duration::from_millis(50));
        // A request with a body cannot be sent twice: the pooled connection is looked at
        // first, found closed, and a fresh one is made.
        s.write_all(b"POST /two HTTP/1.1\r\nHost: front\r\nContent-Length: 1\r\n\r\nx").unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "ok");
        assert_eq!(counts(&proxy), (0, 2, 0));
        std::thread::sleep(Duration::from_millis(50));
        // A GET on a connection idle for less than a second is sent without looking: the
        // closed connection fails before any response byte, and the GET goes again on a
        // fresh connection.
        assert_eq!(get(&mut s, &mut buf, "/three").unwrap().text(), "ok");
        assert_eq!(counts(&proxy), (1, 3, 1));
        // Idle for longer: looked at first again.
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(get(&mut s, &mut buf, "/four").unwrap().text(), "ok");
        assert_eq!(counts(&proxy), (1, 4, 1));
        server.shutdown(Duration::from_secs(2));
        upstream.join().unwrap();
    });
}

#[test]
fn invalid_and_cut_off_responses() {
    each_backend(|_| {
        let (addr, upstream) = raw_upstream(2, |_, head| {
            Some(if head.starts_with("GET /garbage") {
                (b"NOT HTTP AT ALL\r\n\r\n".to_vec(), false)
            } else {
                // Announces 100000 bytes, sends 10 and closes.
                (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n0123456789".to_vec(), true)
            })
        });
        let rt = runtime();
        let (server, proxy) = front(&rt, vec![addr.to_string()], |c| c.fail_timeout = Duration::ZERO);
        let mut s = connect(server.local_addrs()[0]);
        let mut buf = Vec::new();
        assert_eq!(get(&mut s, &mut buf, "/garbage").unwrap().status, 502);
        assert_eq!(proxy.stats().errors.bad_response, 1);
        // The head went out as announced; the client's connection is closed short of it.
        let mut s = connect(server.local_addrs()[0]);
        s.write_all(b"GET /cut HTTP/1.1\r\nHost: front\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 200 OK") && text.contains("Content-Length: 100000"), "{text}");
        assert!(text.ends_with("\r\n\r\n0123456789"), "{text}");
        upstream.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while proxy.stats().errors.io == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(proxy.stats().errors.io, 1);
        server.shutdown(Duration::from_secs(2));
    });
}
