//! Metrics read from a runtime are that runtime's: other runtimes and plain threads in the
//! same process do not show up in them.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A red zone no stack has: `maybe_grow` always takes a segment.
const ALWAYS: usize = 1 << 40;
const SEGMENT: usize = 64 * 1024;

/// Waits until `f` holds, for 10 s at most.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    f()
}

/// Spawns on `rt` a coroutine that sits on a `maybe_grow` segment until `release` is set.
fn hold_segment_in(rt: &oc_runtime::Runtime, release: Arc<AtomicBool>) -> oc_runtime::JoinHandle<()> {
    rt.spawn(move || {
        oc_runtime::maybe_grow(ALWAYS, SEGMENT, || {
            while !release.load(Ordering::Acquire) {
                oc_runtime::sleep(Duration::from_millis(1));
            }
        })
    })
}

#[test]
fn stack_segments_counts_this_runtimes_coroutines_only() {
    let rt = support::runtime(1);
    let other = support::runtime(1);
    // A plain thread and another runtime's coroutine each sit on a segment.
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        oc_runtime::maybe_grow(ALWAYS, SEGMENT, || {
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
    });
    held_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let release_other = Arc::new(AtomicBool::new(false));
    let other_holder = hold_segment_in(&other, release_other.clone());
    assert!(eventually(|| other.metrics().stack_segments == 1), "{:?}", other.metrics());
    assert_eq!(rt.metrics().stack_segments, 0, "another runtime's and a plain thread's segments");

    // This runtime's own coroutine on a segment counts, and stops counting when it is done.
    let release = Arc::new(AtomicBool::new(false));
    let holder = hold_segment_in(&rt, release.clone());
    assert!(eventually(|| rt.metrics().stack_segments == 1), "{:?}", rt.metrics());
    release.store(true, Ordering::Release);
    holder.join().unwrap();
    assert_eq!(rt.metrics().stack_segments, 0);

    release_other.store(true, Ordering::Release);
    other_holder.join().unwrap();
    release_tx.send(()).unwrap();
    thread.join().unwrap();
    assert_eq!(other.metrics().stack_segments, 0);
    support::shutdown(other);
    support::shutdown(rt);
}

#[test]
fn signal_preemptions_count_this_runtimes_coroutines_only() {
    let busy = oc_runtime::Runtime::builder()
        .workers(1)
        .signal_preemption(true)
        .preempt_interval(Some(Duration::from_millis(2)))
        .build()
        .unwrap();
    let quiet = support::runtime(1);
    busy.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let hog = oc_runtime::spawn(move || while !s.load(Ordering::Relaxed) {});
        let start = Instant::now();
        while oc_runtime::current_metrics().unwrap().signal_preemptions < 5 && start.elapsed() < Duration::from_secs(20)
        {
            oc_runtime::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
    });
    let m = busy.metrics();
    assert!(m.signal_preemptions >= 5, "{m:?}");
    let q = quiet.metrics();
    assert_eq!((q.signal_preemptions, q.signal_preemptions_deferred), (0, 0), "another runtime's preemptions: {q:?}");
    assert!(busy.shutdown(Duration::from_secs(10)));
    support::shutdown(quiet);
}
