//! The task state word: one atomic that says where a task is in its life.
//!
//! # State
//!
//! | bit | set by | meaning |
//! |---|---|---|
//! | `SCHEDULED` | the waker that queues it | it sits in a run queue (exactly once) |
//! | `RUNNING` | the worker that resumes it | a worker is running it right now |
//! | `NOTIFIED` | a waker while `RUNNING` | queue it again as soon as it suspends |
//! | `COMPLETE` | the worker, after storing the output | finished; the output may be taken |
//! | `CANCELLED` | `JoinHandle::cancel` | unwind at the next suspension point |
//!
//! # Invariants
//!
//! - `SCHEDULED` and `RUNNING` are never both set; neither is set once `COMPLETE` is.
//! - Whoever moves a task from idle to `SCHEDULED` owns the duty to queue it, so a task is in
//!   at most one queue.

use crate::loom::atomic::{AtomicUsize, Ordering};

pub(crate) const SCHEDULED: usize = 1;
pub(crate) const RUNNING: usize = 1 << 1;
pub(crate) const NOTIFIED: usize = 1 << 2;
pub(crate) const COMPLETE: usize = 1 << 3;
pub(crate) const CANCELLED: usize = 1 << 4;

/// What a wake-up asks of the waker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The task went from idle to scheduled: the caller must queue it.
    Schedule,
    /// Nothing to do (already queued, running and now notified, or complete).
    Nothing,
}

/// What the worker must do after a coroutine suspended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterRun {
    /// It was woken while running: queue it again.
    Reschedule,
    /// It waits for a wake-up.
    Idle,
}

pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task is created scheduled: the spawner queues it.
    pub(crate) fn new_scheduled() -> State {
        State(AtomicUsize::new(SCHEDULED))
    }

    pub(crate) fn load(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.load() & COMPLETE != 0
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.load() & CANCELLED != 0
    }

    /// A wake-up from anywhere.
    pub(crate) fn wake(&self) -> Wake {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let next = if cur & (COMPLETE | SCHEDULED) != 0 {
                return Wake::Nothing;
            } else if cur & RUNNING != 0 {
                if cur & NOTIFIED != 0 {
                    return Wake::Nothing;
                }
                cur | NOTIFIED
            } else {
                cur | SCHEDULED
            };
            match self.0.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if next & SCHEDULED != 0 => return Wake::Schedule,
                Ok(_) => return Wake::Nothing,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Marks the task cancelled; returns whether it was already finished.
    pub(crate) fn cancel(&self) -> bool {
        self.0.fetch_or(CANCELLED, Ordering::AcqRel) & COMPLETE != 0
    }

    /// A worker took the task off a queue and is about to run it.
    pub(crate) fn start_run(&self) {
        let prev = self.0.fetch_xor(SCHEDULED | RUNNING, Ordering::AcqRel);
        debug_assert!(prev & SCHEDULED != 0 && prev & RUNNING == 0, "bad state {prev:#b}");
    }

    /// The coroutine suspended.
    pub(crate) fn end_run(&self) -> AfterRun {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            debug_assert!(cur & RUNNING != 0);
            let (next, after) = if cur & NOTIFIED != 0 {
                ((cur & !(RUNNING | NOTIFIED)) | SCHEDULED, AfterRun::Reschedule)
            } else {
                (cur & !RUNNING, AfterRun::Idle)
            };
            match self.0.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return after,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The coroutine yielded: it goes straight back to a run queue. A wake-up that arrived
    /// meanwhile (NOTIFIED) is left set and costs at most one spurious wake-up later.
    pub(crate) fn yield_run(&self) {
        let prev = self.0.fetch_xor(RUNNING | SCHEDULED, Ordering::AcqRel);
        debug_assert!(prev & RUNNING != 0 && prev & SCHEDULED == 0, "bad state {prev:#b}");
    }

    /// The last reference to a suspended task is being dropped: its coroutine is about to be
    /// unwound in place. Marks it running, so that a wake-up from a waker made during the
    /// unwind only notes itself (`NOTIFIED`) and nobody queues the task; `complete` follows.
    pub(crate) fn begin_destroy(&self) {
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| Some((cur & CANCELLED) | RUNNING))
            .unwrap_or_else(|cur| cur);
        debug_assert!(prev & (RUNNING | COMPLETE) == 0, "bad state {prev:#b}");
    }

    /// The coroutine returned (or never started); its output is stored.
    pub(crate) fn complete(&self) {
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| Some((cur & CANCELLED) | COMPLETE))
            .unwrap_or_else(|cur| cur);
        debug_assert!(prev & (RUNNING | SCHEDULED) != 0, "bad state {prev:#b}");
    }
}
