//! What a connection may hold and expose: answers queued for a client that does not read,
//! the pace a client must take them at, and nothing of one client shown to another.

mod support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_http::{Handler, Limits, Request, Response, Router, StaticFiles};
use support::{connect, read_response};

const MIB: usize = 1 << 20;

/// Sends `first` (a request, perhaps empty) and `count` pipelined `GET`s of `target` on a
/// connection with a small receive buffer, reads nothing for a while, and returns how many
/// the handler (counted by `calls`) had answered by then; then reads every response (that
/// of `first` unchecked) and checks each with `check`.
fn pipeline_unread(
    addr: std::net::SocketAddr,
    first: &[u8],
    target: &str,
    count: usize,
    calls: &AtomicUsize,
    check: impl Fn(&support::Resp),
) -> usize {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(64 << 10).unwrap();
    s.connect(&addr.into()).unwrap();
    let mut s: std::net::TcpStream = s.into();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&[first, request.repeat(count).as_bytes()].concat()).unwrap();
    // Until the server has answered what it could, and a while longer.
    let mut seen = 0;
    let mut still = Instant::now();
    let begun = Instant::now();
    while still.elapsed() < Duration::from_millis(500) && begun.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
        let now = calls.load(Ordering::SeqCst);
        if now != seen {
            (seen, still) = (now, Instant::now());
        }
    }
    let answered = calls.load(Ordering::SeqCst);
    let mut buf = Vec::new();
    if !first.is_empty() {
        read_response(&mut s, &mut buf, false).expect("the first response");
    }
    for i in 0..count {
        let r = read_response(&mut s, &mut buf, false).unwrap_or_else(|| panic!("response {i} of {count}"));
        check(&r);
    }
    answered
}

#[test]
fn pipelined_requests_are_not_answered_far_ahead_of_a_client_that_does_not_read() {
    // A handler's 1 MiB body, asked for 48 times in one write: the connection answers while
    // what it has answered can be written, not every request it has received.
    support::each_backend(|backend| {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let router = Router::new().get("/mib", move |_: &Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            Response::new(200).body(vec![b'm'; MIB])
        });
        let (rt, server, addr) = support::server_with(router, Limits::default());
        let answered = pipeline_unread(addr, b"", "/mib", 48, &calls, |r| {
            assert!(r.status == 200 && r.body.len() == MIB && r.body.iter().all(|&b| b == b'm'));
        });
        // What the kernel's buffers on both sides take (a few MiB on loopback), and one more.
        assert!(answered <= 16, "{backend:?}: {answered} of 48 answered ahead of the reader");
        assert_eq!(calls.load(Ordering::SeqCst), 48);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(5))));
    });
}

#[test]
fn pipelined_requests_for_a_large_static_file_stream_it_as_the_client_reads() {
    // A 1 MiB file (read whole before, into every answer), asked for 48 times in one write.
    let dir = std::env::temp_dir().join(format!("oc-http-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("mib.bin"), &file).unwrap();
    support::each_backend(|backend| {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let files = StaticFiles::new(&dir);
        let router = Router::new().get("/*path", move |r: &Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            files.call(r)
        });
        let (rt, server, addr) = support::server_with(router, Limits::default());
        let answered = pipeline_unread(addr, b"", "/mib.bin", 48, &calls, |r| {
            assert!(r.status == 200 && r.body == file);
        });
        assert!(answered <= 16, "{backend:?}: {answered} of 48 answered ahead of the reader");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(5))));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn small_answers_past_the_output_limit_wait_for_the_client() {
    // A 2 MiB body grows the connection's receive buffer, and 6,000 requests for 4 KiB each
    // come right after it: at most `max_output` bytes of answers are queued before they are
    // written, so a client that does not read stops the answering, however many requests
    // its buffer holds.
    support::each_backend(|backend| {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let router = Router::new()
            .get("/k", move |_: &Request| {
                counted.fetch_add(1, Ordering::SeqCst);
                Response::new(200).body(vec![b'k'; 4096])
            })
            .post("/sink", |r: &Request| Response::text(r.body().len().to_string()));
        let mut limits = Limits::default();
        limits.max_output = 16 << 10;
        let (rt, server, addr) = support::server_with(router, limits);
        let mut post = b"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 2097152\r\n\r\n".to_vec();
        post.resize(post.len() + (2 << 20), b'p');
        // 24 MiB of answers, far more than the kernel's buffers hold.
        let answered = pipeline_unread(addr, &post, "/k", 6000, &calls, |r| assert_eq!(r.body.len(), 4096));
        assert!(answered < 3000, "{backend:?}: {answered} of 6000 answered ahead of the reader");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(5))));
    });
}

#[test]
fn a_client_that_takes_a_long_answer_too_slowly_is_let_go() {
    // A 256 MiB stream, taken 256 KiB every 250 ms (1 MiB/s): the server's writes make
    // progress well within the write time-out, but at a quarter of the minimum rate.
    support::each_backend(|backend| {
        let router = Router::new().get("/long", |_: &Request| {
            Response::stream_sized(256 * MIB as u64, |w| {
                let piece = vec![b'l'; 64 << 10];
                for _ in 0..4096 {
                    w.write_all(&piece)?;
                }
                Ok(())
            })
        });
        let mut limits = Limits::default();
        limits.write_timeout = Duration::from_secs(3);
        limits.min_send_rate = 4 << 20;
        let (rt, server, addr) = support::server_with(router, limits);
        let mut s = connect(addr);
        s.write_all(b"GET /long HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        take_slowly_until_let_go(&mut s, &server, backend);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(5))));
    });
}

#[test]
fn a_client_that_takes_a_large_file_too_slowly_is_let_go() {
    // A 256 MiB static file (sparse: it takes no disk), copied by the kernel (`sendfile`),
    // taken 256 KiB every 250 ms: the limits of a streamed answer hold for it too.
    let dir = std::env::temp_dir().join(format!("oc-http-memory-slow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::File::create(dir.join("sparse.bin")).unwrap().set_len(256 * MIB as u64).unwrap();
    support::each_backend(|backend| {
        let router = Router::new().get("/*path", StaticFiles::new(&dir));
        let mut limits = Limits::default();
        limits.write_timeout = Duration::from_secs(3);
        limits.min_send_rate = 4 << 20;
        let (rt, server, addr) = support::server_with(router, limits);
        let mut s = connect(addr);
        s.write_all(b"GET /sparse.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        take_slowly_until_let_go(&mut s, &server, backend);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(5))));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn request_debug_shows_the_request_and_nothing_of_other_connections() {
    // A handler that logs `{req:?}`. One client sends a secret in a long head; others then
    // send short requests on new connections, whose buffers may be the first's, recycled.
    support::each_backend(|backend| {
        let router = Router::new()
            .get("/debug", |r: &Request| Response::text(format!("{r:?}")))
            .post("/debug", |r: &Request| Response::text(format!("{r:?}")));
        let (rt, server, addr) = support::server_with(router, Limits::default());
        let secret = "Bearer s3cr3t-t0ken-of-the-first-client";
        for _ in 0..20 {
            let mut first = connect(addr);
            let pad = "p".repeat(2000);
            first
                .write_all(
                    format!("GET /debug HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\nAuthorization: {secret}\r\nCookie: id=s3cr3t\r\n\r\n")
                        .as_bytes(),
                )
                .unwrap();
            let mut buf = Vec::new();
            let own = read_response(&mut first, &mut buf, false).unwrap().text();
            // A request shows its own fields.
            assert!(own.contains(secret), "{backend:?}: {own}");
            drop(first);
            let mut other = connect(addr);
            other.write_all(b"POST /debug?q=1 HTTP/1.1\r\nHost: y\r\nContent-Length: 3\r\n\r\nabc").unwrap();
            let seen = read_response(&mut other, &mut buf, false).unwrap().text();
            // The request itself, and nothing of the buffer it lies in: neither as text nor as
            // the bytes' numbers.
            for part in ["\"POST\"", "\"/debug?q=1\"", "Http11", "(\"Host\", \"y\")", "body_len: 3"] {
                assert!(seen.contains(part), "{backend:?}: {part} missing from {seen}");
            }
            let as_numbers = format!("{:?}", &b"s3cr3t"[..]);
            let as_numbers = &as_numbers[1..as_numbers.len() - 1];
            assert!(!seen.contains("s3cr3t") && !seen.contains(as_numbers), "{backend:?}: {seen}");
            assert!(!seen.contains("ppppp") && !seen.contains("112, 112, 112"), "{backend:?}: {seen}");
        }
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn large_bodies_share_the_servers_body_memory_and_give_it_back() {
    // 5 MiB for large requests in all. A holds 4 MiB for a 3 MiB body not yet whole; B's
    // needs its buffer to grow past 1 MiB and is refused; once A is answered, C's fits.
    support::each_backend(|backend| {
        let router = Router::new().post("/sink", |r: &Request| Response::text(r.body().len().to_string()));
        let mut limits = Limits::default();
        limits.max_body_memory = 5 << 20;
        let (rt, server, addr) = support::server_with(router, limits);
        let head = |len: usize| format!("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").into_bytes();
        let body = 3 << 20;
        let mut a = connect(addr);
        let mut sent = head(body);
        sent.resize(sent.len() + body - 1, b'a');
        a.write_all(&sent).unwrap();
        std::thread::sleep(Duration::from_secs(1));
        // What fills a 1 MiB buffer to within 2 KiB, then more: the server reads the first
        // part, and cannot grow its buffer for the rest.
        let mut b = connect(addr);
        let mut sent = head(body);
        sent.resize((1 << 20) - 2048, b'b');
        b.write_all(&sent).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        b.write_all(&[b'b'; 8192]).unwrap();
        let r = read_response(&mut b, &mut Vec::new(), false).expect("B's answer");
        assert_eq!(r.status, 503, "{backend:?}");
        a.write_all(b"a").unwrap();
        let r = read_response(&mut a, &mut Vec::new(), false).expect("A's answer");
        assert_eq!((r.status, r.text()), (200, body.to_string()), "{backend:?}");
        // A's buffer went back as A went idle.
        let mut c = connect(addr);
        let mut sent = head(body);
        sent.resize(sent.len() + body, b'c');
        c.write_all(&sent).unwrap();
        let r = read_response(&mut c, &mut Vec::new(), false).expect("C's answer");
        assert_eq!((r.status, r.text()), (200, body.to_string()), "{backend:?}");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

/// Takes an answer 256 KiB every 250 ms, as a slow client does, until the server lets the
/// connection go, and checks that it did, well before a 128 MiB answer could end. The
/// server's writes may wait 3 s, plus what the bytes sent take at 4 MiB/s (the limits these
/// tests set); the kernel's buffers (some MiB) count as sent.
fn take_slowly_until_let_go(
    s: &mut std::net::TcpStream,
    server: &oc_http::ServerHandle,
    backend: oc_runtime::IoBackend,
) {
    let start = Instant::now();
    let mut got = 0usize;
    let mut piece = vec![0u8; 64 << 10];
    // Until the answer has begun (the connection is counted from then on, surely).
    while got == 0 {
        got += s.read(&mut piece).unwrap();
    }
    while server.connections() > 0 && start.elapsed() < Duration::from_secs(40) {
        let mut burst = 0;
        while burst < 256 << 10 {
            match s.read(&mut piece) {
                Ok(0) | Err(_) => break,
                Ok(n) => burst += n,
            }
        }
        got += burst;
        std::thread::sleep(Duration::from_millis(250));
    }
    let open = server.connections();
    assert_eq!(open, 0, "{backend:?}: still sending after {:?} ({got} bytes taken)", start.elapsed());
    assert!(got < 128 * MIB, "{backend:?}: {got} bytes");
}
