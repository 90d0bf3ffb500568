//! Accepting a burst of connections while the worker is busy: the acceptor takes every
//! connection waiting in the backlog at each turn it gets, not one per turn.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_net::TcpListener;

fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn a_burst_of_connections_is_accepted_in_few_turns_of_a_busy_worker() {
    const BURST: usize = 300;
    support::on_each_backend(1, |backend| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // Forty coroutines that each compute for 100 µs between yields: one turn of the
        // worker's queue takes about 4 ms.
        let busy: Vec<_> = (0..40)
            .map(|_| {
                let stop = stop.clone();
                oc_runtime::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        spin_for(Duration::from_micros(100));
                        oc_runtime::yield_now();
                    }
                })
            })
            .collect();
        let accepted = Arc::new(AtomicUsize::new(0));
        let a = accepted.clone();
        let acceptor = oc_runtime::spawn(move || {
            let mut kept = Vec::new();
            while kept.len() < BURST {
                let (stream, _) = listener.accept().unwrap();
                kept.push(stream);
                a.fetch_add(1, Ordering::SeqCst);
            }
            kept
        });
        // Let the acceptor wait first, then connect all at once from a plain thread.
        oc_runtime::sleep(Duration::from_millis(50));
        let clients = std::thread::spawn(move || {
            let clients: Vec<_> = (0..BURST).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
            (Instant::now(), clients)
        });
        while !clients.is_finished() {
            oc_runtime::sleep(Duration::from_millis(1));
        }
        let (connected, _clients) = clients.join().unwrap();
        while accepted.load(Ordering::SeqCst) < BURST && connected.elapsed() < Duration::from_secs(20) {
            oc_runtime::sleep(Duration::from_millis(1));
        }
        let took = connected.elapsed();
        stop.store(true, Ordering::Relaxed);
        assert_eq!(acceptor.join().unwrap().len(), BURST);
        for b in busy {
            b.join().unwrap();
        }
        // One connection per turn would take BURST turns (over a second here).
        assert!(took < Duration::from_millis(400), "{backend:?}: the burst took {took:?} to accept");
    });
}
