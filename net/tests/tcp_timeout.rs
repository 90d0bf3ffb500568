//! Time-outs and errors: `TimedOut` that leaves the connection usable, refused connections.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use oc_net::{TcpListener, TcpStream};

#[test]
fn read_timeout_times_out_and_the_connection_stays_usable() {
    support::on_each_backend(2, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let server = oc_runtime::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Stay silent until the client has timed out, then talk.
            while rx.try_recv().is_err() {
                oc_runtime::sleep(Duration::from_millis(5));
            }
            conn.write_all(b"late data").unwrap();
            let mut buf = [0u8; 4];
            conn.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"ack!");
        });
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(100)));
        // The buffer the timed-out read used is checked afterwards: a completion arriving
        // after the time-out must never write into it.
        let mut first = vec![0xAAu8; 64];
        let start = Instant::now();
        let err = c.read(&mut first).unwrap_err();
        let waited = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{backend:?}: {err}");
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_millis(600), "{backend:?}: {waited:?}");
        tx.send(()).unwrap();
        let mut second = [0u8; 9];
        c.read_exact(&mut second).unwrap();
        assert_eq!(&second, b"late data");
        assert!(first.iter().all(|&b| b == 0xAA), "{backend:?}: the timed-out read's buffer was written to");
        c.write_all(b"ack!").unwrap();
        server.join().unwrap();
        assert!(c.set_read_timeout(Some(Duration::ZERO)).is_err(), "zero time-outs are refused, as in std");
    });
}

#[test]
fn write_timeout_times_out_when_the_peer_does_not_read() {
    support::on_each_backend(2, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let c = TcpStream::connect(addr).unwrap();
        let (_idle_peer, _) = listener.accept().unwrap();
        c.set_write_timeout(Some(Duration::from_millis(100))).unwrap();
        let chunk = vec![7u8; 1 << 16];
        let mut sent = 0usize;
        let err = loop {
            match (&c).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
            assert!(sent < 1 << 30, "{backend:?}: the socket buffers never filled");
        };
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{backend:?}: {err}");
        assert!(sent > 0);
    });
}

#[test]
fn accept_timeout() {
    support::on_each_backend(1, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_accept_timeout(Some(Duration::from_millis(50))).unwrap();
        let start = Instant::now();
        let err = listener.accept().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{backend:?}");
        assert!(start.elapsed() >= Duration::from_millis(50));
    });
}

#[test]
fn connecting_to_a_closed_port_is_refused() {
    support::on_each_backend(1, |backend| {
        let (addr, _held) = support::refused_addr();
        let err = TcpStream::connect(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{backend:?}: {err}");
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{backend:?}: {err}");
    });
    // And on a plain thread.
    let (addr, _held) = support::refused_addr();
    assert_eq!(TcpStream::connect(addr).unwrap_err().kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn connect_timeout_times_out_against_a_peer_that_never_answers() {
    // A peer that never answers (not one that refuses): the time-out itself must fire, on
    // time, and the worker keeps running other coroutines meanwhile.
    let (_listener, addr, _fill) = support::unanswering_addr();
    support::on_each_backend(1, move |backend| {
        const TIMEOUT: Duration = Duration::from_millis(300);
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let ticker = {
            let ticks = ticks.clone();
            oc_runtime::spawn(move || {
                for _ in 0..10 {
                    oc_runtime::sleep(Duration::from_millis(10));
                    ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        };
        let start = Instant::now();
        let err = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap_err();
        let took = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{backend:?}: {err}");
        assert!(took >= TIMEOUT, "{backend:?}: gave up after {took:?} of {TIMEOUT:?}");
        assert!(took < TIMEOUT + Duration::from_millis(150), "{backend:?}: timed out only after {took:?}");
        ticker.join().unwrap();
        assert_eq!(ticks.load(std::sync::atomic::Ordering::SeqCst), 10, "{backend:?}: the worker was blocked");
    });
}

#[test]
fn cancelling_a_coroutine_blocked_in_a_read_unwinds_it_promptly() {
    support::on_each_backend(2, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let c = TcpStream::connect(addr).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        let reader = oc_runtime::spawn(move || {
            let mut c = c;
            let mut buf = [0u8; 16];
            let _ = c.read(&mut buf);
            unreachable!("the read never completes");
        });
        oc_runtime::sleep(Duration::from_millis(50));
        let start = Instant::now();
        reader.cancel();
        assert!(reader.join().unwrap_err().is_cancelled(), "{backend:?}");
        assert!(start.elapsed() < Duration::from_secs(1), "{backend:?}");
    });
}
