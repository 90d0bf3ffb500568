//! The async bridge with tokio: awaiting a coroutine's `JoinHandle` in a tokio task, a
//! coroutine waiting for a tokio future without holding its worker, and the async forms of
//! channels and locks.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;
use oc_runtime::sync::{Mutex, RwLock, Semaphore, WaitGroup, channel};

const BACKENDS: [IoBackend; 2] = [IoBackend::Uring, IoBackend::Epoll];

fn runtime(workers: usize, backend: IoBackend) -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(workers).io_backend(backend).name("bridge").build().unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A tokio task spawns coroutines and awaits their `JoinHandle`s; a panic comes back as an
/// error, not as a panic of the tokio task.
#[test]
fn tokio_task_awaits_a_coroutine() {
    for backend in BACKENDS {
        let rt = Arc::new(runtime(2, backend));
        let tokio = tokio_rt();
        let (sum, panicked) = tokio.block_on(async {
            let rt2 = rt.clone();
            tokio::spawn(async move {
                let handles: Vec<_> = (0..10u64)
                    .map(|i| {
                        rt2.spawn(move || {
                            oc_runtime::sleep(Duration::from_millis(5));
                            i * i
                        })
                    })
                    .collect();
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                let failing = rt2.spawn(|| -> u8 { panic!("coroutine fails") });
                (sum, failing.await.unwrap_err().is_panic())
            })
            .await
            .unwrap()
        });
        assert_eq!(sum, 285, "{backend:?}");
        assert!(panicked);
        drop(tokio);
        support::shutdown(Arc::into_inner(rt).unwrap());
    }
}

/// A coroutine waits for a tokio oneshot completed by another thread; meanwhile the other
/// coroutine on the same single worker runs to its end. The other thread completes the
/// oneshot only once that coroutine is done (or after 30 s): had the wait held the worker,
/// the other coroutine could not have finished first.
#[test]
fn waiting_for_a_future_lets_the_worker_run_others() {
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        let (tx, rx) = tokio::sync::oneshot::channel::<&str>();
        let steps = Arc::new(AtomicUsize::new(0));
        let (waited, other_done_at, got_at) = rt.block_on({
            let steps = steps.clone();
            move || {
                let waiter = oc_runtime::spawn(move || {
                    let v = oc_runtime::wait_future(rx).unwrap();
                    (v, Instant::now())
                });
                oc_runtime::task::yield_now(); // the waiter is waiting now
                let s = steps.clone();
                let other = oc_runtime::spawn(move || {
                    for _ in 0..50 {
                        s.fetch_add(1, Ordering::SeqCst);
                        oc_runtime::sleep(Duration::from_millis(1));
                    }
                    Instant::now()
                });
                let completer = std::thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while steps.load(Ordering::SeqCst) < 50 && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                    tx.send("from another thread").unwrap();
                });
                let other_done_at = other.join().unwrap();
                let (v, got_at) = waiter.join().unwrap();
                completer.join().unwrap();
                (v, other_done_at, got_at)
            }
        });
        assert_eq!(waited, "from another thread");
        assert!(
            other_done_at < got_at,
            "{backend:?}: the other coroutine finished only after the wait ended (the wait held the worker)"
        );
        support::shutdown(rt);
    }
}

/// A coroutine cancelled while waiting for a future drops it (the oneshot's sender sees
/// it closed); `wait_future_timeout` gives up in time.
#[test]
fn waiting_for_a_future_is_cancellable_and_can_time_out() {
    let rt = runtime(1, IoBackend::Epoll);
    let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
    let h = rt.spawn(move || oc_runtime::wait_future(rx));
    std::thread::sleep(Duration::from_millis(20));
    h.cancel();
    assert!(h.join().unwrap_err().is_cancelled());
    assert!(tx.is_closed(), "the future was not dropped when the coroutine unwound");

    let (_tx, rx) = tokio::sync::oneshot::channel::<u8>();
    let start = Instant::now();
    let r = rt.block_on(move || oc_runtime::wait_future_timeout(rx, Duration::from_millis(30)));
    assert!(r.is_err());
    assert!(start.elapsed() >= Duration::from_millis(30));
    support::shutdown(rt);
}

/// A tokio task and coroutines talk over oc channels without blocking tokio's only thread:
/// a second tokio task keeps ticking while the first awaits.
#[test]
fn channels_between_tokio_and_coroutines() {
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        let (to_co_tx, to_co_rx) = channel::bounded::<u64>(1);
        let (to_tokio_tx, to_tokio_rx) = channel::bounded::<u64>(0);
        let echo = rt.spawn(move || {
            for n in to_co_rx.iter() {
                oc_runtime::sleep(Duration::from_millis(1));
                to_tokio_tx.send(n + 1).unwrap();
            }
        });
        let tokio = tokio_rt();
        let (sum, ticks) = tokio.block_on(async move {
            let ticks = Arc::new(AtomicUsize::new(0));
            let t = ticks.clone();
            let ticker = tokio::spawn(async move {
                loop {
                    t.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            });
            let mut sum = 0;
            for n in 0..50 {
                to_co_tx.send_async(n).await.unwrap();
                sum += to_tokio_rx.recv_async().await.unwrap();
            }
            drop(to_co_tx);
            assert!(to_tokio_rx.recv_async().await.is_err(), "disconnected once the echo ends");
            ticker.abort();
            (sum, ticks.load(Ordering::SeqCst))
        });
        assert_eq!(sum, (1..=50).sum::<u64>());
        assert!(ticks >= 10, "{backend:?}: tokio's thread was blocked (ticker ran {ticks} times)");
        echo.join().unwrap();
        support::shutdown(rt);
    }
}

/// The async forms of the locks: a tokio task waits for a mutex a coroutine holds, for a
/// semaphore permit and for a wait group, without blocking tokio's thread.
#[test]
fn locks_have_async_forms() {
    let rt = runtime(1, IoBackend::Uring);
    let mutex = Arc::new(Mutex::new(0u32));
    let sem = Arc::new(Semaphore::new(0));
    let wg = WaitGroup::new();
    wg.add(1);
    let (locked_tx, locked_rx) = channel::bounded::<()>(1);
    let (go_tx, go_rx) = channel::bounded::<()>(1);
    let holder = {
        let (mutex, sem, wg) = (mutex.clone(), sem.clone(), wg.clone());
        rt.spawn(move || {
            let mut g = mutex.lock();
            locked_tx.send(()).unwrap();
            go_rx.recv().unwrap(); // holds the lock until the tokio side has tried
            *g += 1;
            drop(g);
            sem.add_permits(1);
            wg.done();
        })
    };
    let tokio = tokio_rt();
    tokio.block_on(async {
        locked_rx.recv_async().await.unwrap();
        // A lock future dropped before it completes leaves no ghost.
        let abandoned = tokio::time::timeout(Duration::from_millis(1), mutex.lock_async()).await;
        assert!(abandoned.is_err(), "got a lock the coroutine holds");
        go_tx.send_async(()).await.unwrap();
        let mut g = mutex.lock_async().await;
        assert_eq!(*g, 1, "got the lock before the holder let go");
        *g += 1;
        drop(g);
        sem.acquire_async().await.forget();
        wg.wait_async().await;
    });
    holder.join().unwrap();
    assert_eq!(*mutex.lock(), 2);
    assert!(!mutex.is_locked());
    support::shutdown(rt);
}

/// `RwLock`'s async forms: readers share with a coroutine reader, a writer waits for it.
#[test]
fn rwlock_has_async_forms() {
    let rt = runtime(1, IoBackend::Epoll);
    let lock = Arc::new(RwLock::new(String::from("a")));
    let (reading_tx, reading_rx) = channel::bounded::<()>(1);
    let (go_tx, go_rx) = channel::bounded::<()>(1);
    let reader = {
        let lock = lock.clone();
        rt.spawn(move || {
            let r = lock.read();
            reading_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            r.len()
        })
    };
    let tokio = tokio_rt();
    tokio.block_on(async {
        reading_rx.recv_async().await.unwrap();
        assert_eq!(*lock.read_async().await, "a", "readers share the lock");
        let pending_write = tokio::time::timeout(Duration::from_millis(1), lock.write_async()).await;
        assert!(pending_write.is_err(), "a writer got in beside a reader");
        go_tx.send_async(()).await.unwrap();
        lock.write_async().await.push('b');
    });
    assert_eq!(reader.join().unwrap(), 1);
    assert_eq!(*lock.read(), "ab");
    support::shutdown(rt);
}
