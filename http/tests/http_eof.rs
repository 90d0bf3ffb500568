//! A client that sends its request and at once shuts its side down (`shutdown(SHUT_WR)`): the
//! request's bytes and the end of the stream arrive together. A complete request is answered
//! and the connection closed at once; an incomplete one is closed at once, not at the
//! header or body time-out.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use oc_http::Limits;

/// Time-outs far longer than the test waits: reaching one means the end went unnoticed.
fn long_limits() -> Limits {
    let mut limits = Limits::default();
    limits.header_timeout = Duration::from_secs(30);
    limits.body_timeout = Duration::from_secs(30);
    limits.idle_timeout = Duration::from_secs(60);
    limits
}

/// How long the close may take at most (a loaded machine included).
const PROMPTLY: Duration = Duration::from_secs(5);

/// Sends `raw` and the end of the stream in one go; returns everything the server sent until
/// it closed, and how long that took.
fn send_then_shut(addr: SocketAddr, raw: &[u8]) -> (Vec<u8>, Duration) {
    let mut s = support::connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("the server did not close the connection: {e} (got {:?})", String::from_utf8_lossy(&got)),
    }
    (got, start.elapsed())
}

#[test]
fn a_complete_request_with_the_end_is_answered_then_closed_at_once() {
    support::each_backend(|backend| {
        let (rt, handle, addr) = support::server_with(support::test_router(), long_limits());
        for round in 0..5 {
            let (got, took) = send_then_shut(addr, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 200"), "{backend:?}, round {round}: {text}");
            assert!(text.ends_with("Hello, World!"), "{backend:?}, round {round}: {text}");
            assert!(took < PROMPTLY, "{backend:?}, round {round}: closed after {took:?}");
        }
        handle.shutdown(Duration::from_secs(5));
        assert!(rt.shutdown(Duration::from_secs(10)));
    });
}

#[test]
fn an_incomplete_head_with_the_end_is_closed_at_once() {
    support::each_backend(|backend| {
        let (rt, handle, addr) = support::server_with(support::test_router(), long_limits());
        for round in 0..5 {
            let (got, took) = send_then_shut(addr, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n");
            assert!(got.is_empty(), "{backend:?}, round {round}: {:?}", String::from_utf8_lossy(&got));
            assert!(took < PROMPTLY, "{backend:?}, round {round}: closed after {took:?}");
        }
        handle.shutdown(Duration::from_secs(5));
        assert!(rt.shutdown(Duration::from_secs(10)));
    });
}

#[test]
fn an_incomplete_body_with_the_end_is_closed_at_once() {
    support::each_backend(|backend| {
        let (rt, handle, addr) = support::server_with(support::test_router(), long_limits());
        for round in 0..5 {
            let (got, took) =
                send_then_shut(addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part");
            assert!(got.is_empty(), "{backend:?}, round {round}: {:?}", String::from_utf8_lossy(&got));
            assert!(took < PROMPTLY, "{backend:?}, round {round}: closed after {took:?}");
        }
        handle.shutdown(Duration::from_secs(5));
        assert!(rt.shutdown(Duration::from_secs(10)));
    });
}
