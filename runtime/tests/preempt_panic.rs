//! A coroutine preempted while it panics (in the panic hook, or in a destructor that runs
//! during unwinding) must leave std's per-thread panic state to itself: no other coroutine may
//! see `std::thread::panicking()`, poison a mutex, or abort on a panic of its own.
//!
//! Its own test binary: it installs a panic hook that computes (process-wide state).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        for _ in 0..1000 {
            std::hint::spin_loop();
        }
    }
}

/// A destructor that computes for a while: it runs during the unwinding of a panic.
struct SlowDrop(Duration, Arc<AtomicU64>);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
        spin_for(self.0);
        self.1.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn a_coroutine_preempted_while_panicking_leaves_no_panic_state_to_the_others() {
    // A hook that computes for a while (where preemption signals land) and prints nothing.
    std::panic::set_hook(Box::new(|_| spin_for(Duration::from_millis(20))));
    let rt =
        oc_runtime::Runtime::builder().workers(1).preempt_interval(Some(Duration::from_millis(1))).build().unwrap();
    let (saw_panicking, checks, poisoned) = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let saw = Arc::new(AtomicU64::new(0));
        let checks = Arc::new(AtomicU64::new(0));
        let lock = Arc::new(std::sync::Mutex::new(0u64));
        let unwinding = Arc::new(AtomicU64::new(0));
        // Ordinary coroutines on the same worker look at std's per-thread panic state.
        let checkers: Vec<_> = (0..2)
            .map(|_| {
                let (stop, saw, checks, lock) = (stop.clone(), saw.clone(), checks.clone(), lock.clone());
                let unwinding = unwinding.clone();
                oc_runtime::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        if std::thread::panicking() {
                            saw.fetch_add(1, Ordering::Relaxed);
                        }
                        // A guard dropped while the thread "panics" poisons the mutex.
                        *lock.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        // Checks made while a preemptible coroutine computes in its unwinding.
                        if unwinding.load(Ordering::SeqCst) > 0 {
                            checks.fetch_add(1, Ordering::Relaxed);
                        }
                        oc_runtime::yield_now();
                    }
                })
            })
            .collect();
        // Preemptible coroutines panic, and a destructor computes during each unwinding
        // (and one computes in a panic hook-like spot: the panic's own drop chain).
        let panickers: Vec<_> = (0..4)
            .map(|_| {
                let unwinding = unwinding.clone();
                oc_runtime::task::Builder::new()
                    .preemptible(true)
                    .spawn(move || {
                        let _slow = SlowDrop(Duration::from_millis(300), unwinding);
                        panic!("a panic whose unwinding computes");
                    })
                    .unwrap()
            })
            .collect();
        for p in panickers {
            assert!(p.join().unwrap_err().is_panic());
        }
        stop.store(true, Ordering::Relaxed);
        for c in checkers {
            c.join().unwrap();
        }
        let poisoned = lock.is_poisoned();
        (saw.load(Ordering::Relaxed), checks.load(Ordering::Relaxed), poisoned)
    });
    assert!(checks > 20, "the checkers hardly ran while the panicking coroutines computed ({checks} checks)");
    assert_eq!(saw_panicking, 0, "other coroutines saw std::thread::panicking() in {saw_panicking} of {checks} checks");
    assert!(!poisoned, "a mutex was poisoned by a coroutine that was not panicking");
    assert!(rt.shutdown(Duration::from_secs(10)));
}
