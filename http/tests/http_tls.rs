//! TLS: certificate and key from PEM files, ALPN `http/1.1`, keep-alive over TLS.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use oc_http::{Server, TlsConfig};

#[test]
fn https_with_pem_files_and_alpn() {
    support::each_backend(|_backend| {
        let dir = std::env::temp_dir().join(format!("oc-http-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("cert.pem"), key.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.key_pair.serialize_pem()).unwrap();
        let tls = TlsConfig::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();

        let rt = support::runtime();
        let server =
            rt.block_on(move || Server::new(support::test_router()).bind_tls("127.0.0.1:0", tls).unwrap().start());
        let addr = server.local_addrs()[0];

        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let conn = rustls::ClientConnection::new(
            support::client_config(key.cert.der().to_vec()),
            "localhost".try_into().unwrap(),
        )
        .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        for i in 0..3 {
            tls.write_all(format!("GET /users/{i} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while support::find(&got, b"\r\n\r\n").is_none_or(|end| got.len() < end + 4 + 6) {
                let n = tls.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
            assert!(text.ends_with(&format!("user {i}")), "{text}");
        }
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));

        // Bad inputs give clear errors, not panics.
        let err = TlsConfig::from_pem_files(dir.join("missing.pem"), dir.join("key.pem")).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        std::fs::write(dir.join("empty.pem"), "").unwrap();
        assert!(TlsConfig::from_pem_files(dir.join("empty.pem"), dir.join("key.pem")).is_err());

        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
        let _ = std::fs::remove_dir_all(&dir);
    });
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// A TLS client connection to `addr` (the handshake happens with the first request).
fn tls_connect(addr: std::net::SocketAddr, cert: &[u8]) -> Tls {
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    let conn =
        rustls::ClientConnection::new(support::client_config(cert.to_vec()), "localhost".try_into().unwrap()).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Sends `GET /plaintext` and reads its answer within `timeout`: the status, or the error.
fn tls_plaintext(tls: &mut Tls, timeout: Duration) -> std::io::Result<u16> {
    tls.sock.set_read_timeout(Some(timeout))?;
    tls.write_all(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    // The body, "Hello, World!", ends the answer.
    while !got.ends_with(b"Hello, World!") {
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&got[9..12]).parse().unwrap())
}

/// A plain connection's `GET /plaintext` within `timeout`: its status, or `None`.
fn plain_plaintext(s: &mut std::net::TcpStream, timeout: Duration) -> Option<u16> {
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    support::read_response(s, &mut Vec::new(), false).map(|r| r.status)
}

/// Waits until the server counts `n` connections.
fn until_connections(server: &oc_http::ServerHandle, n: usize) {
    let start = std::time::Instant::now();
    while server.connections() != n {
        assert!(start.elapsed() < Duration::from_secs(5), "{} connections, not {n}", server.connections());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_plain_and_a_tls_listener_share_the_cap_exactly_and_both_accept_once_it_is_released() {
    support::each_backend(|_backend| {
        let (tls, cert) = support::identity();
        let mut limits = oc_http::Limits::default();
        limits.max_connections = 2;
        let (rt, server, plain, secure) = support::plain_and_tls_server(support::test_router(), limits, tls);
        let short = Duration::from_millis(400);
        let long = Duration::from_secs(10);
        // Two plain connections take the cap; a TLS client is held back (its listener had
        // no reason to wait before they came).
        let mut a = support::connect(plain);
        let mut b = support::connect(plain);
        assert_eq!(plain_plaintext(&mut a, long), Some(200));
        assert_eq!(plain_plaintext(&mut b, long), Some(200));
        let mut c = tls_connect(secure, &cert);
        assert!(tls_plaintext(&mut c, short).is_err(), "a TLS connection was served past the cap");
        assert_eq!(server.connections(), 2);
        // Once one plain connection ends, the TLS client is served.
        drop(a);
        assert_eq!(tls_plaintext(&mut c, long).unwrap(), 200);
        assert_eq!(server.connections(), 2);
        // Both listeners have waited at the cap. Whichever connection ends first, each
        // listener accepts again.
        drop(c);
        until_connections(&server, 1);
        drop(b);
        until_connections(&server, 0);
        let mut d = support::connect(plain);
        assert_eq!(plain_plaintext(&mut d, long), Some(200), "the plain listener stopped accepting");
        let mut e = tls_connect(secure, &cert);
        assert_eq!(tls_plaintext(&mut e, long).unwrap(), 200, "the TLS listener stopped accepting");
        // At the cap again; ended in the other order.
        drop(d);
        until_connections(&server, 1);
        drop(e);
        until_connections(&server, 0);
        let mut f = tls_connect(secure, &cert);
        assert_eq!(tls_plaintext(&mut f, long).unwrap(), 200, "the TLS listener stopped accepting");
        let mut g = support::connect(plain);
        assert_eq!(plain_plaintext(&mut g, long), Some(200), "the plain listener stopped accepting");
        drop((f, g));
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_trickled_tls_handshake_is_cut_off_at_the_header_timeout() {
    support::each_backend(|_backend| {
        let (tls, cert) = support::identity();
        let mut limits = oc_http::Limits::default();
        limits.header_timeout = Duration::from_millis(300);
        limits.idle_timeout = Duration::from_secs(30);
        limits.max_connections = 1;
        let rt = support::runtime();
        let server = rt.block_on(move || {
            Server::new(support::test_router()).limits(limits).bind_tls("127.0.0.1:0", tls).unwrap().start()
        });
        let addr = server.local_addrs()[0];
        // The start of a ClientHello record (200 bytes announced), then a byte every 100 ms:
        // each read gets something well within the idle time-out.
        let mut slow = std::net::TcpStream::connect(addr).unwrap();
        slow.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let start = std::time::Instant::now();
        slow.write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8]).unwrap();
        let mut cut = None;
        while start.elapsed() < Duration::from_secs(4) {
            if slow.write_all(&[0x01]).is_err() {
                cut = Some(start.elapsed());
                break;
            }
            let mut b = [0u8; 64];
            match slow.read(&mut b) {
                Ok(0) => {
                    cut = Some(start.elapsed());
                    break;
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                // An alert, or a reset.
                _ => {
                    cut = Some(start.elapsed());
                    break;
                }
            }
        }
        let cut = cut.expect("the trickled handshake held its connection for 4 s");
        assert!(cut >= Duration::from_millis(300), "cut after {cut:?}, before the header time-out");
        assert!(cut < Duration::from_secs(3), "cut after {cut:?}");
        // Its slot is free again: a real client is served.
        until_connections(&server, 0);
        let mut ok = tls_connect(addr, &cert);
        assert_eq!(tls_plaintext(&mut ok, Duration::from_secs(10)).unwrap(), 200);
        drop(ok);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn a_request_record_trickled_after_the_handshake_is_cut_off_at_the_header_timeout() {
    support::each_backend(|_backend| {
        let (tls, cert) = support::identity();
        let mut limits = oc_http::Limits::default();
        limits.header_timeout = Duration::from_millis(300);
        limits.idle_timeout = Duration::from_secs(30);
        let rt = support::runtime();
        let server = rt.block_on(move || {
            Server::new(support::test_router()).limits(limits).bind_tls("127.0.0.1:0", tls).unwrap().start()
        });
        let addr = server.local_addrs()[0];
        // A whole handshake and one request answered, then a request sealed into its record,
        // whose bytes go out one every 100 ms: each receive gets one well within the idle
        // time-out, and the record has more bytes than 3 s give.
        let mut client = tls_connect(addr, &cert);
        assert_eq!(tls_plaintext(&mut client, Duration::from_secs(10)).unwrap(), 200);
        let (mut session, mut tcp) = (client.conn, client.sock);
        let padding = "x".repeat(100);
        write!(session.writer(), "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nX-Pad: {padding}\r\n\r\n").unwrap();
        let mut record = Vec::new();
        while session.wants_write() {
            session.write_tls(&mut record).unwrap();
        }
        assert!(record.len() > 40, "{} bytes", record.len());
        tcp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let start = std::time::Instant::now();
        let mut cut = None;
        for &b in &record[..record.len() - 1] {
            if tcp.write_all(&[b]).is_err() {
                cut = Some(start.elapsed());
                break;
            }
            let mut buf = [0u8; 256];
            match tcp.read(&mut buf) {
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                // The end of the stream, an alert or a reset: nothing else is sent meanwhile.
                _ => {
                    cut = Some(start.elapsed());
                    break;
                }
            }
            if start.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        let cut = cut.expect("the trickled record held its connection for 3 s");
        assert!(cut >= Duration::from_millis(300), "cut after {cut:?}, before the header time-out");
        until_connections(&server, 0);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

/// Reads one answer with a `Content-Length` from `tls`: its head and its body.
fn tls_answer(tls: &mut Tls) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 16384];
    let end = loop {
        if let Some(end) = support::find(&got, b"\r\n\r\n") {
            break end + 4;
        }
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .trim()
        .parse()
        .unwrap();
    while got.len() < end + len {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), end + len, "bytes after the body");
    (head, got.split_off(end))
}

#[test]
fn static_files_over_tls_are_read_and_encrypted_whole_and_in_ranges() {
    // Over TLS the kernel cannot copy a file to the socket: a small file goes with its head,
    // a large one in slices; every byte right, on one kept-alive connection.
    support::each_backend(|_backend| {
        let dir = std::env::temp_dir().join(format!("oc-http-tls-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let big: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("big.bin"), &big).unwrap();
        std::fs::write(dir.join("small.txt"), "0123456789abcdefghij").unwrap();
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("cert.pem"), key.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.key_pair.serialize_pem()).unwrap();
        let tls = TlsConfig::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();
        let router = oc_http::Router::new().get("/*path", oc_http::StaticFiles::new(&dir));
        let rt = support::runtime();
        let server = rt.block_on(move || Server::new(router).bind_tls("127.0.0.1:0", tls).unwrap().start());
        let mut client = tls_connect(server.local_addrs()[0], key.cert.der());
        client.sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut get = |target: &str, extra: &str| {
            client.write_all(format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").as_bytes()).unwrap();
            tls_answer(&mut client)
        };
        let (head, body) = get("/small.txt", "");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert_eq!(body, b"0123456789abcdefghij");
        let (head, body) = get("/big.bin", "");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(body == big, "{} bytes, not the file's", body.len());
        let (head, body) = get("/big.bin", "Range: bytes=100000-\r\n");
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert!(body == big[100_000..], "{} bytes, not the range's", body.len());
        let (head, body) = get("/small.txt", "Range: bytes=2-5\r\n");
        assert!(head.starts_with("HTTP/1.1 206"), "{head}");
        assert_eq!(body, b"2345");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
        let _ = std::fs::remove_dir_all(&dir);
    });
}
