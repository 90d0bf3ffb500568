//! TCP echo: many concurrent connections, every byte checked, on both reactors.

mod support;

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use oc_net::{TcpListener, TcpStream};

/// Serves echo on `listener` until `stop` clients have been served.
fn echo_server(listener: TcpListener) {
    for conn in listener.incoming() {
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => panic!("accept: {e}"),
        };
        oc_runtime::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => conn.write_all(&buf[..n]).expect("echo write"),
                    Err(e) => panic!("echo read: {e}"),
                }
            }
        });
    }
}

fn payload(id: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (id.wrapping_mul(31).wrapping_add(i * 7) % 251) as u8).collect()
}

#[test]
fn eight_thousand_concurrent_connections_echo_every_byte() {
    const CLIENTS: usize = 8000;
    const LEN: usize = 3000;
    let limit = support::raise_nofile();
    assert!(limit >= 2 * CLIENTS as u64 + 100, "needs {} open files, the limit is {limit}", 2 * CLIENTS + 100);
    support::on_each_backend(2, |backend| {
        let listener = TcpListener::builder("127.0.0.1:0").backlog(CLIENTS as u32).bind().unwrap();
        let addr = listener.local_addr().unwrap();
        oc_runtime::spawn(move || echo_server(listener));
        let gate = support::Gate::new(CLIENTS);
        let verified = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let (gate, verified) = (gate.clone(), verified.clone());
                oc_runtime::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{backend:?} connect {id}: {e}"));
                    // Every client holds its connection open until all are connected.
                    gate.arrive();
                    let data = payload(id, LEN);
                    let (a, b) = data.split_at(LEN / 3);
                    s.write_all(a).unwrap();
                    s.write_all(b).unwrap();
                    let mut back = vec![0u8; LEN];
                    s.read_exact(&mut back).unwrap();
                    assert!(back == data, "{backend:?}: client {id} got different bytes back");
                    s.shutdown(Shutdown::Write).unwrap();
                    assert_eq!(s.read(&mut back).unwrap(), 0, "server closes after our shutdown");
                    verified.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        assert_eq!(verified.load(Ordering::SeqCst), CLIENTS, "{backend:?}");
    });
}

#[test]
fn vectored_io_shared_references_and_clones() {
    support::on_each_backend(2, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = oc_runtime::spawn(move || {
            let (conn, peer) = listener.accept().unwrap();
            assert_eq!(peer, conn.peer_addr().unwrap());
            // Reads through `&TcpStream`, writes through a clone.
            let mut reader = &conn;
            let mut writer = conn.try_clone().unwrap();
            let mut head = [0u8; 3];
            let mut tail = [0u8; 4];
            let mut got = 0;
            while got < 7 {
                let mut bufs =
                    [IoSliceMut::new(&mut head[got.min(3)..]), IoSliceMut::new(&mut tail[got.saturating_sub(3)..])];
                let n = reader.read_vectored(&mut bufs).unwrap();
                assert!(n > 0);
                got += n;
            }
            assert_eq!(&head, b"abc");
            assert_eq!(&tail, b"defg");
            let n = writer.write_vectored(&[IoSlice::new(b"xy"), IoSlice::new(b"z")]).unwrap();
            assert_eq!(n, 3);
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        c.write_all(b"abcdefg").unwrap();
        let mut peeked = [0u8; 3];
        // Wait for the reply, then peek before reading.
        let mut n = 0;
        while n < 3 {
            n = c.peek(&mut peeked).unwrap();
        }
        assert_eq!(&peeked, b"xyz");
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        assert_eq!(out, "xyz", "{backend:?}");
        server.join().unwrap();
    });
}

#[test]
fn sockets_work_on_plain_threads_too() {
    // No runtime involved in the calls: they block the thread.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    t.join().unwrap();
}

#[test]
fn conversions_from_and_to_std_and_raw_fds() {
    use std::os::fd::{FromRawFd, IntoRawFd};
    support::on_each_backend(1, |_| {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = std_listener.local_addr().unwrap();
        let listener = TcpListener::from(std_listener);
        let client = oc_runtime::spawn(move || {
            let s = std::net::TcpStream::connect(addr).unwrap(); // std connect: quick on loopback
            let mut s = TcpStream::from(s);
            s.write_all(b"hi").unwrap();
            let raw = s.into_raw_fd();
            // SAFETY: we own `raw`, just released above.
            let s = unsafe { TcpStream::from_raw_fd(raw) };
            let mut std_stream = s.into_std().unwrap();
            std_stream.write_all(b"!").unwrap();
        });
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 3];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi!");
        client.join().unwrap();
        let std_listener = listener.into_std().unwrap();
        assert_eq!(std_listener.local_addr().unwrap(), addr);
    });
}
