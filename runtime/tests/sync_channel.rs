//! Channels: exactly-once delivery under many producers and consumers, back-pressure,
//! rendezvous, disconnection, time-outs, and cancellation of waiting coroutines.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;
use oc_runtime::sync::channel::{
    self, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError, TrySendError,
};

const BACKENDS: [IoBackend; 2] = [IoBackend::Uring, IoBackend::Epoll];

fn runtime(workers: usize, backend: IoBackend) -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(workers).io_backend(backend).name("sync").build().unwrap()
}

/// 8 producers and 8 consumers on 2 workers: every message arrives exactly once.
fn exactly_once(make: fn() -> (Sender<u64>, Receiver<u64>), what: &str) {
    const PRODUCERS: u64 = 8;
    const CONSUMERS: usize = 8;
    const PER_PRODUCER: u64 = 20_000;
    for backend in BACKENDS {
        let rt = runtime(2, backend);
        let (received, total) = rt.block_on(move || {
            let (tx, rx) = make();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let rx = rx.clone();
                    oc_runtime::spawn(move || rx.iter().collect::<Vec<u64>>())
                })
                .collect();
            drop(rx);
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let tx = tx.clone();
                    oc_runtime::spawn(move || {
                        for i in 0..PER_PRODUCER {
                            tx.send(p * PER_PRODUCER + i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            for p in producers {
                p.join().unwrap();
            }
            let mut all = Vec::new();
            let mut busy = 0;
            for c in consumers {
                let got = c.join().unwrap();
                busy += usize::from(!got.is_empty());
                all.extend(got);
            }
            (all, busy)
        });
        let expected = (PRODUCERS * PER_PRODUCER) as usize;
        assert_eq!(received.len(), expected, "{what}, {backend:?}: messages lost or duplicated");
        let distinct: HashSet<u64> = received.iter().copied().collect();
        assert_eq!(distinct.len(), expected, "{what}, {backend:?}: a message arrived twice");
        assert!(distinct.iter().all(|&m| m < PRODUCERS * PER_PRODUCER));
        assert!(total >= 2, "{what}, {backend:?}: only {total} consumer(s) received anything");
        support::shutdown(rt);
    }
}

#[test]
fn bounded_delivers_exactly_once_8p_8c() {
    exactly_once(|| channel::bounded(16), "bounded(16)");
}

#[test]
fn rendezvous_delivers_exactly_once_8p_8c() {
    exactly_once(|| channel::bounded(0), "bounded(0)");
}

#[test]
fn unbounded_delivers_exactly_once_8p_8c() {
    exactly_once(channel::unbounded, "unbounded");
}

/// Each producer's messages arrive in the order it sent them.
#[test]
fn per_producer_order_is_kept() {
    let rt = runtime(2, IoBackend::Epoll);
    let got = rt.block_on(|| {
        let (tx, rx) = channel::bounded::<(u32, u32)>(4);
        for p in 0..4 {
            let tx = tx.clone();
            oc_runtime::spawn(move || (0..2000).for_each(|i| tx.send((p, i)).unwrap()));
        }
        drop(tx);
        rx.iter().collect::<Vec<_>>()
    });
    let mut next = [0u32; 4];
    for (p, i) in got {
        assert_eq!(i, next[p as usize], "producer {p}: out of order");
        next[p as usize] += 1;
    }
    assert_eq!(next, [2000; 4]);
    support::shutdown(rt);
}

/// A full bounded channel holds its sender until a receiver makes room, and the sender's
/// worker runs other coroutines meanwhile.
#[test]
fn bounded_applies_back_pressure() {
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        rt.block_on(move || {
            let (tx, rx) = channel::bounded::<u32>(2);
            let sent = Arc::new(AtomicUsize::new(0));
            let s = sent.clone();
            let producer = oc_runtime::spawn(move || {
                for i in 0..5 {
                    tx.send(i).unwrap();
                    s.fetch_add(1, Ordering::SeqCst);
                }
            });
            // The producer fills the channel and waits; this coroutine (same worker) runs.
            oc_runtime::sleep(Duration::from_millis(50));
            assert_eq!(sent.load(Ordering::SeqCst), 2, "{backend:?}: send did not wait on a full channel");
            assert_eq!(rx.len(), 2);
            assert!(!producer.is_finished());
            assert_eq!(rx.recv().unwrap(), 0);
            oc_runtime::sleep(Duration::from_millis(20));
            assert_eq!(sent.load(Ordering::SeqCst), 3, "{backend:?}: one receive makes room for one send");
            let rest: Vec<u32> = rx.iter().collect();
            assert_eq!(rest, [1, 2, 3, 4]);
            producer.join().unwrap();
        });
        support::shutdown(rt);
    }
}

#[test]
fn rendezvous_send_waits_for_a_receiver() {
    let rt = runtime(1, IoBackend::Epoll);
    rt.block_on(|| {
        let (tx, rx) = channel::bounded::<&str>(0);
        assert!(matches!(tx.try_send("x"), Err(TrySendError::Full("x"))), "nobody waits to receive");
        let start = Instant::now();
        let sender = oc_runtime::spawn(move || {
            tx.send("hello").unwrap();
            Instant::now()
        });
        oc_runtime::sleep(Duration::from_millis(40));
        assert!(!sender.is_finished(), "a rendezvous send returned before any receive");
        assert_eq!(rx.recv().unwrap(), "hello");
        let sent_at = sender.join().unwrap();
        assert!(sent_at - start >= Duration::from_millis(40));
    });
    support::shutdown(rt);
}

#[test]
fn disconnection_is_reported_both_ways() {
    let rt = runtime(2, IoBackend::Epoll);
    rt.block_on(|| {
        // Receivers see queued messages, then the disconnection.
        let (tx, rx) = channel::unbounded::<u8>();
        tx.send(1).unwrap();
        let waiting = {
            let rx = rx.clone();
            oc_runtime::spawn(move || (rx.recv(), rx.recv()))
        };
        oc_runtime::sleep(Duration::from_millis(10));
        drop(tx);
        let (first, second) = waiting.join().unwrap();
        assert_eq!(first.unwrap(), 1);
        assert!(second.is_err());
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Err(RecvTimeoutError::Disconnected));

        // A sender waiting on a full channel gets its message back when the receivers go.
        let (tx, rx) = channel::bounded::<String>(1);
        tx.send("a".into()).unwrap();
        let blocked = oc_runtime::spawn(move || tx.send("b".into()));
        oc_runtime::sleep(Duration::from_millis(10));
        drop(rx);
        let err = blocked.join().unwrap().unwrap_err();
        assert_eq!(err.into_inner(), "b");
    });
    support::shutdown(rt);
}

#[test]
fn timeouts_give_up_and_return_the_message() {
    let rt = runtime(1, IoBackend::Uring);
    rt.block_on(|| {
        let (tx, rx) = channel::bounded::<u32>(1);
        let start = Instant::now();
        assert_eq!(rx.recv_timeout(Duration::from_millis(30)), Err(RecvTimeoutError::Timeout));
        assert!(start.elapsed() >= Duration::from_millis(30));
        tx.send(1).unwrap();
        let start = Instant::now();
        match tx.send_timeout(2, Duration::from_millis(30)) {
            Err(SendTimeoutError::Timeout(2)) => {}
            other => panic!("expected a time-out with the message back, got {other:?}"),
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
        // Nothing of the timed-out send stayed behind.
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send(3).unwrap();
        assert_eq!(rx.recv().unwrap(), 3);
    });
    support::shutdown(rt);
}

/// Cancelled receivers and senders leave no ghost behind: later messages reach live peers.
#[test]
fn cancelled_waiters_leave_the_channel_usable() {
    for backend in BACKENDS {
        let rt = runtime(2, backend);
        rt.block_on(move || {
            let (tx, rx) = channel::bounded::<u32>(0);
            let ghosts: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    oc_runtime::spawn(move || rx.recv())
                })
                .collect();
            oc_runtime::sleep(Duration::from_millis(20));
            for g in &ghosts {
                g.cancel();
            }
            for g in ghosts {
                assert!(g.join().unwrap_err().is_cancelled());
            }
            // With capacity 0, a send succeeds only with a live receiver: had a cancelled one
            // stayed queued, try_send would hand it the message.
            assert!(tx.try_send(1).unwrap_err().is_full(), "{backend:?}: a cancelled receiver is still queued");
            let live = {
                let rx = rx.clone();
                oc_runtime::spawn(move || rx.recv().unwrap())
            };
            tx.send(7).unwrap();
            assert_eq!(live.join().unwrap(), 7);

            // A cancelled sender's message is not delivered.
            let (tx, rx) = channel::bounded::<u32>(1);
            tx.send(1).unwrap();
            let ghost = {
                let tx = tx.clone();
                oc_runtime::spawn(move || tx.send(99))
            };
            oc_runtime::sleep(Duration::from_millis(20));
            ghost.cancel();
            assert!(ghost.join().unwrap_err().is_cancelled());
            assert_eq!(rx.recv().unwrap(), 1);
            tx.send(2).unwrap();
            assert_eq!(rx.recv().unwrap(), 2);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{backend:?}: a cancelled send was delivered");
        });
        support::shutdown(rt);
    }
}

/// Plain threads and coroutines share a channel: threads block, coroutines suspend.
#[test]
fn threads_and_coroutines_talk() {
    let rt = runtime(1, IoBackend::Epoll);
    let (tx, rx) = channel::bounded::<u64>(1);
    let (back_tx, back_rx) = channel::unbounded::<u64>();
    let echo = rt.spawn(move || {
        for n in rx.iter() {
            back_tx.send(n * 2).unwrap();
        }
    });
    let thread = std::thread::spawn(move || {
        for n in 0..1000 {
            tx.send(n).unwrap();
        }
    });
    let sum: u64 = back_rx.iter().sum();
    thread.join().unwrap();
    echo.join().unwrap();
    assert_eq!(sum, 2 * (0..1000).sum::<u64>());
    support::shutdown(rt);
}

/// A receiver cancelled after a message was handed to it, before it ran again, passes the
/// message on: the next receive gets it. (On one worker the sender runs on until it
/// suspends, so the cancellation lands between the hand-over and the receiver's resumption.)
#[test]
fn message_handed_to_a_cancelled_receiver_is_not_lost() {
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        rt.block_on(move || {
            for cap in [Some(0), Some(4), None] {
                let (tx, rx) = match cap {
                    Some(n) => channel::bounded::<u32>(n),
                    None => channel::unbounded::<u32>(),
                };
                let receiver = {
                    let rx = rx.clone();
                    oc_runtime::spawn(move || rx.recv())
                };
                oc_runtime::task::yield_now(); // the receiver waits now
                tx.try_send(5).expect("a receiver waits");
                receiver.cancel();
                assert!(receiver.join().unwrap_err().is_cancelled(), "{backend:?} {cap:?}");
                assert_eq!(rx.try_recv(), Ok(5), "{backend:?} {cap:?}: the handed message was lost");
            }
        });
        support::shutdown(rt);
    }
}

/// Receivers that give up almost at once (time-outs of a microsecond or two), as coroutines,
/// as plain threads and as async futures dropped by a time-out, while senders keep them
/// claimed: a wait that gives up while its claim is under way must neither lose the message
/// handed to it nor leave the claimer with a waiter that is gone (the queues do not keep a
/// waiter alive: it waits, as it goes, for its claimer to be done with it).
#[test]
fn waits_that_give_up_while_claimed_lose_nothing() {
    const SENDERS: u64 = 4;
    const PER_SENDER: u64 = 20_000;
    for backend in BACKENDS {
        let rt = runtime(2, backend);
        for (what, (tx, rx)) in [("rendezvous", channel::bounded::<u64>(0)), ("unbounded", channel::unbounded::<u64>())]
        {
            let received = Arc::new(std::sync::Mutex::new(Vec::new()));
            let done = Arc::new(AtomicBool::new(false));
            let keep = |got: Vec<u64>| received.lock().unwrap().extend(got);
            let coroutines: Vec<_> = (0..4u64)
                .map(|i| {
                    let (rx, done) = (rx.clone(), done.clone());
                    rt.spawn(move || {
                        let mut got = Vec::new();
                        while !done.load(Ordering::Acquire) {
                            if let Ok(m) = rx.recv_timeout(Duration::from_micros(1 + i % 2)) {
                                got.push(m);
                            }
                        }
                        got
                    })
                })
                .collect();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (rx, done) = (rx.clone(), done.clone());
                    std::thread::spawn(move || {
                        let mut got = Vec::new();
                        while !done.load(Ordering::Acquire) {
                            if let Ok(m) = rx.recv_timeout(Duration::from_micros(2)) {
                                got.push(m);
                            }
                        }
                        got
                    })
                })
                .collect();
            let futures = {
                let (rx, done) = (rx.clone(), done.clone());
                std::thread::spawn(move || {
                    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    tokio.block_on(async {
                        let mut got = Vec::new();
                        while !done.load(Ordering::Acquire) {
                            // A time-out drops the future, registered or claimed.
                            if let Ok(Ok(m)) = tokio::time::timeout(Duration::from_micros(5), rx.recv_async()).await {
                                got.push(m);
                            }
                        }
                        got
                    })
                })
            };
            // Kept aside, never waiting: takes what an unbounded channel still holds at the end.
            let drain = rx;
            let senders: Vec<_> = (0..SENDERS)
                .map(|s| {
                    let tx = tx.clone();
                    rt.spawn(move || {
                        for i in 0..PER_SENDER {
                            tx.send(s * PER_SENDER + i).unwrap();
                        }
                    })
                })
                .collect();
            for s in senders {
                s.join().unwrap();
            }
            // Every message is sent: with a rendezvous each was taken by a receiver; what an
            // unbounded channel still holds is drained below.
            drop(tx);
            done.store(true, Ordering::Release);
            for c in coroutines {
                keep(c.join().unwrap());
            }
            for t in threads {
                keep(t.join().unwrap());
            }
            keep(futures.join().unwrap());
            keep(drain.iter().collect());
            let received = received.lock().unwrap();
            let distinct: HashSet<u64> = received.iter().copied().collect();
            assert_eq!(distinct.len(), received.len(), "{what}, {backend:?}: a message arrived twice");
            assert_eq!(received.len() as u64, SENDERS * PER_SENDER, "{what}, {backend:?}: messages lost");
        }
        support::shutdown(rt);
    }
}
