//! Request bodies taken as a stream (`Router::streaming`): both framings, pipelining after
//! them, a handler that reads part or none, `100 Continue`, time-outs, malformed and
//! oversized bodies. Every test runs on both IO backends.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oc_http::{Limits, Request, RequestBody, Response, Router};
use support::{connect, each_backend, read_response, server_with};

/// What the streaming handlers saw, for the tests to check.
#[derive(Default)]
struct Seen {
    /// Calls of the streaming handlers.
    calls: AtomicUsize,
    /// The kinds of the errors `read` returned to them.
    errors: Mutex<Vec<std::io::ErrorKind>>,
}

/// Reads `body` to its end; the error kind on failure (recorded in `seen`).
fn read_all(body: &mut RequestBody<'_>, seen: &Seen) -> Result<Vec<u8>, std::io::ErrorKind> {
    let mut all = Vec::new();
    body.read_to_end(&mut all).map_err(|e| {
        seen.errors.lock().unwrap().push(e.kind());
        e.kind()
    })?;
    Ok(all)
}

/// Streaming routes (`/collect`: the body back; `/part/:n`: reads `n` bytes; `/none`: reads
/// nothing; `/late`: waits 300 ms, then reads it all) beside buffered ones.
fn router(seen: &Arc<Seen>) -> Router {
    let (s1, s2, s3, s4) = (seen.clone(), seen.clone(), seen.clone(), seen.clone());
    Router::new()
        .get("/plaintext", |_: &Request| Response::text("Hello, World!"))
        .post("/echo", |r: &Request| Response::new(200).body(r.body().to_vec()))
        .streaming(Some("POST"), "/collect", move |_: &Request, body: &mut RequestBody<'_>| {
            s1.calls.fetch_add(1, Ordering::SeqCst);
            let framing = if body.is_chunked() { "chunked".to_owned() } else { format!("{:?}", body.content_length()) };
            match read_all(body, &s1) {
                Ok(all) => Response::new(200).header("X-Framing", framing).body(all),
                Err(kind) => Response::text(format!("failed: {kind:?}")).status(500),
            }
        })
        .streaming(Some("POST"), "/part/:n", move |r: &Request, body: &mut RequestBody<'_>| {
            s2.calls.fetch_add(1, Ordering::SeqCst);
            let n: usize = r.param("n").unwrap().parse().unwrap();
            let mut part = vec![0u8; n];
            match body.read_exact(&mut part) {
                Ok(()) => Response::new(200).body(part),
                Err(e) => Response::text(format!("failed: {:?}", e.kind())).status(500),
            }
        })
        .streaming(Some("POST"), "/none", move |_: &Request, _: &mut RequestBody<'_>| {
            s3.calls.fetch_add(1, Ordering::SeqCst);
            Response::text("ignored")
        })
        .streaming(Some("POST"), "/late", move |_: &Request, body: &mut RequestBody<'_>| {
            s4.calls.fetch_add(1, Ordering::SeqCst);
            oc_runtime::sleep(Duration::from_millis(300));
            match read_all(body, &s4) {
                Ok(all) => Response::new(200).body(all),
                Err(kind) => Response::text(format!("failed: {kind:?}")).status(500),
            }
        })
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_body = 64 * 1024;
    limits
}

/// Writes `data` from another thread (the server may answer, or close, before it is all
/// sent); joined by the caller.
fn write_behind(s: &TcpStream, data: Vec<u8>) -> std::thread::JoinHandle<()> {
    let mut w = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = w.write_all(&data);
    })
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn streamed_bodies_of_either_framing_read_whole_and_pipelined_requests_follow() {
    each_backend(|_| {
        let seen = Arc::new(Seen::default());
        let (_rt, server, addr) = server_with(router(&seen), limits());
        let mut s = connect(addr);
        // A sized body, a chunked one with extensions and trailers, and a GET, in one write.
        let raw = b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
                    POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                    3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: 1\r\nX-Other: 2\r\n\r\n\
                    GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
        s.write_all(raw).unwrap();
        let mut buf = Vec::new();
        let first = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((first.status, first.text().as_str(), first.header("x-framing")), (200, "hello", Some("Some(5)")));
        let second = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(
            (second.status, second.text().as_str(), second.header("x-framing")),
            (200, "abcdefg", Some("chunked"))
        );
        let third = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((third.status, third.text().as_str()), (200, "Hello, World!"));

        // A body far larger than `max_body`, in both framings, on the same connection.
        let big = pattern(3 << 20);
        let head = format!("POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", big.len());
        let writer = write_behind(&s, [head.as_bytes(), &big].concat());
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        writer.join().unwrap();
        assert_eq!(resp.status, 200);
        assert!(resp.body == big, "the sized body came back changed ({} bytes)", resp.body.len());
        let mut chunked = b"POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for piece in big.chunks(100_000) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n");
        let writer = write_behind(&s, chunked);
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((resp.status, resp.header("x-framing")), (200, Some("chunked")));
        assert!(resp.body == big, "the chunked body came back changed ({} bytes)", resp.body.len());
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "Hello, World!");
        writer.join().unwrap();

        // A buffered route on the same server still refuses what `max_body` does not admit.
        let too_big = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", 100_000);
        let resp = support::exchange(addr, too_big.as_bytes());
        assert_eq!(resp.status, 413);
        let resp = support::exchange(addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
        assert_eq!((resp.status, resp.text().as_str()), (200, "abc"));
        assert_eq!(seen.calls.load(Ordering::SeqCst), 4);
        assert!(seen.errors.lock().unwrap().is_empty());
        server.shutdown(Duration::from_secs(2));
    });
}

#[test]
fn what_a_handler_leaves_unread_is_drained_or_the_connection_closes() {
    each_backend(|_| {
        let seen = Arc::new(Seen::default());
        let (_rt, server, addr) = server_with(router(&seen), limits());
        // A little left unread: drained, and the next request is answered on the connection.
        let mut s = connect(addr);
        let body = pattern(1000);
        let head = format!("POST /part/10 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
        s.write_all(&[head.as_bytes(), &body, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"].concat()).unwrap();
        let mut buf = Vec::new();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((resp.status, &resp.body[..]), (200, &body[..10]));
        assert_eq!(resp.header("connection"), None);
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "Hello, World!");
        // The same, chunked, with trailers.
        s.write_all(
            b"POST /part/2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\nT: 1\r\n\r\n",
        )
        .unwrap();
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "ab");
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "Hello, World!");

        // More left than the server drains: the answer says the connection closes, and it does.
        let mut s = connect(addr);
        let body = pattern(1 << 20);
        let head = format!("POST /part/10 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
        let writer = write_behind(&s, [head.as_bytes(), &body].concat());
        let mut buf = Vec::new();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((resp.status, &resp.body[..], resp.header("connection")), (200, &body[..10], Some("close")));
        assert!(ended(&mut s), "the connection stayed open after a body it did not read");
        writer.join().unwrap();
        server.shutdown(Duration::from_secs(2));
    });
}

/// Whether the server closed `s`: end of stream or a reset (data it did not read was left
/// behind) before the read time-out, whatever else arrives first.
fn ended(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// Reads from `s` until `want` bytes have come or the connection ends.
fn read_exactly(s: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0u8; want];
    let mut at = 0;
    while at < want {
        match s.read(&mut got[at..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => at += n,
        }
    }
    got.truncate(at);
    got
}

#[test]
fn continue_is_sent_when_the_handler_starts_reading_and_never_when_it_does_not() {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    each_backend(|_| {
        let seen = Arc::new(Seen::default());
        let (_rt, server, addr) = server_with(router(&seen), limits());
        let mut s = connect(addr);
        let asked = Instant::now();
        s.write_all(b"POST /late HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert_eq!(read_exactly(&mut s, CONTINUE.len()), CONTINUE);
        // Not before the handler (which waits 300 ms) began to read.
        let waited = asked.elapsed();
        assert!(waited >= Duration::from_millis(250), "100 Continue came after {waited:?}");
        s.write_all(b"hello").unwrap();
        let mut buf = Vec::new();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "hello"));
        // The connection goes on; a chunked body with `Expect` too.
        s.write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        assert_eq!(read_exactly(&mut s, CONTINUE.len()), CONTINUE);
        s.write_all(b"2\r\nok\r\n0\r\n\r\n").unwrap();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "ok"));

        // A handler that never reads: no 100 Continue, an answer, and the connection closes
        // (the client never sent the body, so nothing after it can be read as a request).
        let mut s = connect(addr);
        s.write_all(b"POST /none HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((resp.status, resp.text().as_str(), resp.header("connection")), (200, "ignored", Some("close")));
        assert!(ended(&mut s));
        server.shutdown(Duration::from_secs(2));
    });
}

#[test]
fn a_streamed_body_that_stalls_is_answered_408_in_time() {
    each_backend(|_| {
        let seen = Arc::new(Seen::default());
        let mut limits = limits();
        limits.body_timeout = Duration::from_millis(500);
        let (_rt, server, addr) = server_with(router(&seen), limits);
        for raw in [
            &b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly this"[..],
            b"POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly",
        ] {
            let mut s = connect(addr);
            let began = Instant::now();
            s.write_all(raw).unwrap();
            let mut buf = Vec::new();
            let resp = read_response(&mut s, &mut buf, false).unwrap();
            let took = began.elapsed();
            assert_eq!(resp.status, 408, "{}", resp.text());
            assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(8), "answered after {took:?}");
            assert!(ended(&mut s));
        }
        assert_eq!(*seen.errors.lock().unwrap(), [std::io::ErrorKind::TimedOut; 2]);
        server.shutdown(Duration::from_secs(2));
    });
}

#[test]
fn malformed_oversized_and_abandoned_streamed_bodies() {
    each_backend(|_| {
        let seen = Arc::new(Seen::default());
        let mut limits = limits();
        limits.max_streamed_body = 1000;
        limits.max_head = 4096;
        let (_rt, server, addr) = server_with(router(&seen), limits);
        let chunked = "POST /collect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        let long_trailer = format!("{chunked}1\r\na\r\n0\r\nX-Long: {}\r\n\r\n", "t".repeat(5000));
        let cases: [(String, u16); 5] = [
            (format!("{chunked}zz\r\nabc\r\n0\r\n\r\n"), 400),
            (format!("{chunked}3\r\nabcXX0\r\n\r\n"), 400),
            (format!("{chunked}3e9\r\n{}", "a".repeat(100)), 413),
            (long_trailer, 431),
            ("POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n".to_owned(), 413),
        ];
        for (raw, status) in &cases {
            let mut s = connect(addr);
            s.write_all(raw.as_bytes()).unwrap();
            let mut buf = Vec::new();
            let resp = read_response(&mut s, &mut buf, false).unwrap();
            assert_eq!(resp.status, *status, "{raw:.80}");
            assert!(ended(&mut s));
        }
        // The oversized Content-Length was refused before the handler ran.
        assert_eq!(seen.calls.load(Ordering::SeqCst), cases.len() - 1);
        // A client that leaves mid-body: the handler sees the body end early.
        let mut s = connect(addr);
        s.write_all(b"POST /collect HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.calls.load(Ordering::SeqCst) < cases.len() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(s);
        while seen.errors.lock().unwrap().len() < cases.len() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let errors = seen.errors.lock().unwrap().clone();
        use std::io::ErrorKind::{InvalidData, UnexpectedEof};
        assert_eq!(errors, [InvalidData, InvalidData, InvalidData, InvalidData, UnexpectedEof]);
        // The server goes on.
        assert_eq!(support::exchange(addr, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
        server.shutdown(Duration::from_secs(2));
    });
}
