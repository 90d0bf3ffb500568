//! Graceful shutdown: stop accepting, finish in-flight requests, close idle connections,
//! hard deadline.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::{closed, connect, read_response};

#[test]
fn in_flight_requests_finish_and_idle_connections_close() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let mut idle = connect(addr);
        idle.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut idle, &mut buf, false).unwrap().status, 200);
        let mut busy = connect(addr);
        busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let clean = rt.block_on(move || server.shutdown(Duration::from_secs(5)));
        assert!(clean);
        assert!(start.elapsed() < Duration::from_secs(2));
        // The in-flight request got its answer, with Connection: close.
        let mut bbuf = Vec::new();
        let r = read_response(&mut busy, &mut bbuf, false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "slow done"));
        assert_eq!(r.header("Connection"), Some("close"));
        assert!(closed(&mut idle));
        // No new connections are served.
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Err(_) => {}
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                let _ = s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
                let mut b = Vec::new();
                assert!(read_response(&mut s, &mut b, false).is_none(), "a connection was served after shutdown");
            }
        }
    });
}

#[test]
fn the_grace_period_is_a_hard_deadline() {
    support::each_backend(|_backend| {
        let router = support::test_router().get("/forever", |_: &oc_http::Request| {
            oc_runtime::sleep(Duration::from_secs(60));
            oc_http::Response::text("never")
        });
        let (rt, server, addr) = support::server_with(router, oc_http::Limits::default());
        let mut s = connect(addr);
        s.write_all(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let clean = rt.block_on(move || server.shutdown(Duration::from_millis(300)));
        assert!(!clean, "a connection was still busy");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(closed(&mut s));
    });
}

#[test]
fn connections_that_cannot_get_a_stack_give_their_slot_back() {
    support::each_backend(|backend| {
        // Six stacks: the acceptor's and a few connections'; a cap of twelve.
        let rt = oc_runtime::Runtime::builder().workers(2).max_stacks(6).io_backend(backend).build().unwrap();
        let mut limits = oc_http::Limits::default();
        limits.max_connections = 12;
        let server = rt.block_on(move || {
            oc_http::Server::new(support::test_router()).limits(limits).bind("127.0.0.1:0").unwrap().start()
        });
        let addr = server.local_addrs()[0];
        for round in 0..3 {
            // A burst of twelve connections, each kept open: those whose coroutine gets no stack
            // are closed at once, the others answer.
            let mut burst: Vec<_> = (0..12).map(|_| connect(addr)).collect();
            let mut served = 0;
            for s in &mut burst {
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                if s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").is_ok()
                    && read_response(s, &mut Vec::new(), false).is_some()
                {
                    served += 1;
                }
            }
            assert!(served < 12, "round {round}: every connection got a stack; the test proves nothing");
            drop(burst);
            // Every slot comes back once the clients are gone.
            let start = Instant::now();
            while server.connections() > 0 {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "round {round}: {} slots still taken after every client left",
                    server.connections()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // The server still serves (a stack may still be on its way back to a worker that
        // can use it: a connection that gets none is closed, and the next one tried) ...
        let start = Instant::now();
        loop {
            let mut s = connect(addr);
            s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            if read_response(&mut s, &mut Vec::new(), false).is_some_and(|r| r.status == 200) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "no longer served");
            std::thread::sleep(Duration::from_millis(20));
        }
        // ... and shuts down cleanly (from this thread: a `block_on` would need a stack too).
        assert!(server.shutdown(Duration::from_secs(2)));
        drop(rt);
    });
}

/// A keep-alive connection whose next request the kernel holds, not yet read by its
/// coroutine, when the shutdown starts is not idle: the request is answered, not dropped.
#[test]
fn a_request_received_but_not_yet_read_at_shutdown_is_answered() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let mut clients: Vec<_> = (0..20).map(|_| connect(addr)).collect();
        for c in &mut clients {
            c.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut buf = Vec::new();
            assert_eq!(read_response(c, &mut buf, false).unwrap().status, 200);
        }
        // Every connection is idle now. The next requests go out from a coroutine that starts
        // the shutdown right after, before the connections' coroutines are given a turn.
        let writers: Vec<_> = clients.iter().map(|c| c.try_clone().unwrap()).collect();
        rt.block_on(move || {
            for mut w in writers {
                w.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            }
            // A moment without suspending, for the loopback to deliver every byte to the
            // server's sockets (a request still on its way when the shutdown looks is not
            // received yet, and may be refused).
            let spin = Instant::now();
            while spin.elapsed() < Duration::from_millis(5) {
                std::hint::spin_loop();
            }
            server.shutdown(Duration::from_secs(5))
        });
        let mut answered = 0;
        for c in &mut clients {
            let mut buf = Vec::new();
            // (One the other worker answered before the shutdown began may say keep-alive.)
            if let Some(r) = read_response(c, &mut buf, false) {
                assert_eq!(r.status, 200);
                answered += 1;
            }
        }
        assert_eq!(answered, clients.len(), "requests the kernel had received were dropped");
    });
}

/// Clients connect and send a request without pause while the server shuts down: every
/// connection gets its answer, or is reset or closed, at once. None is left open unanswered
/// (on io_uring an acceptor cancelled as an accept completed lost the accepted socket, which
/// then stayed open with nobody to serve or close it).
#[test]
fn no_connection_made_as_the_server_shuts_down_is_left_unanswered() {
    use std::io::Read;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    support::each_backend(|_backend| {
        let rt = support::runtime();
        for round in 0..40u64 {
            let server = rt.block_on(|| {
                let router = oc_http::Router::new().get("/x", |_: &oc_http::Request| oc_http::Response::text("x"));
                oc_http::Server::new(router).bind("127.0.0.1:0").unwrap().start()
            });
            let addr = server.local_addrs()[0];
            let stop = Arc::new(AtomicBool::new(false));
            let answered = Arc::new(AtomicUsize::new(0));
            let clients: Vec<_> = (0..2)
                .map(|_| {
                    let (stop, answered) = (stop.clone(), answered.clone());
                    std::thread::spawn(move || {
                        // (connections made, connections left unanswered)
                        let (mut made, mut silent) = (0, 0);
                        while !stop.load(Ordering::SeqCst) {
                            let Ok(mut s) = std::net::TcpStream::connect(addr) else { break };
                            made += 1;
                            // Long enough for a loaded machine, far shorter than any hang.
                            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                            if s.write_all(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
                                continue;
                            }
                            let mut answer = Vec::new();
                            match s.read_to_end(&mut answer) {
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                    ) =>
                                {
                                    silent += 1
                                }
                                _ if answer.starts_with(b"HTTP/1.1 200") => {
                                    answered.fetch_add(1, Ordering::SeqCst);
                                }
                                _ => {}
                            }
                        }
                        (made, silent)
                    })
                })
                .collect();
            // Let the clients get going (a few answers), then for a different time each round.
            let began = Instant::now();
            while answered.load(Ordering::SeqCst) < 4 {
                assert!(began.elapsed() < Duration::from_secs(10), "round {round}: the clients got no answers");
                std::thread::sleep(Duration::from_micros(200));
            }
            std::thread::sleep(Duration::from_micros(500 + 250 * (round % 8)));
            server.shutdown(Duration::from_secs(2));
            stop.store(true, Ordering::SeqCst);
            for c in clients {
                let (made, silent) = c.join().unwrap();
                assert_eq!(silent, 0, "round {round}: {silent} of {made} connections were left open unanswered");
            }
        }
    });
}
