//! A coroutine dropped while suspended: nothing can wake it any more (its join handle and
//! every waker are gone), so it is unwound where its last reference goes. It must count as
//! finished (so that `shutdown` completes), its destructors must run as the coroutine, and
//! a suspension in them must return instead of switching.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// What a destructor saw: `in_coroutine()`, `current_id()`.
type Seen = (bool, Option<u64>);

/// Reports what its destructor sees, after calling `during` there.
struct Witness {
    tx: mpsc::Sender<Seen>,
    during: fn(),
}

impl Drop for Witness {
    fn drop(&mut self) {
        (self.during)();
        let _ = self.tx.send((oc_runtime::in_coroutine(), oc_runtime::current_id()));
    }
}

/// Waits for the runtime's `alive` count to reach 0.
fn alive_drops_to_zero(rt: &oc_runtime::Runtime) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if rt.metrics().alive == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

/// Spawns (from a coroutine on the only worker) a coroutine that parks with nothing that
/// could wake it, and drops its handle before it runs: the worker's reference is the last
/// one, dropped on the scheduler when the coroutine parks.
fn dropped_on_the_scheduler(during: fn()) -> (Seen, u64, oc_runtime::Runtime) {
    let rt = support::runtime(1);
    let (tx, rx) = mpsc::channel();
    let id = rt.block_on(move || {
        let handle = oc_runtime::spawn(move || {
            let _witness = Witness { tx, during };
            oc_runtime::task::park();
            unreachable!("nothing can wake this coroutine");
        });
        handle.id()
    });
    let seen = rx.recv_timeout(Duration::from_secs(10)).expect("the dropped coroutine's destructors ran");
    (seen, id, rt)
}

#[test]
fn a_coroutine_dropped_while_suspended_counts_as_finished() {
    let (seen, id, rt) = dropped_on_the_scheduler(|| {});
    assert_eq!(seen, (true, Some(id)), "destructors run as the dropped coroutine");
    assert!(alive_drops_to_zero(&rt), "alive stays at {}", rt.metrics().alive);
    let metrics = rt.metrics();
    assert_eq!(metrics.finished, metrics.spawned);
    let start = Instant::now();
    assert!(rt.shutdown(Duration::from_secs(20)), "shutdown waited for the dropped coroutine");
    assert!(start.elapsed() < Duration::from_secs(10), "shutdown took {:?}", start.elapsed());
}

#[test]
fn a_coroutine_whose_handle_goes_last_on_a_plain_thread_unwinds_as_itself() {
    let rt = support::runtime(2);
    let (tx, rx) = mpsc::channel();
    let (parking_tx, parking_rx) = mpsc::channel();
    let handle = rt.spawn(move || {
        let _witness = Witness { tx, during: || {} };
        parking_tx.send(()).unwrap();
        oc_runtime::task::park();
        unreachable!("nothing can wake this coroutine");
    });
    let id = handle.id();
    parking_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // Usually parked by now, so this thread drops the last reference (otherwise the worker
    // does, once it parks): either way the coroutine unwinds as itself.
    std::thread::sleep(Duration::from_millis(50));
    drop(handle);
    let seen = rx.recv_timeout(Duration::from_secs(10)).expect("the dropped coroutine's destructors ran");
    assert_eq!(seen, (true, Some(id)));
    assert!(alive_drops_to_zero(&rt), "alive stays at {}", rt.metrics().alive);
    support::shutdown(rt);
}

#[test]
fn a_dropped_coroutines_destructors_cannot_suspend() {
    // Each of these would switch the coroutine out; nothing could resume it, so they return.
    let (seen, id, rt) = dropped_on_the_scheduler(|| {
        oc_runtime::yield_now();
        oc_runtime::task::park();
        let start = Instant::now();
        oc_runtime::sleep(Duration::from_millis(20));
        assert!(start.elapsed() >= Duration::from_millis(20), "sleep returned early");
        assert!(oc_runtime::in_coroutine());
    });
    assert_eq!(seen, (true, Some(id)));
    assert!(alive_drops_to_zero(&rt), "alive stays at {}", rt.metrics().alive);
    // The worker survived the unwind: it still runs coroutines.
    assert_eq!(rt.block_on(|| 7), 7);
    support::shutdown(rt);
}

#[test]
fn handles_dropped_at_once_on_two_threads_unwind_every_coroutine_once() {
    const N: usize = 2000;
    let rt = support::runtime(2);
    let unwound = Arc::new(AtomicUsize::new(0));
    struct Count(Arc<AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let (tx, rx) = mpsc::channel();
    let joins: Vec<_> = (0..N)
        .map(|_| {
            let (tx, count) = (tx.clone(), Count(unwound.clone()));
            rt.spawn(move || {
                let _count = count;
                tx.send(oc_runtime::task::current().unwrap()).unwrap();
                oc_runtime::task::park();
                unreachable!("nothing wakes this coroutine");
            })
        })
        .collect();
    let handles: Vec<_> = (0..N).map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
    // Let every coroutine park (each then holds no reference but these two).
    assert!(
        (0..1000).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            rt.metrics().injector_depth == 0 && rt.metrics().per_worker.iter().all(|w| w.queue_depth == 0)
        }),
        "the coroutines did not park"
    );
    std::thread::sleep(Duration::from_millis(50));
    // Both threads drop the two references of coroutine `i` at the same moment: each arrives,
    // then spins until the other has arrived too.
    let arrived = Arc::new(AtomicUsize::new(0));
    let meet = |arrived: &AtomicUsize, i: usize| {
        arrived.fetch_add(1, Ordering::AcqRel);
        let mut spins = 0u32;
        let since = Instant::now();
        while arrived.load(Ordering::Acquire) < 2 * (i + 1) {
            spins += 1;
            // On a loaded machine the other thread may not be running: let it.
            if spins.is_multiple_of(256) {
                assert!(since.elapsed() < Duration::from_secs(10), "the other thread stopped (it panicked)");
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    };
    let a = arrived.clone();
    let other = std::thread::spawn(move || {
        for (i, h) in handles.into_iter().enumerate() {
            meet(&a, i);
            drop(h);
        }
    });
    for (i, j) in joins.into_iter().enumerate() {
        meet(&arrived, i);
        drop(j);
    }
    other.join().unwrap();
    assert_eq!(unwound.load(Ordering::Relaxed), N, "every coroutine unwound once");
    assert!(alive_drops_to_zero(&rt), "alive stays at {}", rt.metrics().alive);
    support::shutdown(rt);
}
