//! Wake-ups stay on the worker they happen on until `wake_threshold` coroutines wait there
//! (`Builder::wake_threshold`): a burst of a few wakes no sleeping worker, whether a coroutine
//! or the reactor woke them, on both reactors. A woken coroutine still reaches an idle
//! worker within about a monitor tick when a long computation holds its own.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;
use support::wake::Burst;

fn two_workers(backend: IoBackend, threshold: usize, slice: Duration) -> Option<oc_runtime::Runtime> {
    match oc_runtime::Runtime::builder()
        .workers(2)
        .io_backend(backend)
        .wake_threshold(threshold)
        .preempt_interval(Some(slice))
        .build()
    {
        Ok(rt) => Some(rt),
        Err(_) if backend == IoBackend::Uring => None,
        Err(e) => panic!("runtime on {backend:?}: {e}"),
    }
}

#[test]
fn a_burst_of_wake_ups_stays_on_its_worker_on_both_reactors() {
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        // A long slice: the monitor's tick (half of it) does not fall inside the bursts.
        let Some(rt) = two_workers(backend, 16, Duration::from_secs(2)) else { continue };
        // Eight coroutines, woken by one coroutine, then each reading one byte from its
        // socket: the second burst comes from the reactor of the worker that ran the first.
        let (peers, streams): (Vec<UnixStream>, Vec<UnixStream>) = (0..8).map(|_| UnixStream::pair().unwrap()).unzip();
        let streams = std::sync::Arc::new(std::sync::Mutex::new(streams.into_iter().map(Some).collect::<Vec<_>>()));
        let (read_on, reads) = mpsc::channel();
        let burst = Burst::park(&rt, 8, move |i| {
            let mut stream = streams.lock().unwrap()[i].take().unwrap();
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).unwrap();
            read_on.send(std::thread::current().id()).unwrap();
        });
        let (woken, waker_thread, threads) = burst.wake(&rt);
        assert_eq!(woken, 0, "{backend:?}: eight wake-ups from a coroutine woke a sleeping worker");
        assert_eq!(threads.len(), 1, "{backend:?}: the burst ran on {} threads", threads.len());
        assert!(threads.contains(&waker_thread), "{backend:?}: the burst left its waker's worker");

        // Every reader waits on the same worker's reactor; the other worker sleeps.
        std::thread::sleep(Duration::from_millis(200));
        let before = rt.metrics();
        for mut peer in &peers {
            peer.write_all(b"x").unwrap();
        }
        let readers: Vec<_> = (0..8).map(|_| reads.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        let after = rt.metrics();
        assert_eq!(
            after.wakeups - before.wakeups,
            0,
            "{backend:?}: eight IO wake-ups woke a sleeping worker: {before:?} -> {after:?}"
        );
        assert!(readers.iter().all(|t| *t == waker_thread), "{backend:?}: the reads ran elsewhere");
        support::shutdown(rt);
    }
}

#[test]
fn a_burst_that_reaches_the_threshold_wakes_a_sleeping_worker() {
    // Eight wake-ups: one goes to the waker's run-next slot, seven to its queue.
    for threshold in [1, 4] {
        let rt = two_workers(IoBackend::Epoll, threshold, Duration::from_secs(2)).unwrap();
        let (woken, _, _) = Burst::park(&rt, 8, |_| ()).wake(&rt);
        assert!(woken >= 1, "eight wake-ups with a threshold of {threshold} woke no sleeping worker");
        support::shutdown(rt);
    }
}

#[test]
fn a_woken_coroutine_reaches_an_idle_worker_while_its_own_computes() {
    // A one-second slice: the monitor ticks every 500 ms, and hands off a worker held for a
    // whole slice. The woken coroutine must not wait for the hand-off.
    let rt = two_workers(IoBackend::Epoll, 16, Duration::from_secs(1)).unwrap();
    let (started, starts) = mpsc::channel();
    let (senders, _ran_on) =
        Burst::park(&rt, 2, move |_| started.send((Instant::now(), std::thread::current().id())).unwrap()).split();
    let computing = rt.spawn(move || {
        oc_runtime::sleep(Duration::from_millis(100));
        // The first woken waits in the queue, the second in the run-next slot; the waker then
        // computes for 2.5 s without suspending.
        senders.send_all();
        let begun = Instant::now();
        while begun.elapsed() < Duration::from_millis(2500) {
            std::hint::spin_loop();
        }
        (begun, std::thread::current().id())
    });
    let (at, on) = starts.recv_timeout(Duration::from_secs(10)).unwrap();
    let (begun, waker) = computing.join().unwrap();
    let waited = at.saturating_duration_since(begun);
    assert!(on != waker, "the woken coroutine ran on its waker's thread");
    assert!(
        waited < Duration::from_millis(800),
        "the woken coroutine waited {waited:?} for an idle worker (a tick is 500 ms, the slice 1 s)"
    );
    starts.recv_timeout(Duration::from_secs(10)).unwrap();
    support::shutdown(rt);
}
