//! `Mutex` and `Condvar`: exclusive access under contention, waiting without blocking the
//! worker, cancellation of waiters, time-outs, and use from plain threads.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;
use oc_runtime::sync::{Condvar, Mutex};

const BACKENDS: [IoBackend; 2] = [IoBackend::Uring, IoBackend::Epoll];

fn runtime(workers: usize, backend: IoBackend) -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(workers).io_backend(backend).name("mutex").build().unwrap()
}

/// 32 coroutines on 2 workers (and 2 plain threads) increment a counter under the lock,
/// suspending inside the critical section now and then: no update is lost and nobody is
/// ever inside together.
#[test]
fn exclusive_under_contention() {
    for backend in BACKENDS {
        let rt = runtime(2, backend);
        let lock = Arc::new(Mutex::new(0u64));
        let inside = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        let mut g = lock.lock();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                        *g += 1;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let (lock, inside) = (lock.clone(), inside.clone());
                rt.spawn(move || {
                    for n in 0..2_000 {
                        let mut g = lock.lock();
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
                        *g += 1;
                        if (n + i) % 97 == 0 {
                            oc_runtime::task::yield_now(); // hold it across a suspension
                        }
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), 34 * 2_000, "{backend:?}");
        assert!(!lock.is_locked());
        support::shutdown(rt);
    }
}

/// On a single worker, a coroutine waiting for the lock does not hold the worker: another
/// coroutine on it runs to completion before the holder lets go.
#[test]
fn waiting_does_not_block_the_worker() {
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        let outcome = rt.block_on(move || {
            let lock = Arc::new(Mutex::new(Vec::<&str>::new()));
            let guard = lock.lock();
            let waiter = {
                let lock = lock.clone();
                oc_runtime::spawn(move || lock.lock().push("waiter"))
            };
            oc_runtime::task::yield_now(); // let the waiter reach lock() and suspend
            let ran = Arc::new(AtomicUsize::new(0));
            let other = {
                let ran = ran.clone();
                oc_runtime::spawn(move || {
                    for _ in 0..100 {
                        ran.fetch_add(1, Ordering::SeqCst);
                        oc_runtime::task::yield_now();
                    }
                })
            };
            // Bounded wait: if the waiter blocked the worker, `other` could never run.
            let mut other = other;
            let finished = other.timeout_join(Duration::from_secs(10)).is_ok();
            let during = ran.load(Ordering::SeqCst);
            let waiter_done_early = waiter.is_finished();
            drop(guard);
            waiter.join().unwrap();
            let contents = lock.lock().clone();
            (finished, during, waiter_done_early, contents)
        });
        let (finished, during, early, contents) = outcome;
        assert!(finished && during == 100, "{backend:?}: the other coroutine ran {during} of 100 steps");
        assert!(!early, "{backend:?}: the waiter got the lock while it was held");
        assert_eq!(contents, ["waiter"]);
        support::shutdown(rt);
    }
}

/// A coroutine cancelled while waiting for the lock leaves the queue; the lock then works
/// for everyone (the next unlock has no ghost to wake, and new lockers get in).
#[test]
fn cancelled_waiter_leaves_the_mutex_usable() {
    for backend in BACKENDS {
        let rt = runtime(2, backend);
        rt.block_on(move || {
            let lock = Arc::new(Mutex::new(0u32));
            let guard = lock.lock();
            let dropped = Arc::new(AtomicBool::new(false));
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let (lock, dropped) = (lock.clone(), dropped.clone());
                    oc_runtime::spawn(move || {
                        struct Flag(Arc<AtomicBool>);
                        impl Drop for Flag {
                            fn drop(&mut self) {
                                self.0.store(true, Ordering::SeqCst);
                            }
                        }
                        let _flag = Flag(dropped);
                        *lock.lock() += 100;
                    })
                })
                .collect();
            oc_runtime::sleep(Duration::from_millis(20));
            for w in &waiters {
                w.cancel();
            }
            for w in waiters {
                assert!(w.join().unwrap_err().is_cancelled(), "{backend:?}");
            }
            assert!(dropped.load(Ordering::SeqCst), "destructors ran as the waiters unwound");
            drop(guard);
            assert!(!lock.is_locked());
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let lock = lock.clone();
                    oc_runtime::spawn(move || *lock.lock() += 1)
                })
                .collect();
            for w in workers {
                w.join().unwrap();
            }
            assert_eq!(*lock.lock(), 4, "{backend:?}: a cancelled waiter changed the value");
        });
        support::shutdown(rt);
    }
}

#[test]
fn try_lock_and_timeout() {
    let rt = runtime(1, IoBackend::Epoll);
    rt.block_on(|| {
        let lock = Arc::new(Mutex::new(()));
        let g = lock.lock();
        assert!(lock.try_lock().is_none());
        let start = Instant::now();
        assert!(lock.try_lock_for(Duration::from_millis(30)).is_none());
        assert!(start.elapsed() >= Duration::from_millis(30));
        let l2 = lock.clone();
        let later = oc_runtime::spawn(move || l2.try_lock_for(Duration::from_secs(10)).is_some());
        oc_runtime::sleep(Duration::from_millis(10));
        drop(g);
        assert!(later.join().unwrap(), "a timed lock gets the lock released before its deadline");
        assert!(lock.try_lock().is_some());
    });
    support::shutdown(rt);
}

/// Condvar: waiting releases the mutex, notify wakes, and a cancelled waiter unwinds holding
/// the mutex again (so its guard's release balances) and passes no notification to nobody.
#[test]
fn condvar_waits_notifies_and_cancels() {
    for backend in BACKENDS {
        let rt = runtime(2, backend);
        rt.block_on(move || {
            let state = Arc::new((Mutex::new(0u32), Condvar::new()));
            let waiters: Vec<_> = (0..4)
                .map(|i| {
                    let state = state.clone();
                    oc_runtime::spawn(move || {
                        let (m, cv) = &*state;
                        let mut g = m.lock();
                        cv.wait_while(&mut g, |v| *v <= i);
                        *g
                    })
                })
                .collect();
            oc_runtime::sleep(Duration::from_millis(10));
            for v in 1..=4 {
                *state.0.lock() = v;
                state.1.notify_all();
                oc_runtime::sleep(Duration::from_millis(2));
            }
            for w in waiters {
                assert!(w.join().unwrap() >= 1);
            }

            // Cancelled while waiting on the condvar.
            let cancelled = {
                let state = state.clone();
                oc_runtime::spawn(move || {
                    let (m, cv) = &*state;
                    let mut g = m.lock();
                    loop {
                        cv.wait(&mut g);
                    }
                })
            };
            oc_runtime::sleep(Duration::from_millis(10));
            cancelled.cancel();
            assert!(cancelled.join().unwrap_err().is_cancelled());
            assert!(!state.0.is_locked(), "{backend:?}: the cancelled waiter left the mutex locked");
            let (m, cv) = &*state;
            let mut g = m.lock();
            let start = Instant::now();
            assert!(cv.wait_for(&mut g, Duration::from_millis(20)), "nobody notifies: times out");
            assert!(start.elapsed() >= Duration::from_millis(20));
        });
        support::shutdown(rt);
    }
}

#[test]
fn condvar_between_a_thread_and_a_coroutine() {
    let rt = runtime(1, IoBackend::Epoll);
    let state = Arc::new((Mutex::new(false), Condvar::new()));
    let s = state.clone();
    let h = rt.spawn(move || {
        let (m, cv) = &*s;
        let mut ready = m.lock();
        cv.wait_while(&mut ready, |r| !*r);
        true
    });
    std::thread::sleep(Duration::from_millis(20));
    *state.0.lock() = true;
    state.1.notify_one();
    assert!(h.join().unwrap());
    support::shutdown(rt);
}
