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
