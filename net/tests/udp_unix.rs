//! UDP and Unix sockets round-trip on both reactors.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use oc_net::{UdpSocket, UnixListener, UnixStream};

#[test]
fn udp_round_trip_with_and_without_connect() {
    support::on_each_backend(2, |backend| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = oc_runtime::spawn(move || {
            let mut buf = [0u8; 1500];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for i in 0..50u32 {
            let msg = format!("datagram {i}");
            client.send_to(msg.as_bytes(), server_addr).unwrap();
            let mut buf = [0u8; 64];
            let (n, from) = client.recv_from(&mut buf).unwrap();
            assert_eq!(from, server_addr);
            assert_eq!(&buf[..n], msg.as_bytes(), "{backend:?}");
        }
        client.connect(server_addr).unwrap();
        assert_eq!(client.peer_addr().unwrap(), server_addr);
        for i in 0..50u32 {
            client.send(&i.to_le_bytes()).unwrap();
            let mut buf = [0u8; 4];
            assert_eq!(client.recv(&mut buf).unwrap(), 4);
            assert_eq!(u32::from_le_bytes(buf), i);
        }
        echo.join().unwrap();
        client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(client.recv(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut, "{backend:?}");
    });
}

#[test]
fn unix_listener_and_stream_round_trip() {
    support::on_each_backend(2, |backend| {
        let dir = std::env::temp_dir().join(format!("oc-net-unix-{}-{backend:?}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = oc_runtime::spawn(move || {
            for _ in 0..10 {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).unwrap();
                buf.reverse();
                s.write_all(&buf).unwrap();
            }
        });
        for i in 0..10 {
            let mut c = UnixStream::connect(&path).unwrap();
            let msg = format!("message number {i}");
            c.write_all(msg.as_bytes()).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
            let mut back = String::new();
            c.read_to_string(&mut back).unwrap();
            assert_eq!(back, msg.chars().rev().collect::<String>(), "{backend:?}");
        }
        server.join().unwrap();
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"pair").unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pair");
        b.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        assert_eq!(b.read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
        std::fs::remove_dir_all(&dir).unwrap();
    });
}
