//! Connections that outlive a hand-off. When the monitor hands a worker to a spare carrier
//! (a coroutine held it past the time slice), the worker's old thread keeps the stuck
//! coroutine and then waits as a spare. On io_uring, the kernel runs the completion work of an
//! operation in the thread that submitted it: a socket's standing readiness poll armed by the
//! old thread would wake that thread on every request of the connection, for as long as the
//! connection lives. The poll must move to the thread that drives the worker now.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use oc_net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 16;

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The kernel's id of the calling thread.
fn thread_id() -> i32 {
    // SAFETY: gettid takes nothing and cannot fail.
    unsafe { libc::gettid() }
}

/// Voluntary context switches of thread `tid` of this process so far.
fn voluntary_switches(tid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("voluntary_ctxt_switches:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Answers every 4-byte request with the same 4 bytes, waiting on the socket's standing
/// readiness registration between requests, until the peer closes.
fn answer(stream: TcpStream) {
    let mut buf = [0u8; 4];
    if stream.readable().is_err() {
        return;
    }
    loop {
        let n = match stream.try_read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all_then_readable(&buf[..n]).into_result().is_err() {
            return;
        }
    }
}

/// `rounds` request/response rounds on every client, from a plain thread.
fn rounds(clients: &mut [std::net::TcpStream], rounds: usize) {
    for round in 0..rounds {
        for client in clients.iter_mut() {
            let request = (round as u32).to_le_bytes();
            client.write_all(&request).unwrap();
            let mut answer = [0u8; 4];
            client.read_exact(&mut answer).unwrap();
            assert_eq!(answer, request);
        }
    }
}

#[test]
fn a_hand_off_leaves_the_old_thread_out_of_the_connections_traffic() {
    for backend in support::BACKENDS {
        let rt = oc_runtime::Runtime::builder()
            .workers(1)
            .io_backend(backend)
            .preempt_interval(Some(Duration::from_millis(10)))
            .build()
            .unwrap();
        let listener = rt.block_on(|| TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        rt.spawn(move || {
            for _ in 0..CONNECTIONS {
                let (stream, _) = listener.accept().unwrap();
                oc_runtime::spawn(move || answer(stream));
            }
        });
        let mut clients: Vec<_> = (0..CONNECTIONS)
            .map(|_| {
                let c = std::net::TcpStream::connect(addr).unwrap();
                c.set_nodelay(true).unwrap();
                c
            })
            .collect();
        // Every connection's poll is armed by the worker's first thread.
        rounds(&mut clients, 20);
        let first_thread = rt.block_on(thread_id);

        // A coroutine holds the worker for thirty slices (the monitor acts within ten even on
        // a machine that gives the thread little CPU): the worker goes to a spare carrier,
        // the coroutine stays on the first thread, which then waits as a spare.
        let handoffs = rt.metrics().handoffs;
        rt.spawn(|| spin(Duration::from_millis(300))).join().unwrap();
        assert!(rt.metrics().handoffs > handoffs, "{backend:?}: no hand-off");
        let driver = rt.block_on(thread_id);
        assert_ne!(driver, first_thread, "{backend:?}: the worker is still driven by its first thread");
        // Let the old thread settle in the spare pool.
        std::thread::sleep(Duration::from_millis(50));

        let before = voluntary_switches(first_thread);
        let total = 200;
        rounds(&mut clients, total);
        let woken = voluntary_switches(first_thread) - before;
        // Moving each connection's poll may wake the old thread once per connection (the
        // cancelled poll's last completion); a spare also wakes every 100 ms to look for
        // shutdown. Woken per request instead, it would count in the thousands.
        let exchanges = (total * CONNECTIONS) as u64;
        assert!(
            woken < exchanges / 8,
            "{backend:?}: the old thread was woken {woken} times during {exchanges} exchanges"
        );
        drop(clients);
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}: runtime did not stop cleanly");
    }
}
