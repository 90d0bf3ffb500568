//! An allocation workload for the preemption tests: any allocator with per-thread state
//! corrupts its heap if a preempted coroutine's thread runs other code meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Allocates, fills, checks and frees buffers of many sizes; returns how many it checked.
pub(crate) fn churn(seed: u64, stop: &AtomicBool) -> u64 {
    let mut rounds = 0u64;
    let mut x = seed | 1;
    let mut kept: Vec<Vec<u64>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 200) as usize + 1;
        let v: Vec<u64> = (0..len as u64).map(|i| i ^ x).collect();
        kept.push(v);
        if kept.len() > 32 {
            let v = kept.swap_remove((x % 32) as usize);
            let first = v[0];
            for (i, value) in v.iter().enumerate() {
                assert_eq!(*value, i as u64 ^ first, "a buffer was overwritten: the heap is corrupt");
            }
        }
        let s = format!("{x:x}-{rounds}");
        assert!(s.ends_with(&rounds.to_string()));
        rounds += 1;
    }
    rounds
}

/// Preemptible coroutines that allocate and free next to ordinary coroutines that do too, on
/// one worker, until 1,500 preemptions: every buffer keeps its contents.
pub(crate) fn preemption_amid_allocation() {
    let rt =
        oc_runtime::Runtime::builder().workers(1).preempt_interval(Some(Duration::from_millis(1))).build().unwrap();
    let (hogs, others, preempted) = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let start_preemptions = oc_runtime::current_metrics().unwrap().signal_preemptions;
        let hogs: Vec<_> = (0..2u64)
            .map(|i| {
                let stop = stop.clone();
                oc_runtime::task::Builder::new().preemptible(true).spawn(move || churn(i + 1, &stop)).unwrap()
            })
            .collect();
        // Ordinary coroutines on the same worker allocate between the hogs' slices.
        let others: Vec<_> = (0..2u64)
            .map(|i| {
                let stop = stop.clone();
                oc_runtime::spawn(move || {
                    let mut rounds = 0;
                    let inner = AtomicBool::new(false);
                    while !stop.load(Ordering::Relaxed) {
                        let _ = &inner;
                        let mut x = i + rounds + 7;
                        let v: Vec<String> = (0..16)
                            .map(|_| {
                                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                                format!("{x}")
                            })
                            .collect();
                        assert_eq!(v.len(), 16);
                        rounds += 1;
                        oc_runtime::yield_now();
                    }
                    rounds
                })
            })
            .collect();
        let started = Instant::now();
        while oc_runtime::current_metrics().unwrap().signal_preemptions < start_preemptions + 1500
            && started.elapsed() < Duration::from_secs(20)
        {
            oc_runtime::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let preempted = oc_runtime::current_metrics().unwrap().signal_preemptions - start_preemptions;
        let hogs: Vec<u64> = hogs.into_iter().map(|h| h.join().unwrap()).collect();
        let others: Vec<u64> = others.into_iter().map(|h| h.join().unwrap()).collect();
        (hogs, others, preempted)
    });
    assert!(preempted >= 1500, "only {preempted} preemptions");
    assert!(hogs.iter().all(|&n| n > 0) && others.iter().all(|&n| n > 0), "{hogs:?} {others:?}");
    assert!(rt.shutdown(Duration::from_secs(10)));
}
