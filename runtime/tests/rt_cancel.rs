//! Cancellation: cooperative, unwinding, destructors run.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn cancel_runs_the_destructors_of_a_sleeping_coroutine() {
    let rt = support::runtime(2);
    let dropped = Arc::new(AtomicBool::new(false));
    let after = Arc::new(AtomicBool::new(false));
    let (d, a) = (dropped.clone(), after.clone());
    rt.block_on(move || {
        let h = oc_runtime::spawn(move || {
            let _guard = SetOnDrop(d);
            oc_runtime::sleep(Duration::from_secs(30));
            a.store(true, Ordering::SeqCst);
        });
        oc_runtime::sleep(Duration::from_millis(20));
        let start = Instant::now();
        h.cancel();
        let err = h.join().unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(1), "cancel must not wait for the sleep");
    });
    assert!(dropped.load(Ordering::SeqCst), "destructor did not run");
    assert!(!after.load(Ordering::SeqCst), "code after the suspension point ran");
    support::shutdown(rt);
}

#[test]
fn cancel_before_start_drops_the_closure_and_never_runs_it() {
    let rt = support::runtime(1);
    let dropped = Arc::new(AtomicBool::new(false));
    let ran = Arc::new(AtomicBool::new(false));
    let (d, r) = (dropped.clone(), ran.clone());
    rt.block_on(move || {
        let guard = SetOnDrop(d);
        // One worker, and this coroutine does not suspend before cancelling: the task is queued
        // but has not started.
        let h = oc_runtime::spawn(move || {
            let _g = guard;
            r.store(true, Ordering::SeqCst);
        });
        h.cancel();
        assert!(h.join().unwrap_err().is_cancelled());
    });
    assert!(dropped.load(Ordering::SeqCst));
    assert!(!ran.load(Ordering::SeqCst));
    support::shutdown(rt);
}

#[test]
fn cancel_takes_effect_at_the_next_yield() {
    let rt = support::runtime(1);
    let loops = Arc::new(AtomicUsize::new(0));
    let l = loops.clone();
    rt.block_on(move || {
        let h = oc_runtime::spawn(move || {
            loop {
                l.fetch_add(1, Ordering::SeqCst);
                oc_runtime::yield_now();
            }
        });
        for _ in 0..10 {
            oc_runtime::yield_now();
        }
        h.cancel();
        assert!(h.join().unwrap_err().is_cancelled());
    });
    let n = loops.load(Ordering::SeqCst);
    assert!(n >= 1, "the looping coroutine never ran");
    support::shutdown(rt);
}

#[test]
fn cancel_after_finish_keeps_the_result() {
    let rt = support::runtime(1);
    rt.block_on(|| {
        let h = oc_runtime::spawn(|| 3);
        while !h.is_finished() {
            oc_runtime::yield_now();
        }
        h.cancel();
        assert_eq!(h.join().unwrap(), 3);
    });
    support::shutdown(rt);
}

#[test]
fn a_destructor_that_suspends_while_unwinding_does_not_abort() {
    struct SleepOnDrop(Arc<AtomicBool>);
    impl Drop for SleepOnDrop {
        fn drop(&mut self) {
            oc_runtime::sleep(Duration::from_millis(5));
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let rt = support::runtime(1);
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    rt.block_on(move || {
        let h = oc_runtime::spawn(move || {
            let _g = SleepOnDrop(d);
            oc_runtime::sleep(Duration::from_secs(30));
        });
        oc_runtime::sleep(Duration::from_millis(10));
        h.cancel();
        assert!(h.join().unwrap_err().is_cancelled());
    });
    assert!(done.load(Ordering::SeqCst));
    support::shutdown(rt);
}

#[test]
fn shutdown_cancels_sleepers_and_runs_their_destructors() {
    let rt = support::runtime(2);
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Count(Arc<AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let c = Count(dropped.clone());
            rt.spawn(move || {
                let _c = c;
                oc_runtime::sleep(Duration::from_secs(60));
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    assert!(rt.shutdown(Duration::from_secs(10)));
    assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
    for h in handles {
        assert!(h.join().unwrap_err().is_cancelled());
    }
}
