//! The task state word: one atomic that says where a task is in its life, and how many
//! references to it exist.
//!
//! # State
//!
//! | bits | set by | meaning |
//! |---|---|---|
//! | `SCHEDULED` | the waker that queues it | it sits in a run queue (exactly once) |
//! | `RUNNING` | the worker that resumes it | a worker runs it, or will run it next from its run-next slot |
//! | `NOTIFIED` | a waker while `RUNNING` | queue it again as soon as it suspends |
//! | `COMPLETE` | the worker, after storing the output | finished; the output may be taken |
//! | `CANCELLED` | `JoinHandle::cancel` | unwind at the next suspension point |
//! | `REF_ONE` and up | every `TaskRef` and waker | the reference count |
//!
//! The count shares the word with the flags so that a wake-up takes the run queue's
//! reference in the same compare-and-swap that schedules the task, and a suspension that
//! leaves the task idle gives that reference back in the same one that clears `RUNNING`:
//! two read-modify-writes fewer per wake-up than a separate count would cost.
//!
//! # Invariants
//!
//! - `SCHEDULED` and `RUNNING` are never both set; neither is set once `COMPLETE` is.
//! - Whoever moves a task from idle to `SCHEDULED` (or straight to `RUNNING`, for the
//!   run-next slot) owns the duty to queue it, so a task is in at most one queue, and owns the
//!   reference the transition added.
//! - Exactly one thread sees the count reach zero (a `drop_ref` or an `end_run`), and only
//!   that thread may then touch the task.

use crate::loom::atomic::{AtomicUsize, Ordering};

pub(crate) const SCHEDULED: usize = 1;
pub(crate) const RUNNING: usize = 1 << 1;
pub(crate) const NOTIFIED: usize = 1 << 2;
pub(crate) const COMPLETE: usize = 1 << 3;
pub(crate) const CANCELLED: usize = 1 << 4;
/// One reference; the count sits above the flags.
pub(crate) const REF_ONE: usize = 1 << 6;
/// The flag bits.
pub(crate) const FLAGS: usize = REF_ONE - 1;

/// What a wake-up asks of the waker.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The task went from idle to scheduled: the caller must queue it.
    Schedule,
    /// Nothing to do (already queued, running and now notified, or complete).
    Nothing,
    /// Nothing to do, and the reference given up was the last one: the caller frees the
    /// task.
    Last,
}

/// What the worker must do after a coroutine suspended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterRun {
    /// It was woken while running: queue it again.
    Reschedule,
    /// It waits for a wake-up; the run queue's reference was given back, and `last` says
    /// whether it was the last one (the caller must then free the task).
    Idle { last: bool },
}

pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task is created scheduled, with one reference: the spawner queues it.
    pub(crate) fn new_scheduled() -> State {
        State(AtomicUsize::new(SCHEDULED | REF_ONE))
    }

    /// Adds a reference (made from one the caller holds).
    pub(crate) fn clone_ref(&self) {
        // Relaxed, as `Arc` does: a new reference is made from an existing one.
        if self.0.fetch_add(REF_ONE, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops a reference; returns whether it was the last (the caller must then free the
    /// task: nothing else can reach it any more).
    pub(crate) fn drop_ref(&self) -> bool {
        if self.0.fetch_sub(REF_ONE, Ordering::Release) & !FLAGS != REF_ONE {
            return false;
        }
        // Pairs with the release of the references dropped before this one, as in `Arc`.
        crate::loom::atomic::fence(Ordering::Acquire);
        true
    }

    /// The references held (only meaningful to a thread that knows it cannot change).
    pub(crate) fn refs(&self) -> usize {
        self.0.load(Ordering::Relaxed) >> REF_ONE.trailing_zeros()
    }

    /// Whether a wake-up could change anything: not complete, not queued, not already
    /// notified while running. One load, for callers that would pay for more before
    /// [`wake`](State::wake).
    pub(crate) fn wake_may_schedule(&self) -> bool {
        let cur = self.0.load(Ordering::Acquire);
        cur & (COMPLETE | SCHEDULED) == 0 && cur & (RUNNING | NOTIFIED) != RUNNING | NOTIFIED
    }

    /// The flags (without the reference count).
    pub(crate) fn load(&self) -> usize {
        self.0.load(Ordering::Acquire) & FLAGS
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.load() & COMPLETE != 0
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.load() & CANCELLED != 0
    }

    /// A wake-up from anywhere. On `Schedule` the caller owns a reference for the queue:
    /// added here, or, if `give` is set, the one the caller gives up (which is dropped here
    /// otherwise, unless it was the last: then `Wake::Last`).
    pub(crate) fn wake(&self, give: bool) -> Wake {
        self.transition_to(SCHEDULED, give)
    }

    /// As [`wake`](State::wake), for a task that goes straight to the waker's run-next
    /// slot: it is marked `RUNNING` at once, so that the worker that takes it from there
    /// need not (a wake-up meanwhile only notes itself, `NOTIFIED`). Put back in a queue
    /// instead, it is first turned `SCHEDULED` with [`yield_run`](State::yield_run).
    pub(crate) fn wake_to_run(&self, give: bool) -> Wake {
        self.transition_to(RUNNING, give)
    }

    fn transition_to(&self, queued: usize, give: bool) -> Wake {
        let add = if give { 0 } else { REF_ONE };
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let next = if cur & (COMPLETE | SCHEDULED) != 0 {
                break;
            } else if cur & RUNNING != 0 {
                if cur & NOTIFIED != 0 {
                    break;
                }
                cur | NOTIFIED
            } else {
                (cur | queued) + add
            };
            match self.0.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if next & queued != 0 && cur & queued == 0 => return Wake::Schedule,
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        if give && self.drop_ref() {
            return Wake::Last;
        }
        Wake::Nothing
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

    /// The coroutine suspended. Unless it is to be queued again, the run queue's reference
    /// is given back in the same step.
    pub(crate) fn end_run(&self) -> AfterRun {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            debug_assert!(cur & RUNNING != 0 && cur & !FLAGS != 0, "bad state {cur:#b}");
            let (next, after) = if cur & NOTIFIED != 0 {
                ((cur & !(RUNNING | NOTIFIED)) | SCHEDULED, AfterRun::Reschedule)
            } else {
                let next = (cur & !RUNNING) - REF_ONE;
                (next, AfterRun::Idle { last: next & !FLAGS == 0 })
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
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| Some((cur & (CANCELLED | !FLAGS)) | RUNNING))
            .unwrap_or_else(|cur| cur);
        debug_assert!(prev & (RUNNING | COMPLETE) == 0, "bad state {prev:#b}");
    }

    /// The coroutine returned (or never started); its output is stored.
    pub(crate) fn complete(&self) {
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| Some((cur & (CANCELLED | !FLAGS)) | COMPLETE))
            .unwrap_or_else(|cur| cur);
        debug_assert!(prev & (RUNNING | SCHEDULED) != 0, "bad state {prev:#b}");
    }
}
