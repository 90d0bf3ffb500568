//! Spawns N coroutines that each sleep, and reports how long each phase took.
//!
//! `cargo run --release -p oc-examples --example sleepers -- 100000 500`

use std::time::{Duration, Instant};

fn main() {
    oc_examples::log();
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let workers: usize = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(2);
    let rt = oc_runtime::Runtime::builder().workers(workers).build().expect("runtime");
    let (spawned, done) = rt.block_on(move || {
        let start = Instant::now();
        let handles: Vec<_> =
            (0..n).map(|_| oc_runtime::spawn(move || oc_runtime::sleep(Duration::from_millis(ms)))).collect();
        let spawned = start.elapsed();
        let failed = handles.into_iter().filter_map(|h| h.join().err()).count();
        assert_eq!(failed, 0);
        (spawned, start.elapsed())
    });
    println!("{n} sleepers of {ms} ms on {workers} workers: spawned in {spawned:?}, all done after {done:?}");
    println!("{:?}", rt.metrics());
}
