//! Models of the task state word (`runtime/src/task/state.rs`).

use loom::sync::Arc;
use loom::thread;

use crate::state::{AfterRun, CANCELLED, COMPLETE, RUNNING, SCHEDULED, State, Wake};

/// A task that is running; `start_run` has been called, as a worker does after popping it.
/// Its one reference is the run queue's, which the worker holds while it runs the task.
fn running() -> Arc<State> {
    let state = Arc::new(State::new_scheduled());
    state.start_run();
    state
}

/// A wake-up racing with the coroutine's suspension: exactly one of the waker and the worker
/// queues the task (never both: it would run twice at once; never neither: it would hang).
#[test]
fn a_wake_racing_a_suspension_queues_the_task_exactly_once() {
    loom::model(|| {
        let state = running();
        // The waker's own reference (a `Waker` held by whoever wakes).
        state.clone_ref();
        let waker = {
            let state = state.clone();
            thread::spawn(move || {
                let woke = state.wake(false);
                let last = state.drop_ref();
                (woke, last)
            })
        };
        let after = state.end_run();
        let (woke, last) = waker.join().unwrap();
        let queued = usize::from(woke == Wake::Schedule) + usize::from(after == AfterRun::Reschedule);
        assert_eq!(queued, 1, "waker: {woke:?}, worker: {after:?}");
        assert_eq!(state.load() & (SCHEDULED | RUNNING), SCHEDULED);
        // Exactly the queue's reference is left, whoever queued the task.
        assert!(!last && after != AfterRun::Idle { last: true });
        assert_eq!(state.refs(), 1);
    });
}

/// Two wakers of an idle task: one of them queues it.
#[test]
fn two_wakers_of_an_idle_task_queue_it_once() {
    loom::model(|| {
        let state = running();
        // Two wakers' references; the queue's goes back as the task suspends.
        state.clone_ref();
        state.clone_ref();
        assert_eq!(state.end_run(), AfterRun::Idle { last: false });
        let other = {
            let state = state.clone();
            thread::spawn(move || state.wake(true))
        };
        let mine = state.wake_to_run(true);
        let theirs = other.join().unwrap();
        assert_eq!(usize::from(mine == Wake::Schedule) + usize::from(theirs == Wake::Schedule), 1);
        // Each waker gave its reference up: the one that queued the task to the queue.
        assert_eq!(state.refs(), 1);
    });
}

/// A coroutine that yields goes back to the queue itself: a wake-up meanwhile must not queue
/// it a second time.
#[test]
fn a_wake_racing_a_yield_never_queues_a_second_time() {
    loom::model(|| {
        let state = running();
        let waker = {
            let state = state.clone();
            thread::spawn(move || state.wake(false))
        };
        state.yield_run();
        assert_eq!(waker.join().unwrap(), Wake::Nothing);
        assert_eq!(state.load() & (SCHEDULED | RUNNING), SCHEDULED);
    });
}

/// `cancel` racing completion: it reports "already finished" exactly when completion came
/// first, and the word ends complete and cancelled either way.
#[test]
fn cancel_racing_completion_reports_what_came_first() {
    loom::model(|| {
        let state = running();
        let completer = {
            let state = state.clone();
            thread::spawn(move || state.complete())
        };
        let finished_first = state.cancel();
        completer.join().unwrap();
        let word = state.load();
        assert_eq!(word, COMPLETE | CANCELLED, "{word:#b}");
        if finished_first {
            // Completion came first: the cancellation can have no effect on the run.
            assert!(state.is_complete());
        }
    });
}

/// A wake-up after completion does nothing, whatever it raced with.
#[test]
fn a_completed_task_is_never_queued_again() {
    loom::model(|| {
        let state = running();
        let waker = {
            let state = state.clone();
            thread::spawn(move || state.wake(false))
        };
        state.complete();
        let woke = waker.join().unwrap();
        assert_eq!(woke, Wake::Nothing, "a running or completed task is not queued by a waker");
        assert_eq!(state.load() & (SCHEDULED | RUNNING), 0);
        assert_eq!(state.wake(false), Wake::Nothing);
    });
}

/// The last reference dropped by a waker racing the suspension that gives back the queue's:
/// exactly one of them sees the count reach zero (and frees the task), whatever the order.
#[test]
fn the_last_reference_is_seen_gone_exactly_once() {
    loom::model(|| {
        let state = running();
        state.clone_ref();
        let waker = {
            let state = state.clone();
            // A waker woken by value: its reference goes to the queue, or is dropped.
            thread::spawn(move || state.wake(true))
        };
        let after = state.end_run();
        let woke = waker.join().unwrap();
        match (woke, after) {
            // The waker came first: the task runs again, holding the waker's reference.
            (Wake::Nothing, AfterRun::Reschedule) => assert_eq!(state.refs(), 1),
            // The suspension came first: the waker queued it with its own reference.
            (Wake::Schedule, AfterRun::Idle { last: false }) => assert_eq!(state.refs(), 1),
            other => panic!("unexpected {other:?}"),
        }
        // A second waker by value finds it queued: its reference is the last one only if
        // the queue's is gone, which it is not.
        state.clone_ref();
        assert_eq!(state.wake(true), Wake::Nothing);
        assert_eq!(state.refs(), 1);
        // The queue's reference goes last.
        assert!(state.drop_ref());
    });
}

/// A task woken into a run-next slot is marked running at once: a second wake-up only notes
/// itself, and its suspension queues it again; put back in a queue instead it is scheduled.
#[test]
fn a_task_woken_to_run_next_is_queued_once() {
    loom::model(|| {
        let state = running();
        state.clone_ref();
        assert_eq!(state.end_run(), AfterRun::Idle { last: false });
        assert_eq!(state.wake_to_run(false), Wake::Schedule);
        let waker = {
            let state = state.clone();
            thread::spawn(move || state.wake(false))
        };
        // Displaced from the slot: back to a queue.
        state.yield_run();
        let woke = waker.join().unwrap();
        assert_eq!(woke, Wake::Nothing);
        assert_eq!(state.load() & (SCHEDULED | RUNNING), SCHEDULED);
        assert_eq!(state.refs(), 2);
    });
}
