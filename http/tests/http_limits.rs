//! Limits, time-outs and request-smuggling defences, each with its status code.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use oc_http::Limits;
use support::{closed, connect, exchange, read_response};

fn small_limits() -> Limits {
    let mut l = Limits::default();
    l.max_request_line = 256;
    l.max_head = 2048;
    l.max_headers = 16;
    l.max_body = 1024;
    l.header_timeout = Duration::from_millis(300);
    l.body_timeout = Duration::from_millis(300);
    l.idle_timeout = Duration::from_millis(400);
    l
}

#[test]
fn size_limits_have_their_status_codes() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server_with(support::test_router(), small_limits());
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300));
        assert_eq!(exchange(addr, long_target.as_bytes()).status, 414);
        // The limit counts the line without its CR LF: 256 is allowed, 257 is not, whether the
        // head is complete or still arriving.
        let at_limit = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(256 - 14));
        assert_eq!(exchange(addr, at_limit.as_bytes()).status, 404);
        let over = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(257 - 14));
        assert_eq!(exchange(addr, over.as_bytes()).status, 414);
        let mut partial = connect(addr);
        partial.write_all(format!("GET /{}", "a".repeat(300)).as_bytes()).unwrap();
        assert_eq!(read_response(&mut partial, &mut Vec::new(), false).unwrap().status, 414);
        let big_header = format!("GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(3000));
        assert_eq!(exchange(addr, big_header.as_bytes()).status, 431);
        let mut many = String::from("GET /plaintext HTTP/1.1\r\nHost: x\r\n");
        for i in 0..40 {
            many.push_str(&format!("X-H{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(exchange(addr, many.as_bytes()).status, 431);
        let body = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n{}", "c".repeat(2000));
        assert_eq!(exchange(addr, body.as_bytes()).status, 413);
        let chunked = format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n{}\r\n0\r\n\r\n",
            "d".repeat(2048)
        );
        assert_eq!(exchange(addr, chunked.as_bytes()).status, 413);
        // Chunk extensions are bounded: one that never ends is refused, and so is a body whose
        // framing outgrows what the limits allow (each chunk's extension within bounds).
        let flood =
            format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;{}", "e".repeat(5000));
        assert_eq!(exchange(addr, flood.as_bytes()).status, 400);
        let mut framing = String::from("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        for _ in 0..6 {
            framing.push_str(&format!("1;x={}\r\nf\r\n", "e".repeat(4000)));
        }
        assert_eq!(exchange(addr, framing.as_bytes()).status, 413);
        // Within the limits all is well.
        assert_eq!(exchange(addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc").text(), "abc");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn smuggling_attempts_are_refused() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let cases: [(&[u8], u16); 11] = [
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
            // chunked not last: the body's length cannot be known (RFC 9112 §6.3).
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400),
            (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
            (b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n", 400),
            (b"GET /plaintext HTTP/1.1\r\n\r\n", 400),
        ];
        for (raw, want) in cases {
            let r = exchange(addr, raw);
            assert_eq!(r.status, want, "{}", String::from_utf8_lossy(raw));
            assert_eq!(r.header("Connection"), Some("close"), "refusals close the connection");
        }
        // A bad chunk size.
        assert_eq!(
            exchange(addr, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").status,
            400
        );
        assert_eq!(exchange(addr, b"GET /plaintext HTTP/2.0\r\nHost: x\r\n\r\n").status, 505);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_slow_client_is_cut_off_at_the_header_timeout_while_others_are_served() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server_with(support::test_router(), small_limits());
        let mut slow = connect(addr);
        let start = Instant::now();
        // Trickle a header byte every 50 ms: never done within 300 ms.
        let trickler = std::thread::spawn(move || {
            for b in b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if slow.write_all(&[*b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            slow
        });
        // Meanwhile other clients are served promptly.
        for _ in 0..10 {
            let t = Instant::now();
            assert_eq!(exchange(addr, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
            assert!(t.elapsed() < Duration::from_millis(100));
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut slow = trickler.join().unwrap();
        let mut buf = Vec::new();
        let r = read_response(&mut slow, &mut buf, false).expect("a 408 before the close");
        assert_eq!(r.status, 408);
        let cut_after = start.elapsed();
        assert!(cut_after >= Duration::from_millis(300), "{cut_after:?}");
        assert!(closed(&mut slow));
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn idle_keep_alive_connections_are_closed_and_bodies_time_out() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server_with(support::test_router(), small_limits());
        let mut s = connect(addr);
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 200);
        let start = Instant::now();
        assert!(closed(&mut s), "idle connection not closed");
        let idle = start.elapsed();
        assert!(idle >= Duration::from_millis(350) && idle < Duration::from_secs(3), "{idle:?}");
        // A body that never completes.
        let mut s = connect(addr);
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc").unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 408);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn the_connection_cap_holds_further_clients_back() {
    support::each_backend(|_backend| {
        let mut limits = Limits::default();
        limits.max_connections = 2;
        let (rt, server, addr) = support::server_with(support::test_router(), limits);
        let mut a = connect(addr);
        let mut b = connect(addr);
        let mut buf = Vec::new();
        for s in [&mut a, &mut b] {
            s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            assert_eq!(read_response(s, &mut buf, false).unwrap().status, 200);
        }
        // A third connection is not served while two are open...
        let mut c = connect(addr);
        c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        c.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut cbuf = Vec::new();
        assert!(read_response(&mut c, &mut cbuf, false).is_none(), "served past the cap");
        // ...and is once one closes.
        drop(a);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(read_response(&mut c, &mut cbuf, false).unwrap().status, 200);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_client_that_stops_reading_is_cut_off_at_the_write_timeout_while_others_are_served() {
    support::each_backend(|_backend| {
        const BIG: usize = 64 << 20;
        let mut limits = Limits::default();
        limits.write_timeout = Duration::from_millis(300);
        let router = support::test_router().get("/big", |_: &oc_http::Request| {
            oc_http::Response::new(200).header("Content-Type", "application/octet-stream").body(vec![b'x'; BIG])
        });
        let (rt, server, addr) = support::server_with(router, limits);
        let mut stuck = connect(addr);
        stuck.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // The response fills both sockets' buffers and the server's write waits; while it does,
        // and after it gives up, other clients are served.
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(900) {
            assert_eq!(exchange(addr, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
            std::thread::sleep(Duration::from_millis(100));
        }
        // The server lets the stuck connection go (a loaded machine may take a while to run
        // its timer; reading before it does would let the write go on).
        let waiting = Instant::now();
        while server.connections() > 0 && waiting.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(server.connections(), 0, "the stuck connection was not closed");
        // What was buffered arrives, then the end of the stream (or a reset), well short of
        // the whole body: the server closed the connection at its write time-out.
        stuck.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut received = 0usize;
        let mut chunk = vec![0u8; 1 << 20];
        let reading = Instant::now();
        loop {
            match std::io::Read::read(&mut stuck, &mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => received += n,
            }
            assert!(reading.elapsed() < Duration::from_secs(10), "the connection was not closed");
        }
        assert!(received < BIG, "all {received} bytes arrived: the write was not cut off");
        assert!(received > 0, "nothing of the response arrived");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

/// The status `raw` gets, sent in pieces ending at each of `cuts` with a pause between
/// (so that the server reads them apart), on a connection of its own. A piece sent after
/// the server has answered and closed may fail: the answer is read all the same.
fn status_in_pieces(addr: std::net::SocketAddr, raw: &[u8], cuts: &[usize]) -> u16 {
    let mut s = connect(addr);
    s.set_nodelay(true).unwrap();
    let mut last = 0;
    for &cut in cuts.iter().chain([&raw.len()]) {
        if s.write_all(&raw[last..cut]).is_err() {
            break;
        }
        last = cut;
        std::thread::sleep(Duration::from_millis(5));
    }
    read_response(&mut s, &mut Vec::new(), false).expect("a response").status
}

#[test]
fn trailer_and_chunk_line_limits_do_not_depend_on_how_the_bytes_arrive() {
    support::each_backend(|_backend| {
        let mut limits = Limits::default();
        limits.max_head = 1024;
        let (rt, server, addr) = support::server_with(support::test_router(), limits);
        let chunked =
            |body: &str| format!("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        // The trailer section counts against `max_head`; a chunk-size line is at most 4 KiB,
        // leading zeros included.
        let cases = [
            (chunked(&format!("5\r\nhello\r\n0\r\nX-T: {}\r\n\r\n", "t".repeat(1500))), 431),
            (chunked(&format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(5000))), 400),
            // Within the limits, the same bytes in the same pieces are served.
            (chunked(&format!("5\r\nhello\r\n0\r\nX-T: {}\r\n\r\n", "t".repeat(900))), 200),
            (chunked(&format!("{}5\r\nhello\r\n0\r\n\r\n", "0".repeat(4000))), 200),
        ];
        for (raw, want) in cases {
            let raw = raw.as_bytes();
            let label = String::from_utf8_lossy(&raw[..raw.len().min(90)]).into_owned();
            assert_eq!(exchange(addr, raw).status, want, "whole: {label}");
            // Cut once at points through the head, the body and the long part, then into
            // many pieces.
            let step = raw.len() / 12;
            for cut in (1..raw.len()).step_by(step) {
                assert_eq!(status_in_pieces(addr, raw, &[cut]), want, "cut at {cut}: {label}");
            }
            let many: Vec<usize> = (1..raw.len()).step_by(raw.len() / 5 + 7).collect();
            assert_eq!(status_in_pieces(addr, raw, &many), want, "cut at {many:?}: {label}");
        }
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_bare_lf_in_the_trailer_section_is_refused_and_ends_the_connection() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        let post = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n";
        let next = "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
        for trailers in ["0\r\n\n", "0\r\nT: v\n\r\n", "0\r\nT: v\r\n\n"] {
            // The bare LF would end the body for a reader that takes it as a line end, and the
            // next request would be answered; one that does not would take that request as part
            // of the trailers. Neither: a 400, and nothing more on the connection.
            let mut s = connect(addr);
            s.write_all(format!("{post}{trailers}{next}").as_bytes()).unwrap();
            let mut buf = Vec::new();
            let first = read_response(&mut s, &mut buf, false).expect("a response");
            assert_eq!(first.status, 400, "{trailers:?}: {}", first.text());
            assert!(read_response(&mut s, &mut buf, false).is_none(), "{trailers:?}: a pipelined request was answered");
            // Also whole in pieces, the bare LF arriving alone.
            let raw = format!("{post}{trailers}");
            let cut = raw.len() - 1;
            assert_eq!(status_in_pieces(addr, raw.as_bytes(), &[cut]), 400, "{trailers:?} in pieces");
        }
        // With CR LF throughout, the same body and the pipelined request are answered.
        let mut s = connect(addr);
        s.write_all(format!("{post}0\r\nT: v\r\n\r\n{next}").as_bytes()).unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "a");
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 200);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_bare_lf_in_the_head_is_refused() {
    support::each_backend(|_backend| {
        let (rt, server, addr) = support::server();
        // A front end that does not end lines at a bare LF would see `X` with a long value and
        // no body; the `Content-Length` behind it would make this server wait for one.
        for raw in [
            &b"GET /plaintext HTTP/1.1\nHost: x\n\n"[..],
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\nX: y\nContent-Length: 5\r\n\r\n",
            b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\n",
            b"\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
        ] {
            assert_eq!(exchange(addr, raw).status, 400, "{:?}", String::from_utf8_lossy(raw));
        }
        assert_eq!(exchange(addr, b"\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn deeply_nested_json_bodies_cannot_overflow_the_connections_stack() {
    support::each_backend(|_backend| {
        let router = support::test_router()
            .post("/json", |r: &oc_http::Request| match r.json::<serde_json::Value>() {
                Ok(v) => oc_http::Response::text(format!("ok {}", v.is_array() || v.is_object())),
                Err(e) => oc_http::Response::new(400).body(format!("{e}").into_bytes()),
            })
            .post("/json/:depth", |r: &oc_http::Request| {
                let depth = r.param("depth").unwrap().parse().unwrap();
                match r.json_with_depth::<serde_json::Value>(depth) {
                    // A deep value is dropped where the caller has room for it.
                    Ok(v) => oc_runtime::maybe_grow(1 << 20, 1 << 20, move || {
                        oc_http::Response::text(format!("ok {}", v.is_array()))
                    }),
                    Err(e) => oc_http::Response::new(400).body(format!("{e}").into_bytes()),
                }
            });
        // The default coroutine stack (128 KiB), where a debug build's serde_json takes about
        // 2 KiB per level.
        let (rt, server, addr) = support::server_with(router, Limits::default());
        let post = |path: &str, body: &str| {
            let raw = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            exchange(addr, raw.as_bytes())
        };
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        // 200 bytes of `[`: an error, not an abort.
        let r = post("/json", &"[".repeat(200));
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(r.text().contains("nested deeper than 64"), "{}", r.text());
        // At the limit, arrays and objects parse (and the value is dropped in the handler).
        assert_eq!(post("/json", &nested(64)).text(), "ok true");
        assert_eq!(post("/json", &objects(64)).text(), "ok true");
        assert_eq!(post("/json", &objects(65)).status, 400);
        // Brackets in strings are not nesting.
        assert_eq!(post("/json", &format!("[\"{}\"]", "[".repeat(5000))).text(), "ok true");
        // A handler that allows more: up to serde_json's own limit, parsed on a segment.
        assert_eq!(post("/json/128", &nested(127)).text(), "ok true");
        assert_eq!(post("/json/1000", &nested(200)).status, 400);
        assert_eq!(exchange(addr, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn an_idle_time_out_counts_from_the_answer_whatever_the_handler_and_the_reader_do() {
    // A handler that takes 1 s, and an answer (1 MiB) the client leaves in the kernel's
    // buffers: the connection closes one idle time-out after it, not two. (A wait before the
    // request leaves a timer due one idle time-out after it began, which wakes the idle
    // wait early; that wait must then go on for what is left of its time, not start again.)
    support::each_backend(|backend| {
        let router = oc_http::Router::new().get("/slow-mib", |_: &oc_http::Request| {
            oc_runtime::sleep(Duration::from_secs(1));
            oc_http::Response::new(200).body(vec![b's'; 1 << 20])
        });
        let mut limits = Limits::default();
        limits.idle_timeout = Duration::from_secs(3);
        let (rt, server, addr) = support::server_with(router, limits);
        let mut s = connect(addr);
        let start = Instant::now();
        s.write_all(b"GET /slow-mib HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        while server.connections() == 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        while server.connections() > 0 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        // The answer at 1 s, then 3 s idle (and at most a second more, the precision of the
        // clock a woken wait reads); twice the time-out would be 7 s.
        let closed = start.elapsed();
        assert!(
            closed > Duration::from_millis(3900) && closed < Duration::from_millis(5800),
            "{backend:?}: {closed:?}"
        );
        drop(s);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}
