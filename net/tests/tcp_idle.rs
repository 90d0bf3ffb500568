//! A worker that sleeps between requests. When its reactor reports IO, the worker wakes the
//! coroutines waiting for it and then runs them itself: it must not count as asleep while it
//! does, or it would "wake" itself (a wake-up costs a system call to send and one to take,
//! and marks the worker as searching other workers' queues).

mod support;

use std::io::{Read, Write};

use oc_net::{TcpListener, TcpStream};

/// Answers every 4-byte request with the same 4 bytes until the peer closes.
fn answer(mut stream: TcpStream) {
    let mut buf = [0u8; 4];
    while stream.read_exact(&mut buf).is_ok() {
        if stream.write_all(&buf).is_err() {
            return;
        }
    }
}

#[test]
fn a_lone_worker_woken_by_io_does_not_wake_itself() {
    for backend in support::BACKENDS {
        let rt = support::runtime(backend, 1);
        let listener = rt.block_on(|| TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let server = rt.spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            answer(stream);
        });
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.set_nodelay(true).unwrap();
        let rounds = 300u32;
        let before = rt.metrics();
        for round in 0..rounds {
            // The worker has nothing to do until this arrives: it sleeps in its reactor.
            std::thread::sleep(std::time::Duration::from_micros(300));
            client.write_all(&round.to_le_bytes()).unwrap();
            let mut back = [0u8; 4];
            client.read_exact(&mut back).unwrap();
            assert_eq!(u32::from_le_bytes(back), round);
        }
        let after = rt.metrics();
        drop(client);
        server.join().unwrap();
        let parks = after.parks - before.parks;
        let wakeups = after.wakeups - before.wakeups;
        assert!(parks >= 100, "{backend:?}: the worker hardly slept ({parks} parks)");
        // Nothing but the worker itself could be woken, and nothing outside it queues work.
        assert!(wakeups < 10, "{backend:?}: {wakeups} wake-ups for {parks} parks of the only worker");
        assert!(rt.shutdown(std::time::Duration::from_secs(10)), "{backend:?}: runtime did not stop cleanly");
    }
}
