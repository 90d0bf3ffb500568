//! Models of the task state word (`runtime/src/task/state.rs`).

use loom::sync::Arc;
use loom::thread;

use crate::state::{AfterRun, CANCELLED, COMPLETE, RUNNING, SCHEDULED, State, Wake};

/// A task that is running; `start_run` has been called, as a worker does after popping it.
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
        let waker = {
            let state = state.clone();
            thread::spawn(move || state.wake())
        };
        let after = state.end_run();
        let woke = waker.join().unwrap();
        let queued = usize::from(woke == Wake::Schedule) + usize::from(after == AfterRun::Reschedule);
        assert_eq!(queued, 1, "waker: {woke:?}, worker: {after:?}");
        assert_eq!(state.load() & (SCHEDULED | RUNNING), SCHEDULED);
    });
}

/// Two wakers of an idle task: one of them queues it.
#[test]
fn two_wakers_of_an_idle_task_queue_it_once() {
    loom::model(|| {
        let state = running();
        assert_eq!(state.end_run(), AfterRun::Idle);
        let other = {
            let state = state.clone();
            thread::spawn(move || state.wake())
        };
        let mine = state.wake();
        let theirs = other.join().unwrap();
        assert_eq!(usize::from(mine == Wake::Schedule) + usize::from(theirs == Wake::Schedule), 1);
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
            thread::spawn(move || state.wake())
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
            thread::spawn(move || state.wake())
        };
        state.complete();
        let woke = waker.join().unwrap();
        assert_eq!(woke, Wake::Nothing, "a running or completed task is not queued by a waker");
        assert_eq!(state.load() & (SCHEDULED | RUNNING), 0);
        assert_eq!(state.wake(), Wake::Nothing);
    });
}
