//! Hand-off under pressure: thousands of hand-offs while coroutines spawn, sleep and join.
//!
//! Ignored by default (about a minute); run with
//! `cargo nextest run -p oc-runtime --test stress_handoff --run-ignored only`, ideally with
//! the other core busy (`while :; do :; done &`), which widens the races it looks for. It
//! found a thread that lost its worker in a hand-off taking the worker back (two threads then
//! drove one worker: a panic on a `RefCell`, or every coroutine of that worker lost).

mod support;

use std::time::{Duration, Instant};

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
#[ignore = "a minute of hand-offs; run with --run-ignored"]
fn thousands_of_hand_offs_lose_no_coroutine() {
    const ROUNDS: usize = 20;
    const N: usize = 20_000;
    support::ensure_max_map_count(2 * N + 20_000);
    for round in 0..ROUNDS {
        // A 1 ms slice: every seventh coroutine holds its worker past it, and the spawner
        // holds it for the whole spawning loop, so hand-offs come by the thousand.
        let rt = oc_runtime::Runtime::builder()
            .workers(2)
            .preempt_interval(Some(Duration::from_millis(1)))
            .build()
            .expect("runtime starts");
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawner = rt.spawn(move || {
            let handles: Vec<_> = (0..N)
                .map(|i| {
                    oc_runtime::spawn(move || {
                        if i % 7 == 0 {
                            spin(Duration::from_micros(1500));
                        }
                        oc_runtime::sleep(Duration::from_millis(200));
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            done_tx.send(()).unwrap();
        });
        let finished = done_rx.recv_timeout(Duration::from_secs(60));
        let metrics = rt.metrics();
        assert!(finished.is_ok(), "round {round}: coroutines lost after {} hand-offs: {metrics:?}", metrics.handoffs);
        spawner.join().unwrap();
        assert!(metrics.handoffs > 0, "round {round}: no hand-off happened");
        support::shutdown(rt);
    }
}
