//! Models of the idle/parker protocol (`runtime/src/scheduler/idle.rs`): no lost wake-up.
//!
//! A queue is modelled by one flag written with `Release` and read with `Acquire`, the
//! weakest orderings a real queue gives; the protocol's own fences must do the rest.

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

use crate::idle::Idle;

/// A worker about to park, as `Worker::park` does it: stop searching, register as a sleeper,
/// look at the queue once more. Returns whether it saw work (then it does not sleep).
fn worker_goes_to_sleep(idle: &Idle, index: usize, searching: bool, queue: &AtomicBool) -> bool {
    if searching {
        idle.stop_searching();
    }
    idle.prepare_sleep(index);
    let saw_work = queue.load(Ordering::Acquire);
    if saw_work {
        // It never slept: it leaves the sleepers' list by itself.
        idle.wake_up(index);
    }
    saw_work
}

/// A producer, as `Shared::notify` after queueing: the worker it must unpark, if any.
fn producer_queues(idle: &Idle, queue: &AtomicBool) -> Option<usize> {
    queue.store(true, Ordering::Release);
    idle.worker_to_notify()
}

/// One worker parking while work is queued: it sees the work, or it is the one woken.
#[test]
fn a_worker_going_to_sleep_sees_new_work_or_is_woken() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(2));
        let queue = Arc::new(AtomicBool::new(false));
        let producer = {
            let (idle, queue) = (idle.clone(), queue.clone());
            thread::spawn(move || producer_queues(&idle, &queue))
        };
        let saw_work = worker_goes_to_sleep(&idle, 0, false, &queue);
        let woken = producer.join().unwrap();
        assert!(saw_work || woken == Some(0), "lost wake-up: the worker sleeps on queued work");
    });
}

/// The last searcher gives up while work arrives: the producer, seeing a searcher, wakes
/// nobody, so the searcher must see the work on its way to sleep.
#[test]
fn the_last_searcher_giving_up_does_not_lose_work() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(2));
        assert!(idle.try_start_searching());
        let queue = Arc::new(AtomicBool::new(false));
        let producer = {
            let (idle, queue) = (idle.clone(), queue.clone());
            thread::spawn(move || producer_queues(&idle, &queue))
        };
        let saw_work = worker_goes_to_sleep(&idle, 0, true, &queue);
        let woken = producer.join().unwrap();
        assert!(saw_work || woken == Some(0), "lost wake-up after the last searcher stopped");
    });
}

/// Two workers go to sleep while one piece of work arrives: one of them sees it or is woken,
/// and a woken worker counts as searching until it gives up.
#[test]
fn two_sleepers_and_one_producer_lose_no_work() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let idle = Arc::new(Idle::new(2));
        let queue = Arc::new(AtomicBool::new(false));
        let producer = {
            let (idle, queue) = (idle.clone(), queue.clone());
            thread::spawn(move || producer_queues(&idle, &queue))
        };
        let other = {
            let (idle, queue) = (idle.clone(), queue.clone());
            thread::spawn(move || worker_goes_to_sleep(&idle, 1, false, &queue))
        };
        let saw0 = worker_goes_to_sleep(&idle, 0, false, &queue);
        let saw1 = other.join().unwrap();
        let woken = producer.join().unwrap();
        assert!(saw0 || saw1 || woken.is_some(), "lost wake-up with two sleepers");
        if let Some(index) = woken {
            // The woken worker leaves the list itself and now counts as searching.
            assert!(idle.wake_up(index), "a notified worker is told it was notified");
            assert!(idle.stop_searching());
        }
        assert!(!idle.all_sleeping() || (!saw0 && !saw1 && woken.is_none()));
    });
}
