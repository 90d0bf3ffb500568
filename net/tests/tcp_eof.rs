//! The end of the stream arriving with the last bytes (the peer sends, then shuts its side
//! down): a reader that waits for readiness (`readable`, `write_all_then_readable`) and then
//! reads without waiting (`try_read`) must learn of the end at once, not at its time-out.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use oc_net::{TcpListener, TcpStream};

/// Far longer than the test waits: reaching it means the end of the stream went unnoticed.
const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// How long seeing the end may take at most (a loaded machine included).
const PROMPTLY: Duration = Duration::from_secs(5);

/// Reads with `readable` + `try_read` until the end of the stream; returns what was read.
fn read_to_end_by_readiness(stream: &TcpStream) -> std::io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        stream.readable()?;
        match stream.try_read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// A server-side stream, and a plain client socket.
fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    (server, client)
}

#[test]
fn bytes_and_the_end_already_there_at_the_first_wait_are_both_seen() {
    support::on_each_backend(1, |backend| {
        let (server, mut client) = pair();
        client.write_all(b"last words").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        // Both have arrived before the server first waits: one readiness report covers them.
        oc_runtime::sleep(Duration::from_millis(100));
        let start = Instant::now();
        let got = read_to_end_by_readiness(&server).unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        assert_eq!(got, b"last words", "{backend:?}");
        assert!(start.elapsed() < PROMPTLY, "{backend:?}: the end was seen after {:?}", start.elapsed());
    });
}

#[test]
fn bytes_and_the_end_arriving_while_the_reader_waits_are_both_seen() {
    support::on_each_backend(1, |backend| {
        for round in 0..20 {
            let (server, mut client) = pair();
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                client.write_all(b"request").unwrap();
                client.shutdown(std::net::Shutdown::Write).unwrap();
                client
            });
            let start = Instant::now();
            let got = read_to_end_by_readiness(&server).unwrap_or_else(|e| panic!("{backend:?}, round {round}: {e}"));
            assert_eq!(got, b"request", "{backend:?}");
            assert!(
                start.elapsed() < PROMPTLY,
                "{backend:?}, round {round}: the end was seen after {:?}",
                start.elapsed()
            );
            drop(sender.join().unwrap());
        }
    });
}

#[test]
fn the_end_after_an_exchange_is_seen_by_the_next_wait() {
    support::on_each_backend(1, |backend| {
        let (server, mut client) = pair();
        client.write_all(b"ping").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        oc_runtime::sleep(Duration::from_millis(100));
        let start = Instant::now();
        server.readable().unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(server.try_read(&mut buf).unwrap(), 4, "{backend:?}");
        // Answer and wait for the next request in one step: the end must end the wait.
        server.write_all_then_readable(b"pong").into_result().unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        assert_eq!(server.try_read(&mut buf).unwrap(), 0, "{backend:?}");
        assert!(start.elapsed() < PROMPTLY, "{backend:?}: the end was seen after {:?}", start.elapsed());
    });
}
