//! TLS when things go wrong: handshakes that fail (not TLS at all, plain HTTP on the TLS
//! port, a client that refuses the certificate, a client that leaves mid-handshake) end
//! their connection and give its slot back, and the limits and time-outs of plain HTTP hold
//! over TLS too (414, 431, 413, the idle and body time-outs).

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use oc_http::{Limits, Server};

type Tls = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

fn tls_connect(addr: std::net::SocketAddr, config: std::sync::Arc<rustls::ClientConfig>) -> Tls {
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = rustls::ClientConnection::new(config, "localhost".try_into().unwrap()).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Sends `raw` and reads one response (head and Content-Length body): status and body.
fn tls_exchange(tls: &mut Tls, raw: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    tls.write_all(raw)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = support::find(&got, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize =
                head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
            if got.len() >= end + 4 + len {
                let status = head[9..12].parse().unwrap();
                return Ok((status, got[end + 4..end + 4 + len].to_vec()));
            }
        }
        let n = tls.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got.extend_from_slice(&buf[..n]);
    }
}

/// Whether the server ended the TLS connection (close_notify, end of stream, or reset)
/// within the read time-out.
fn tls_closed(tls: &mut Tls) -> bool {
    let mut b = [0u8; 16];
    match tls.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

fn until_connections(server: &oc_http::ServerHandle, n: usize) {
    let start = Instant::now();
    while server.connections() != n {
        assert!(start.elapsed() < Duration::from_secs(5), "{} connections, not {n}", server.connections());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads from a raw socket until the server ends the connection: true if it did within 5 s.
fn raw_ended(s: &mut std::net::TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            // An alert record, or the start of one: keep reading to the end.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn failed_handshakes_end_their_connection_and_free_its_slot() {
    support::each_backend(|backend| {
        let (tls, cert) = support::identity();
        let mut limits = Limits::default();
        // One slot: a handshake failure that kept it would lock every later client out.
        limits.max_connections = 1;
        let rt = support::runtime();
        let server = rt.block_on(move || {
            Server::new(support::test_router()).limits(limits).bind_tls("127.0.0.1:0", tls).unwrap().start()
        });
        let addr = server.local_addrs()[0];

        // Not TLS at all.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(&[0xde, 0xad, 0xbe, 0xef].repeat(64)).unwrap();
        assert!(raw_ended(&mut s), "{backend:?}: garbage instead of a ClientHello kept its connection");
        until_connections(&server, 0);

        // Plain HTTP on the TLS port.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(raw_ended(&mut s), "{backend:?}: plain HTTP on the TLS port kept its connection");
        until_connections(&server, 0);

        // A client that does not trust the server's certificate: the handshake fails on the
        // client's side, which sends an alert and leaves.
        let (_, other_cert) = support::identity();
        let mut distrusting = tls_connect(addr, support::client_config(other_cert));
        let err = tls_exchange(&mut distrusting, b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap_err();
        assert!(err.to_string().to_lowercase().contains("certificate"), "{backend:?}: {err}");
        drop(distrusting);
        until_connections(&server, 0);

        // A client that leaves in the middle of its ClientHello.
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00]).unwrap();
        drop(s);
        until_connections(&server, 0);

        // After all that, a good client is served on the one slot.
        let mut good = tls_connect(addr, support::client_config(cert.clone()));
        let (status, body) = tls_exchange(&mut good, b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"Hello, World!"[..]), "{backend:?}");
        drop(good);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}

#[test]
fn size_limits_and_time_outs_hold_over_tls() {
    support::each_backend(|backend| {
        let (tls, cert) = support::identity();
        let mut limits = Limits::default();
        limits.max_request_line = 256;
        limits.max_head = 2048;
        limits.max_body = 1024;
        limits.body_timeout = Duration::from_millis(300);
        limits.idle_timeout = Duration::from_millis(400);
        let rt = support::runtime();
        let server = rt.block_on(move || {
            Server::new(support::test_router()).limits(limits).bind_tls("127.0.0.1:0", tls).unwrap().start()
        });
        let addr = server.local_addrs()[0];
        let config = support::client_config(cert);
        let refused = |raw: String, want: u16| {
            let mut c = tls_connect(addr, config.clone());
            let (status, _) = tls_exchange(&mut c, raw.as_bytes()).unwrap();
            assert_eq!(status, want, "{backend:?}: {}", &raw[..raw.len().min(60)]);
            assert!(tls_closed(&mut c), "{backend:?}: the connection stayed open after a {want}");
        };
        refused(format!("GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n", "a".repeat(300)), 414);
        refused(format!("GET /plaintext HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n", "b".repeat(3000)), 431);
        refused(
            format!("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n\r\n{}", "c".repeat(2000)),
            413,
        );

        // Within the limits, over the same kind of connection.
        let mut c = tls_connect(addr, config.clone());
        let (status, body) =
            tls_exchange(&mut c, b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc").unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"abc"[..]), "{backend:?}");

        // The idle time-out closes a kept-alive TLS connection: not before 400 ms, and not
        // much after.
        let start = Instant::now();
        assert!(tls_closed(&mut c), "{backend:?}: the idle TLS connection was not closed");
        let idle = start.elapsed();
        assert!(idle >= Duration::from_millis(350) && idle < Duration::from_millis(1500), "{backend:?}: {idle:?}");

        // A body that never completes is answered 408 at the body time-out.
        let mut c = tls_connect(addr, config.clone());
        let start = Instant::now();
        let (status, _) =
            tls_exchange(&mut c, b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\nabc").unwrap();
        let took = start.elapsed();
        assert_eq!(status, 408, "{backend:?}");
        assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(1500), "{backend:?}: {took:?}");
        until_connections(&server, 0);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}
