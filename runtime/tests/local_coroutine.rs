//! `coroutine_local!`: values belong to the coroutine and follow it across workers.

mod support;

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_runtime::sync::channel;

oc_runtime::coroutine_local! {
    static ID: Cell<u64> = Cell::new(0);
    static LOG: RefCell<Vec<String>> = RefCell::new(Vec::new());
}

std::thread_local! {
    static THREAD_ID: Cell<u64> = const { Cell::new(0) };
}

fn thread_id() -> std::thread::ThreadId {
    std::thread::current().id()
}

/// A coroutine that moves to another worker keeps its value there, while a `thread_local!`
/// read at the same place shows the other thread's value.
#[test]
fn values_follow_the_coroutine_across_workers() {
    let rt = oc_runtime::Runtime::builder().workers(2).name("local").build().unwrap();
    let (moved, kept, thread_value) = rt.block_on(|| {
        let (wake_tx, wake_rx) = channel::unbounded::<()>();
        let h = oc_runtime::spawn(move || {
            ID.set(42);
            THREAD_ID.with(|t| t.set(42));
            let first = thread_id();
            let deadline = Instant::now() + Duration::from_secs(20);
            // Wait to be woken from a plain thread until a wake-up lands on the other worker.
            while thread_id() == first && Instant::now() < deadline {
                wake_rx.recv().unwrap();
            }
            (thread_id() != first, ID.get(), THREAD_ID.with(Cell::get))
        });
        let waker = std::thread::spawn(move || {
            while wake_tx.send(()).is_ok() {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let out = h.join().unwrap();
        drop(waker);
        out
    });
    assert!(moved, "the coroutine never moved to the other worker in 20 s");
    assert_eq!(kept, 42, "the coroutine-local value did not follow the coroutine");
    assert_ne!(thread_value, 42, "the thread-local was the old thread's (the test proves nothing)");
    support::shutdown(rt);
}

/// Every coroutine starts from the initial value, and values are dropped when the coroutine
/// finishes.
#[test]
fn each_coroutine_has_its_own_value_dropped_at_its_end() {
    static DROPPED: AtomicUsize = AtomicUsize::new(0);
    struct Tracked(u64);
    impl Drop for Tracked {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }
    oc_runtime::coroutine_local! {
        static TRACKED: RefCell<Option<Tracked>> = RefCell::new(None);
    }
    let rt = oc_runtime::Runtime::builder().workers(2).name("local").build().unwrap();
    let handles: Vec<_> = (0..100u64)
        .map(|i| {
            rt.spawn(move || {
                assert_eq!(ID.get(), 0, "a fresh coroutine saw another's value");
                ID.set(i);
                LOG.with_borrow_mut(|l| l.push(format!("c{i}")));
                TRACKED.set(Some(Tracked(i)));
                oc_runtime::sleep(Duration::from_millis(i % 7));
                assert_eq!(LOG.with_borrow(|l| l.len()), 1);
                TRACKED.with_borrow(|t| t.as_ref().map(|t| t.0)).unwrap() + ID.get()
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), 2 * i as u64);
    }
    assert_eq!(DROPPED.load(Ordering::SeqCst), 100, "values were not dropped when their coroutines ended");
    support::shutdown(rt);
}

/// Outside a coroutine the key is an ordinary thread-local.
#[test]
fn on_plain_threads_each_thread_has_its_own() {
    let a = std::thread::spawn(|| {
        ID.set(7);
        ID.get()
    });
    let b = std::thread::spawn(|| ID.get());
    assert_eq!(a.join().unwrap(), 7);
    assert_eq!(b.join().unwrap(), 0);
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    std::thread::spawn(move || {
        LOG.with_borrow_mut(|l| l.push("x".into()));
        c.store(LOG.with_borrow(Vec::len), Ordering::SeqCst);
    })
    .join()
    .unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}
