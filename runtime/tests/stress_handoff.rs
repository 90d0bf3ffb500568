//! Hand-off under pressure: thousands of hand-offs while coroutines spawn, sleep and join.
//!
//! The short form (three rounds, about 10 s) runs with the suite and in CI. The long form
//! (twenty rounds, about a minute) is ignored by default; run it with
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

/// `rounds` rounds of `n` coroutines under a 1 ms time slice.
fn hand_offs_under_pressure(rounds: usize, n: usize) {
    for round in 0..rounds {
        // A 1 ms slice: every seventh coroutine holds its worker past it, and the spawner
        // holds it for the whole spawning loop, so hand-offs come by the thousand.
        let rt = oc_runtime::Runtime::builder()
            .workers(2)
            .preempt_interval(Some(Duration::from_millis(1)))
            .build()
            .expect("runtime starts");
        support::require_max_map_count(rt.metrics().stack_guard, 2 * n + 20_000);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let spawner = rt.spawn(move || {
            let handles: Vec<_> = (0..n)
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

#[test]
fn hundreds_of_hand_offs_lose_no_coroutine() {
    hand_offs_under_pressure(3, 10_000);
}

#[test]
#[ignore = "a minute of hand-offs; run with --run-ignored"]
fn thousands_of_hand_offs_lose_no_coroutine() {
    hand_offs_under_pressure(20, 20_000);
}
