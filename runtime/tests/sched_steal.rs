//! Work stealing: a burst spawned on one worker is run by both.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_burst_from_one_worker_is_run_by_both_workers() {
    let rt = support::runtime(2);
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let t = threads.clone();
    rt.block_on(move || {
        let handles: Vec<_> = (0..2000)
            .map(|_| {
                let t = t.clone();
                oc_runtime::spawn(move || {
                    // Enough work per coroutine that the other worker has time to steal, in
                    // two halves: a coroutine queued again after the first may be taken by
                    // the other worker (a migration).
                    for _ in 0..2 {
                        let spin_until = std::time::Instant::now() + Duration::from_micros(25);
                        while std::time::Instant::now() < spin_until {
                            std::hint::spin_loop();
                        }
                        oc_runtime::yield_now();
                    }
                    t.lock().unwrap().insert(std::thread::current().id());
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    let m = rt.metrics();
    // Both workers, and more threads if a hand-off happened while the burst was spawned.
    assert!(threads.lock().unwrap().len() >= 2, "only one worker ran the burst; {m:?}");
    assert!(m.steals > 0, "no steals counted: {m:?}");
    assert!(m.migrations > 0, "no coroutine resumed on another worker: {m:?}");
    assert_eq!(m.migrations, m.per_worker.iter().map(|w| w.migrations).sum::<u64>(), "{m:?}");
    assert!(m.per_worker.iter().all(|w| w.finished > 0), "{m:?}");
    support::shutdown(rt);
}

#[test]
fn metrics_add_up() {
    let rt = support::runtime(2);
    rt.block_on(|| {
        let hs: Vec<_> = (0..500).map(|_| oc_runtime::spawn(oc_runtime::yield_now)).collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    // Let the workers go idle.
    std::thread::sleep(Duration::from_millis(50));
    let m = rt.metrics();
    assert_eq!(m.workers, 2);
    assert_eq!(m.spawned, 501);
    assert_eq!(m.finished, 501);
    assert_eq!(m.alive, 0);
    assert!(m.switches >= 1002, "{m:?}");
    assert!(m.parks > 0, "{m:?}");
    assert!(m.stacks_mapped > 0 && m.stacks_pooled > 0, "{m:?}");
    assert_eq!(m.stacks_mapped, m.stacks_pooled, "idle runtime: every stack is pooled; {m:?}");
    assert_eq!(m.per_worker.len(), 2);
    assert_eq!(m.per_worker.iter().map(|w| w.queue_depth).sum::<usize>(), 0);
    support::shutdown(rt);
}

#[test]
fn idle_workers_sleep_instead_of_spinning() {
    let rt = support::runtime(2);
    rt.block_on(|| ());
    std::thread::sleep(Duration::from_millis(50));
    let before = rt.metrics();
    std::thread::sleep(Duration::from_millis(300));
    let after = rt.metrics();
    // A worker that polled in a loop would park (or switch) many times per second.
    assert!(after.parks - before.parks <= 2, "{before:?} -> {after:?}");
    support::shutdown(rt);
}

#[test]
fn one_worker_counts_no_migrations() {
    let rt = support::runtime(1);
    rt.block_on(|| {
        let hs: Vec<_> = (0..200)
            .map(|_| {
                oc_runtime::spawn(|| {
                    for _ in 0..5 {
                        oc_runtime::yield_now();
                    }
                    oc_runtime::sleep(Duration::from_millis(1));
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let m = rt.metrics();
    // Every coroutine was resumed six times after its first run, always on the one worker.
    assert!(m.switches >= 200 * 7, "{m:?}");
    assert_eq!(m.migrations, 0, "{m:?}");
    support::shutdown(rt);
}
