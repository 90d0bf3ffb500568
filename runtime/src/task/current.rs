//! What a coroutine can do to itself: suspend, yield, sleep, learn who it is.
//!
//! Every function here works outside a coroutine too, falling back to the thread
//! equivalent (`std::thread::yield_now`, `std::thread::sleep`).

use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::raw::{Header, Suspend, TaskRef};
use crate::scheduler::context;

/// The panic payload that carries a cancellation up the coroutine's stack.
pub(crate) struct Cancelled;

fn current_header<'a>() -> Option<&'a Header> {
    // SAFETY: the current task is alive while it runs: the worker holds a reference.
    context::current_task().map(|ptr| unsafe { ptr.as_ref() })
}

/// Whether the caller runs in a coroutine.
pub fn in_coroutine() -> bool {
    context::current_task().is_some()
}

/// The id of the running coroutine, or `None` on a plain thread.
pub fn current_id() -> Option<u64> {
    current_header().map(|h| h.id)
}

/// The name of the running coroutine, if it runs in one and was given a name.
pub fn current_name() -> Option<String> {
    current_header().and_then(|h| h.name.as_deref().map(str::to_owned))
}

/// A waker for the running coroutine, or `None` on a plain thread.
pub(crate) fn waker() -> Option<Waker> {
    current_header().map(super::waker::waker)
}

/// A waker for the running coroutine that holds no reference of its own (making and dropping
/// it changes no count); clones of it are ordinary wakers. `None` on a plain thread.
///
/// # Safety
///
/// The waker must not outlive the running coroutine: keep it on the coroutine's own stack
/// (its frame ends before the coroutine does), and hand out only clones.
pub(crate) unsafe fn borrowed_waker() -> Option<std::mem::ManuallyDrop<Waker>> {
    // SAFETY: forwarded from our caller.
    current_header().map(|header| unsafe { super::waker::borrowed(header) })
}

/// Suspends the running coroutine until something wakes it. Wake-ups may be spurious:
/// callers re-check their condition. Does nothing outside a coroutine.
pub(crate) fn park_forever() {
    if let Some(header) = current_header() {
        suspend(header);
    }
}

/// Suspends the running coroutine until something wakes it, without unwinding on
/// cancellation: for waits that the kernel must see to the end (an io_uring operation that
/// names the coroutine's memory). Callers check [`cancel_pending`] after waking.
pub(crate) fn park_uncancellable() {
    switch_out(Suspend::Park);
}

/// Lets other coroutines run (and moves a coroutine whose worker was handed away to a worker)
/// without unwinding on cancellation (see `park_uncancellable`).
pub(crate) fn yield_uncancellable() {
    switch_out(Suspend::Yield);
}

/// Switches the running coroutine out for `why`, without delivering a cancellation.
fn switch_out(why: Suspend) {
    if let Some(header) = current_header() {
        let yielder = header.yielder.get();
        if yielder.is_null() {
            return; // unwound because it was dropped: it cannot suspend (see `task/cell.rs`)
        }
        header.hold_preemption();
        // SAFETY: as in `suspend_for`: the yielder lives on the stack we run on.
        unsafe { (*yielder).suspend(why) };
        header.release_preemption();
    }
}

/// The preemption point: the trampoline saved the interrupted registers. The coroutine is
/// frozen on this thread (`scheduler/freeze.rs`): nothing else runs here until it goes on,
/// so whatever the interrupted code held on this thread (an allocator's per-thread cache, a
/// borrowed thread-local, std's panic count) is seen by nobody else. Returns whether it was
/// frozen. Never unwinds (the frames above are not ordinary calls).
pub(crate) fn preempted() -> bool {
    let Some(header) = current_header() else { return false };
    header.hold_preemption();
    let frozen = crate::scheduler::freeze(header);
    header.release_preemption();
    frozen
}

/// A safe point: if a preemption signal was deferred, switch out now (counted as done). A
/// coroutine whose worker was handed to another thread while it ran yields here, back to the
/// pool: its thread becomes a spare, and it gets the worker's reactor and (when
/// preemptible) signal preemption again. Never unwinds.
pub(crate) fn preempt_if_pending() {
    // Not while the coroutine panics: std keeps a panic's state per thread (its count, the
    // unwinder's walk while the hook prints a backtrace), and a coroutine switched out here
    // may resume on another thread. Skipping a voluntary switch is always safe.
    if std::thread::panicking() {
        return;
    }
    if let Some(header) = current_header() {
        let pending = header.preempt_pending.load(Ordering::Relaxed);
        if pending {
            header.preempt_pending.store(false, Ordering::Relaxed);
        }
        if !header.preemption_allowed() {
            return;
        }
        if pending {
            // Freezing keeps the coroutine on this thread: safe even inside a signal handler.
            // (Not a coroutine being unwound because it was dropped: it has no yielder and
            // runs inside another's code.)
            if !header.yielder.get().is_null() && preempted() {
                crate::preempt::count_done();
            }
        } else if context::detached() && !header.yielder.get().is_null() && !crate::scheduler::in_signal_handler() {
            // Back to the pool: the coroutine resumes on another thread. Never from inside a
            // signal handler (a hooked call made by one): the handler would return on the
            // wrong thread and `rt_sigreturn` restore this thread's signal state there.
            let yielder = header.yielder.get();
            header.hold_preemption();
            // SAFETY: as in `suspend_for`: the yielder lives on the stack we run on.
            unsafe { (*yielder).suspend(Suspend::Yield) };
            header.release_preemption();
        }
    }
}

/// Enters a region where a preemption signal must not switch the running coroutine out.
pub(crate) fn no_preempt_enter() {
    if let Some(header) = current_header() {
        header.hold_preemption();
    }
}

/// Leaves such a region.
pub(crate) fn no_preempt_exit() {
    if let Some(header) = current_header() {
        header.release_preemption();
    }
}

/// Whether the running coroutine has been asked to stop (cancelled, or runtime shutdown) and
/// has not begun to unwind yet.
pub(crate) fn cancel_pending() -> bool {
    current_header().is_some_and(|h| !h.unwinding.get() && (h.state.is_cancelled() || h.shared.is_shutting_down()))
}

/// Whether a panic payload caught with `std::panic::catch_unwind` is the runtime's
/// cancellation of the coroutine, which must be resumed (`std::panic::resume_unwind`) rather
/// than handled.
pub fn is_cancellation(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<Cancelled>()
}

/// Whether a panic payload is the runtime's cancellation.
pub(crate) fn is_cancel_payload(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<Cancelled>()
}

/// A cancellation was caught where it may not unwind further (a hook, called from C): let
/// the next suspension point deliver it again.
pub(crate) fn rearm_cancel() {
    if let Some(header) = current_header() {
        header.unwinding.set(false);
    }
}

/// Records that a hook told the running coroutine of its cancellation by ending a sleep
/// early; returns whether one had already done so.
pub(crate) fn cancel_told() -> bool {
    current_header().is_some_and(|h| h.cancel_told.replace(true))
}

/// Unwinds the running coroutine if it has been asked to stop.
pub(crate) fn unwind_if_cancelled() {
    if let Some(header) = current_header() {
        deliver_cancel(header);
    }
}

/// Suspends the running coroutine until it is woken or `deadline` passes.
pub(crate) fn park_until(deadline: Instant) {
    if let Some(header) = current_header() {
        if arm_timer(header, deadline, None) {
            suspend(header);
        } else {
            // Our worker was handed to another thread while we ran: move to a worker. The
            // caller sees a spurious wake-up and waits again there.
            suspend_for(header, Suspend::Yield);
        }
    }
}

/// `park_until` without unwinding on cancellation (see `park_uncancellable`). `now`, if
/// given, is a reading of the clock taken since the coroutine last resumed (it spares
/// another).
pub(crate) fn park_until_uncancellable(deadline: Instant, now: Option<Instant>) {
    if let Some(header) = current_header() {
        switch_out(if arm_timer(header, deadline, now) { Suspend::Park } else { Suspend::Yield });
    }
}

/// Makes sure a timer wakes the running coroutine at `deadline` or before; `false` when the
/// thread drives no worker to arm one on.
///
/// A coroutine keeps at most one live timer for waits with ever later deadlines (a
/// connection's reads, each with the idle time-out from now): the timer armed for an
/// earlier wait still lies ahead, wakes it early, spuriously, and the wait then arms a
/// fresh one. Arming one per wait would fill the heap with timers that fire long after
/// their waits ended.
///
/// `now`, if given, must have been read since the coroutine last resumed: a timer that fired
/// after that reading fired while the coroutine ran, and its wake-up makes the next
/// suspension return at once (the caller then waits again and arms afresh).
fn arm_timer(header: &Header, deadline: Instant, now: Option<Instant>) -> bool {
    if let Some(armed) = header.timer_armed.get() {
        // In the future by the clock, so no worker has fired it yet (a worker fires a timer
        // only once its own reading of the clock has passed the deadline).
        if armed <= deadline && armed > now.unwrap_or_else(Instant::now) {
            return true;
        }
    }
    let armed = context::add_timer(deadline, super::waker::waker(header));
    if armed {
        header.timer_armed.set(Some(deadline));
    }
    armed
}

/// The suspension point: switch back to the worker, and unwind if cancelled meanwhile.
fn suspend(header: &Header) {
    suspend_for(header, Suspend::Park);
}

fn suspend_for(header: &Header, why: Suspend) {
    deliver_cancel(header);
    let yielder = header.yielder.get();
    if yielder.is_null() {
        return; // unwound because it was dropped: it cannot suspend (see `task/cell.rs`)
    }
    header.hold_preemption();
    // SAFETY: the yielder was stored by this coroutine when it started and lives on its stack,
    // which is the stack we run on right now.
    unsafe { (*yielder).suspend(why) };
    header.release_preemption();
    // We may be on another worker thread now: nothing cached from before is reused.
    deliver_cancel(header);
}

fn deliver_cancel(header: &Header) {
    if !header.unwinding.get() && (header.state.is_cancelled() || header.shared.is_shutting_down()) {
        header.unwinding.set(true);
        std::panic::resume_unwind(Box::new(Cancelled));
    }
}

/// A handle to a coroutine, for waking it from [`park`].
#[derive(Clone)]
pub struct Coroutine {
    task: TaskRef,
}

impl std::fmt::Debug for Coroutine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coroutine").field("id", &self.id()).field("name", &self.name()).finish()
    }
}

impl Coroutine {
    /// The coroutine's id.
    pub fn id(&self) -> u64 {
        self.task.header().id
    }

    /// The coroutine's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.task.header().name.as_deref()
    }

    /// Makes the coroutine's token available: if it is blocked in [`park`] it resumes, and if
    /// it is not, its next `park` returns at once. Works from any thread.
    pub fn unpark(&self) {
        let header = self.task.header();
        header.unpark_token.store(true, Ordering::Release);
        header.wake();
    }
}

/// A handle to the running coroutine, or `None` on a plain thread.
pub fn current() -> Option<Coroutine> {
    current_header().map(|h| Coroutine { task: TaskRef::from_header(h) })
}

/// Blocks the running coroutine until its token is made available by
/// [`Coroutine::unpark`], then consumes the token, as `std::thread::park` does for threads.
/// It may also return spuriously, so callers re-check their condition in a loop. A cancelled
/// coroutine unwinds here.
///
/// On a plain thread this is `std::thread::park`.
pub fn park() {
    match current_header() {
        Some(header) => {
            // Only this coroutine takes the token: a load tells whether a swap would find it
            // (a read-modify-write saved when it is not there, the usual case).
            let available =
                header.unpark_token.load(Ordering::Relaxed) && header.unpark_token.swap(false, Ordering::Acquire);
            if !available {
                suspend(header);
                header.unpark_token.store(false, Ordering::Release);
            }
        }
        None => std::thread::park(),
    }
}

/// Lets other coroutines run; the caller goes to the back of its worker's queue.
///
/// Outside a coroutine this is `std::thread::yield_now`.
pub fn yield_now() {
    match current_header() {
        Some(header) => suspend_for(header, Suspend::Yield),
        None => std::thread::yield_now(),
    }
}

/// Suspends the running coroutine for at least `duration`.
///
/// Outside a coroutine this is `std::thread::sleep`.
pub fn sleep(duration: Duration) {
    if current_header().is_none() {
        std::thread::sleep(duration);
        return;
    }
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        // A sleep past the end of time: park until cancelled.
        None => loop {
            park_forever();
        },
    }
}

/// Suspends the running coroutine until `deadline`.
///
/// Outside a coroutine this blocks the thread.
pub fn sleep_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        if current_header().is_some_and(|h| !h.yielder.get().is_null()) {
            park_until(deadline);
        } else {
            std::thread::sleep(deadline - now);
        }
    }
}
