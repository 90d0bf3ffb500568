//! A tour of the coroutine runtime: spawn, join, sleep, priorities, cancellation, panics and
//! metrics, each in a few lines.
//!
//! `cargo run --release -p oc-examples --example tour`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[oc_runtime::main]
fn main() {
    oc_examples::log();
    // 1. A hundred thousand coroutines that each sleep 200 ms finish in about 200 ms: a
    //    sleeping coroutine suspends itself, not its worker thread.
    let start = Instant::now();
    let handles: Vec<_> = (0..100_000u64)
        .map(|i| {
            oc_runtime::spawn(move || {
                oc_runtime::sleep(Duration::from_millis(200));
                i
            })
        })
        .collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().expect("sleeper")).sum();
    println!("100000 coroutines slept 200 ms each in {:?} (sum of ids {sum})", start.elapsed());

    // 2. Priorities: among ready coroutines, smaller numbers run first.
    let order = Arc::new(Mutex::new(Vec::new()));
    let jobs: Vec<_> = [5, 1, 3, -2]
        .into_iter()
        .map(|priority| {
            let order = order.clone();
            oc_runtime::task!(move |p: i64| order.lock().expect("lock").push(p), priority, priority)
        })
        .collect();
    for job in jobs {
        job.join().expect("job");
    }
    println!("priorities ran in order {:?}", order.lock().expect("lock"));

    // 3. Cancellation unwinds the coroutine at its next suspension point.
    let sleeper = oc_runtime::task::Builder::new()
        .name("long-sleeper")
        .spawn(|| oc_runtime::sleep(Duration::from_secs(3600)))
        .expect("spawn");
    sleeper.cancel();
    println!("cancelled: {}", sleeper.join().expect_err("cancelled"));

    // 4. A panic comes back as an error; the runtime carries on.
    let crash = oc_runtime::spawn(|| -> u32 { panic!("deliberate") });
    println!("panic came back as: {}", crash.join().expect_err("panicked"));

    // 5. Join with a time-out.
    let mut slow = oc_runtime::spawn(|| oc_runtime::sleep(Duration::from_secs(1)));
    println!("timeout_join: {}", slow.timeout_join(Duration::from_millis(50)).expect_err("times out"));
    slow.cancel();

    let m = oc_runtime::global().metrics();
    println!(
        "metrics: {} workers, {} spawned, {} finished, {} switches, {} steals, {} stacks pooled ({:?} guards)",
        m.workers, m.spawned, m.finished, m.switches, m.steals, m.stacks_pooled, m.stack_guard
    );
}
