//! One io_uring operation in flight, as its waiter and the ring see it.
//!
//! # State
//!
//! `OpState`, behind a spin lock held for a few instructions: the result (once the
//! completion arrived), the waiter's waker, a result that must not wake it (`quiet`), and
//! whether the kernel is done with the operation (`ended`). `flags` mirrors whether there is a
//! result and whether the operation ended, written under the lock, so that a look at either
//! takes no lock (a locked read-modify-write costs tens of cycles on some processors, and a
//! request makes several such looks). `user_data` and `fd` are touched only by the thread
//! driving the ring's worker (see the `Sync` impl).
//!
//! # Invariants
//!
//! - No lost wake-up: a waiter either finds the result, or leaves a waker that the
//!   completion takes and wakes (unless the result is the expected `quiet` one).
//! - A standing (multishot) operation keeps one result for its waiter, and has one waiter at a
//!   time. Its results are poll masks: those that arrive before the waiter looks are merged
//!   (`merged`), so that no event is lost to a later completion that reports less (the kernel
//!   reports each wake-up's own events: a peer's data, its shutdown, then its data's wake-up
//!   again, each in a completion of its own).
//!
//! The lifecycle is model-checked with loom in `runtime/models` (this file is compiled there
//! with a loom-based lock in place of `crate::sync::SpinLock`).

use std::cell::Cell;
use std::task::Waker;

use crate::loom::atomic::{AtomicU8, Ordering};
use crate::sync::SpinLock;

/// One operation in flight.
pub(crate) struct Op {
    pub(super) state: SpinLock<OpState>,
    /// `HAS_RESULT` and `ENDED`, as `state` last left them (stored under its lock).
    flags: AtomicU8,
    pub(super) user_data: Cell<u64>,
    /// The descriptor a coroutine waits on with this operation (-1: none recorded), for a
    /// close of it (`cancel_waits_on`). Written and read only by the thread that
    /// drives the owning worker.
    pub(super) fd: Cell<i32>,
}

/// `flags`: `OpState::result` is set.
const HAS_RESULT: u8 = 1;
/// `flags`: `OpState::ended`.
const ENDED: u8 = 2;

// SAFETY: `user_data` is written once by the submitting thread before the `Op` is shared (the
// slot and the waiter learn it afterwards); `fd` is touched only by the thread driving the
// ring's worker; everything else is behind the spin lock.
unsafe impl Sync for Op {}
// SAFETY: as above.
unsafe impl Send for Op {}

pub(super) struct OpState {
    pub(super) result: Option<i32>,
    pub(super) waker: Option<Waker>,
    /// A result that completes the operation without waking its waiter (the waiter expects
    /// it, and is waiting for something else).
    pub(super) quiet: Option<i32>,
    /// The kernel is done with the operation (always, once `result` is first set, except for
    /// a standing one: see `take_event_or_wait`).
    pub(super) ended: bool,
}

/// What a standing (multishot) operation has to say to its waiter.
pub(crate) enum Standing {
    /// Nothing since the waiter last looked; it is woken at the next completion.
    Pending,
    /// What came since the waiter last looked: the events of every completion since, merged
    /// (`merged`), or an error (the operation may have ended with it: `has_ended`).
    Event { res: i32 },
    /// The kernel is done with the operation, and nothing is left to report.
    Ended,
    /// Another waiter is registered: this one must wait some other way.
    Busy,
}

impl OpState {
    /// The `flags` that mirror this state.
    fn flags(&self) -> u8 {
        (if self.result.is_some() { HAS_RESULT } else { 0 }) | if self.ended { ENDED } else { 0 }
    }
}

impl Op {
    /// An operation without result, whose completion with `quiet` (if any) wakes nobody (any
    /// other result does; `result_or_wait_loud` undoes it).
    pub(crate) fn new(quiet: Option<i32>) -> Op {
        Op {
            state: SpinLock::new(OpState { result: None, waker: None, quiet, ended: false }),
            flags: AtomicU8::new(0),
            user_data: Cell::new(0),
            fd: Cell::new(-1),
        }
    }

    /// Publishes `state`'s flags; called with its lock held, after every change of them.
    fn publish(&self, state: &OpState) {
        self.flags.store(state.flags(), Ordering::Release);
    }

    fn flag(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Acquire) & flag != 0
    }

    /// Returns the result if done; otherwise leaves `waker` to be woken at completion.
    pub(crate) fn result_or_wait(&self, waker: &Waker) -> Option<i32> {
        Self::register(&mut self.state.lock(), waker)
    }

    /// The result if there is one; otherwise `waker` is left in `state`.
    fn register(state: &mut OpState, waker: &Waker) -> Option<i32> {
        if state.result.is_none() {
            match &state.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => state.waker = Some(waker.clone()),
            }
        }
        state.result
    }

    /// Whether the completion has arrived.
    pub(crate) fn is_done(&self) -> bool {
        self.flag(HAS_RESULT)
    }

    /// `result_or_wait`, and any completion wakes the waiter again (one look under the lock).
    pub(crate) fn result_or_wait_loud(&self, waker: &Waker) -> Option<i32> {
        let mut state = self.state.lock();
        state.quiet = None;
        Self::register(&mut state, waker)
    }

    pub(crate) fn user_data(&self) -> u64 {
        self.user_data.get()
    }

    /// Records the descriptor the operation waits on; by the submitting thread, which drives
    /// the ring's worker.
    pub(crate) fn waits_on(&self, fd: i32) {
        self.fd.set(fd);
    }

    /// For a standing operation: takes what came since the last look (merged), or leaves
    /// `waker` to be woken at the next completion (unless another waiter's is there).
    pub(crate) fn take_event_or_wait(&self, waker: &Waker) -> Standing {
        let mut state = self.state.lock();
        if let Some(res) = state.result.take() {
            self.publish(&state);
            return Standing::Event { res };
        }
        if state.ended {
            return Standing::Ended;
        }
        match &state.waker {
            Some(w) if w.will_wake(waker) => {}
            Some(_) => return Standing::Busy,
            None => state.waker = Some(waker.clone()),
        }
        Standing::Pending
    }

    /// Whether a standing operation has a result its waiter has not taken.
    pub(crate) fn has_event(&self) -> bool {
        self.flag(HAS_RESULT)
    }

    /// Whether the kernel is done with the operation.
    pub(crate) fn has_ended(&self) -> bool {
        self.flag(ENDED)
    }

    /// Lets go of `waker` if it is the one registered (the waiter no longer waits): a
    /// standing operation then holds no task between waits.
    pub(crate) fn forget_waker(&self, waker: &Waker) {
        let mut state = self.state.lock();
        if state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = None;
        }
    }

    /// A completion of a standing operation that more will follow: merged into the result
    /// its waiter has not taken yet, and the waiter woken.
    pub(super) fn event(&self, res: i32) -> Option<Waker> {
        let mut state = self.state.lock();
        state.result = Some(merged(state.result, res));
        self.publish(&state);
        state.waker.take()
    }

    pub(super) fn complete(&self, res: i32) -> Option<Waker> {
        let waker = {
            let mut state = self.state.lock();
            // Only a standing operation has a result before its completion (an event).
            state.result = Some(merged(state.result, res));
            state.ended = true;
            self.publish(&state);
            (state.waker.take(), state.quiet == Some(res))
        };
        match waker {
            // Expected: the waiter learns of it when it looks (the waker is let go here, so
            // that a kept operation holds no task).
            (_, true) => None,
            (waker, false) => waker,
        }
    }
}

/// A standing operation's result `res` merged into `untaken`, the one its waiter has not
/// taken yet: poll masks are joined; an error replaces them and is never replaced itself
/// (the operation is then of no further use, and its waiter must learn why).
fn merged(untaken: Option<i32>, res: i32) -> i32 {
    match untaken {
        Some(e) if e < 0 => e,
        Some(events) if res >= 0 => events | res,
        _ => res,
    }
}
