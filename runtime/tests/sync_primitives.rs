//! `RwLock`, `Semaphore`, `Barrier`, `WaitGroup`, `OnceCell` and `LazyLock` under coroutines:
//! correctness under contention, waiting without blocking the worker, and cancellation.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;
use oc_runtime::sync::{Barrier, LazyLock, OnceCell, RwLock, Semaphore, WaitGroup};

fn runtime(workers: usize) -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(workers).io_backend(IoBackend::Epoll).name("prims").build().unwrap()
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    let rt = runtime(2);
    rt.block_on(|| {
        let lock = Arc::new(RwLock::new(0u64));
        let readers_inside = Arc::new(AtomicUsize::new(0));
        let max_readers = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (lock, inside, max) = (lock.clone(), readers_inside.clone(), max_readers.clone());
                oc_runtime::spawn(move || {
                    for n in 0..300 {
                        if (i + n) % 4 == 0 {
                            let mut w = lock.write();
                            assert_eq!(inside.load(Ordering::SeqCst), 0, "a writer with readers inside");
                            *w += 1;
                        } else {
                            let r = lock.read();
                            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                            max.fetch_max(now, Ordering::SeqCst);
                            let _ = *r;
                            oc_runtime::task::yield_now();
                            inside.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*lock.read(), 16 * 300 / 4);
        assert!(max_readers.load(Ordering::SeqCst) >= 2, "readers never shared the lock");
        // A waiting writer holds back new readers, and a cancelled writer lets them in again.
        let r = lock.read();
        let writer = {
            let lock = lock.clone();
            oc_runtime::spawn(move || *lock.write() += 1)
        };
        oc_runtime::sleep(Duration::from_millis(10));
        assert!(lock.try_read().is_none(), "a new reader overtook a waiting writer");
        writer.cancel();
        assert!(writer.join().unwrap_err().is_cancelled());
        assert!(lock.try_read().is_some(), "the cancelled writer still holds readers back");
        drop(r);
        assert!(lock.try_write().is_some());
        assert!(lock.try_write_for(Duration::from_millis(1)).is_some());
    });
    support::shutdown(rt);
}

#[test]
fn semaphore_bounds_concurrency_and_survives_cancellation() {
    let rt = runtime(2);
    rt.block_on(|| {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..20)
            .map(|_| {
                let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
                oc_runtime::spawn(move || {
                    for _ in 0..20 {
                        let _permit = sem.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        oc_runtime::task::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 3, "the semaphore let more than 3 in, or never 3");
        assert_eq!(sem.available_permits(), 3);

        let held: Vec<_> = (0..3).map(|_| sem.acquire()).collect();
        let ghost = {
            let sem = sem.clone();
            oc_runtime::spawn(move || sem.acquire().forget())
        };
        oc_runtime::sleep(Duration::from_millis(10));
        ghost.cancel();
        assert!(ghost.join().unwrap_err().is_cancelled());
        let start = Instant::now();
        assert!(sem.acquire_timeout(Duration::from_millis(20)).is_none());
        assert!(start.elapsed() >= Duration::from_millis(20));
        drop(held);
        assert_eq!(sem.available_permits(), 3, "the cancelled waiter took a permit");
    });
    support::shutdown(rt);
}

#[test]
fn barrier_releases_all_and_tolerates_a_cancelled_party() {
    let rt = runtime(2);
    rt.block_on(|| {
        let barrier = Arc::new(Barrier::new(4));
        let arrived = Arc::new(AtomicUsize::new(0));
        for _round in 0..3 {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let (barrier, arrived) = (barrier.clone(), arrived.clone());
                    oc_runtime::spawn(move || {
                        arrived.fetch_add(1, Ordering::SeqCst);
                        let leader = barrier.wait().is_leader();
                        // Nobody passes before all four arrived.
                        assert_eq!(arrived.load(Ordering::SeqCst) % 4, 0);
                        leader
                    })
                })
                .collect();
            let leaders = handles.into_iter().map(|h| h.join().unwrap()).filter(|&l| l).count();
            assert_eq!(leaders, 1);
        }
        // A party cancelled while waiting takes its arrival back.
        let ghost = {
            let barrier = barrier.clone();
            oc_runtime::spawn(move || barrier.wait())
        };
        oc_runtime::sleep(Duration::from_millis(10));
        ghost.cancel();
        assert!(ghost.join().unwrap_err().is_cancelled());
        let three: Vec<_> = (0..3)
            .map(|_| {
                let barrier = barrier.clone();
                oc_runtime::spawn(move || barrier.wait())
            })
            .collect();
        oc_runtime::sleep(Duration::from_millis(20));
        assert!(three.iter().all(|h| !h.is_finished()), "the cancelled party still counted");
        barrier.wait();
        for h in three {
            h.join().unwrap();
        }
    });
    support::shutdown(rt);
}

#[test]
fn wait_group_waits_for_every_done() {
    let rt = runtime(2);
    rt.block_on(|| {
        let wg = WaitGroup::new();
        let done = Arc::new(AtomicUsize::new(0));
        for i in 0..50u64 {
            wg.add(1);
            let (wg, done) = (wg.clone(), done.clone());
            oc_runtime::spawn(move || {
                oc_runtime::sleep(Duration::from_millis(i % 5));
                done.fetch_add(1, Ordering::SeqCst);
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(done.load(Ordering::SeqCst), 50);
        wg.add(1);
        assert!(!wg.wait_timeout(Duration::from_millis(10)));
        wg.done();
        assert!(wg.wait_timeout(Duration::from_millis(10)));
    });
    // From a plain thread too.
    let wg = WaitGroup::new();
    wg.add(2);
    for _ in 0..2 {
        let wg = wg.clone();
        rt.spawn(move || wg.done());
    }
    wg.wait();
    assert_eq!(wg.count(), 0);
    support::shutdown(rt);
}

#[test]
fn once_cell_runs_one_initialiser_and_retries_after_a_panic() {
    let rt = runtime(2);
    rt.block_on(|| {
        let cell = Arc::new(OnceCell::<u64>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let (cell, runs) = (cell.clone(), runs.clone());
                oc_runtime::spawn(move || {
                    *cell.get_or_init(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        oc_runtime::sleep(Duration::from_millis(20)); // others wait, suspended
                        100 + i
                    })
                })
            })
            .collect();
        let values: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(values.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(cell.set(7), Err(7));

        let cell = Arc::new(OnceCell::<&str>::new());
        let c = cell.clone();
        let failed = oc_runtime::spawn(move || *c.get_or_init(|| panic!("first initialiser fails")));
        assert!(failed.join().unwrap_err().is_panic());
        assert_eq!(cell.get(), None);
        assert_eq!(*cell.get_or_init(|| "second"), "second");
    });
    support::shutdown(rt);
}

static SQUARES: LazyLock<Vec<u64>> = LazyLock::new(|| (0..10).map(|i| i * i).collect());

#[test]
fn lazy_lock_initialises_on_first_use() {
    let rt = runtime(2);
    let sums: Vec<u64> = rt.block_on(|| {
        let handles: Vec<_> = (0..8).map(|_| oc_runtime::spawn(|| SQUARES.iter().sum::<u64>())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(sums.iter().all(|&s| s == 285));
    support::shutdown(rt);
}
