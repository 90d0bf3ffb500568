//! The type-erased task: a header every task starts with, and a thin counted reference to it.
//!
//! A task is one heap allocation (`Cell<F, T>`, counted like an `Arc`) that begins with a
//! [`Header`].
//! Queues, wakers and join handles hold a [`TaskRef`]: a pointer to that header whose
//! clone, drop and run go through the header's vtable, which knows the concrete `F` and `T`.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering, compiler_fence};
use std::task::Waker;

use corosensei::Yielder;

use super::state::{AfterRun, State};
use crate::scheduler::Shared;
use crate::scheduler::Worker;
use crate::stack::GuardRange;
use crate::sync::SpinLock;

/// Why a coroutine suspended: the value it passes to its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suspend {
    /// It waits for a wake-up.
    Park,
    /// It wants to run again after the others (`yield_now`).
    Yield,
}

/// What a run of a task ended with.
pub(crate) enum Run {
    /// The coroutine suspended.
    Suspended(Suspend),
    /// The task finished (returned, panicked, was cancelled or could not start); its output
    /// is stored and its state must be set to complete.
    /// Carries the coroutine\'s stack if it ran, for the caller to recycle.
    Finished(Option<crate::stack::Stack>),
}

/// Operations that need the concrete task type.
pub(crate) struct Vtable {
    /// Runs the task until it suspends or finishes.
    pub(crate) run: unsafe fn(NonNull<Header>, &Worker) -> Run,
    /// Moves the output into `*mut Option<Result<T, JoinError>>`.
    pub(crate) take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Adds a reference.
    pub(crate) clone_ref: unsafe fn(NonNull<Header>),
    /// Drops a reference, freeing the task with the last one.
    pub(crate) drop_ref: unsafe fn(NonNull<Header>),
    /// Frees the task after its count reached zero outside `drop_ref` (a state transition
    /// that gave back the last reference).
    pub(crate) release: unsafe fn(NonNull<Header>),
}

/// The part of every task the scheduler understands.
///
/// # Invariants
///
/// - `state`, `join_waker` and the immutable fields may be touched from any thread.
/// - `yielder` and `unwinding` belong to the coroutine: they are read and written only by the
///   thread that currently runs the task (between `State::start_run` and `State::end_run`).
#[repr(C)]
pub(crate) struct Header {
    /// Where the task is in its life, and the references to it (`TaskRef`s, wakers): the
    /// task is freed when the last goes, after a suspended coroutine is unwound
    /// (`task/cell.rs`).
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) id: u64,
    pub(crate) priority: i64,
    /// Usable stack bytes asked for; 0 means the runtime's default.
    pub(crate) stack_size: usize,
    pub(crate) name: Option<Box<str>>,
    /// May be preempted by a signal (see `preempt/`).
    pub(crate) preemptible: bool,
    pub(crate) shared: Arc<Shared>,
    /// The token of `task::park`/`Coroutine::unpark`.
    pub(crate) unpark_token: std::sync::atomic::AtomicBool,
    /// Who to wake when the task completes.
    pub(crate) join_waker: SpinLock<Option<Waker>>,
    /// The coroutine's yielder, set when it first runs; cleared when the coroutine is unwound
    /// because it was dropped, so that nothing switches it out (`task/cell.rs`).
    pub(crate) yielder: Cell<*const Yielder<(), Suspend>>,
    /// Cancellation was delivered (the coroutine is unwinding): do not deliver it again.
    pub(crate) unwinding: Cell<bool>,
    /// A hook ended a sleep early to tell the coroutine of its cancellation; a second hooked
    /// sleep while still cancelled is refused outright (`hooks/sleep.rs`).
    pub(crate) cancel_told: Cell<bool>,
    /// Nesting of regions where a preemption signal must not switch the coroutine out
    /// (suspension, runtime locks, hooks, the coroutine's first and last instructions).
    /// Shared with the signal handler on the coroutine's own thread: changed only through
    /// [`Header::hold_preemption`] and [`Header::release_preemption`], whose compiler fences
    /// keep the region's code between them.
    pub(crate) no_preempt: AtomicU32,
    /// A preemption signal arrived at an unsafe point: switch out at the next safe one (the
    /// end of a hooked call). Set by the signal handler on the coroutine's own thread.
    pub(crate) preempt_pending: AtomicBool,
    /// The freeze word of a preempted coroutine (`scheduler/freeze.rs`): a generation above
    /// the low two bits, a state in them. A futex: the frozen thread waits on it.
    pub(crate) frozen: AtomicU32,
    /// While frozen: the thread token, kernel thread id and `pthread_t` of the thread that
    /// keeps the coroutine, for the worker that resumes it.
    pub(crate) frozen_token: AtomicU64,
    pub(crate) frozen_tid: AtomicI32,
    pub(crate) frozen_thread: AtomicU64,
    /// The deadline of the latest timer armed to wake this coroutine, which is still in a
    /// worker's heap while it lies in the future: a park with a later deadline needs no new
    /// timer (it wakes early, spuriously, and parks again with a fresh one). Touched only
    /// by the coroutine itself.
    pub(crate) timer_armed: Cell<Option<std::time::Instant>>,
    /// The index of the worker that last resumed the coroutine (`u32::MAX` before its first
    /// run), for the migrations count. Touched only by the worker running the task.
    pub(crate) last_worker: Cell<u32>,
    /// The guard page of the coroutine's stack, for the overflow handler.
    pub(crate) guard: Cell<GuardRange>,
    /// The coroutine's `coroutine_local!` values. Touched only by the coroutine itself.
    pub(crate) locals: crate::local::Slots,
}

// SAFETY: the `Cell` fields are only touched by the thread running the task (see Invariants);
// everything else is immutable or synchronised.
unsafe impl Sync for Header {}
// SAFETY: as above; the header owns no thread-affine resources.
unsafe impl Send for Header {}

impl Header {
    /// Enters a region where a preemption signal must not switch the coroutine out. Called
    /// only on the thread that runs the coroutine.
    ///
    /// # Signal safety
    ///
    /// The handler on the same thread reads the count: a relaxed load and store (one thread
    /// writes), then a compiler fence so that nothing of the region moves above the store.
    #[inline]
    pub(crate) fn hold_preemption(&self) {
        self.no_preempt.store(self.no_preempt.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
    }

    /// Leaves such a region (the fence first: nothing of the region moves below the store).
    #[inline]
    pub(crate) fn release_preemption(&self) {
        compiler_fence(Ordering::SeqCst);
        self.no_preempt.store(self.no_preempt.load(Ordering::Relaxed) - 1, Ordering::Relaxed);
    }

    /// Whether the coroutine is outside every no-preempt region.
    ///
    /// # Signal safety
    ///
    /// One relaxed load.
    #[inline]
    pub(crate) fn preemption_allowed(&self) -> bool {
        self.no_preempt.load(Ordering::Relaxed) == 0
    }

    /// Wakes the task: queues it if it was idle.
    pub(crate) fn wake(&self) {
        // SAFETY: `self` is alive for the call, and no reference is given up.
        unsafe { wake_raw(NonNull::from(self), false) }
    }
}

/// Wakes the task at `ptr`; with `give`, the caller's reference goes with the wake-up (to
/// the run queue, or dropped).
///
/// A coroutine that wakes another default-priority coroutine of its runtime on the worker
/// that runs it puts it in the worker's run-next slot, marked running at once (`state.rs`):
/// it runs there as soon as the waker suspends, and the worker saves the state change of
/// taking it off a queue. A wake-up that cannot change anything (the task is queued,
/// notified or complete) is told by one load and never touches the worker.
///
/// # Safety
///
/// The task must be alive for the call: the caller holds a reference, which it gives up if
/// `give` is set (the task may be freed before this returns).
pub(crate) unsafe fn wake_raw(ptr: NonNull<Header>, give: bool) {
    use super::state::Wake;
    // SAFETY: alive, from the caller; not used after a `release` below.
    let header = unsafe { ptr.as_ref() };
    if header.priority == super::DEFAULT_PRIORITY
        && crate::scheduler::context::current_task().is_some()
        && header.state.wake_may_schedule()
        && let Some(worker) = crate::scheduler::context::current_worker()
        && std::ptr::eq(Arc::as_ptr(worker.shared()), Arc::as_ptr(&header.shared))
    {
        match header.state.wake_to_run(give) {
            // SAFETY: the transition gave the caller a reference for the queue.
            Wake::Schedule => worker.push_run_next(unsafe { TaskRef::from_raw(ptr) }),
            // SAFETY: the count reached zero on this thread.
            Wake::Last => unsafe { (header.vtable.release)(ptr) },
            Wake::Nothing => {}
        }
        return;
    }
    match header.state.wake(give) {
        // SAFETY: the transition gave the caller a reference for the queue.
        Wake::Schedule => header.shared.schedule(unsafe { TaskRef::from_raw(ptr) }),
        // SAFETY: the count reached zero on this thread.
        Wake::Last => unsafe { (header.vtable.release)(ptr) },
        Wake::Nothing => {}
    }
}

/// Whether the caller runs in a coroutine that can suspend: not on a plain thread, and not in
/// a dropped coroutine being unwound in place (whose yielder is cleared, see `task/cell.rs`).
#[inline]
pub(crate) fn can_suspend() -> bool {
    // SAFETY: the current task is alive while it runs (or is unwound): its runner holds a
    // reference.
    crate::scheduler::context::current_task().is_some_and(|h| !unsafe { h.as_ref() }.yielder.get().is_null())
}

/// A counted reference to a task.
pub(crate) struct TaskRef {
    ptr: NonNull<Header>,
}

// SAFETY: the header is Sync and Send and the vtable functions are thread-safe reference
// counting (an atomic count in the header).
unsafe impl Send for TaskRef {}
// SAFETY: as above.
unsafe impl Sync for TaskRef {}

impl TaskRef {
    /// Takes over one reference held as a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must carry a reference count the caller gives up.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> TaskRef {
        TaskRef { ptr }
    }

    /// Adds a reference to the task that `header` belongs to.
    pub(crate) fn from_header(header: &Header) -> TaskRef {
        let ptr = NonNull::from(header);
        // SAFETY: `header` is alive (we hold a reference), so its count is at least one.
        unsafe { (header.vtable.clone_ref)(ptr) };
        TaskRef { ptr }
    }

    /// Gives up this reference as a raw pointer (for a `RawWaker`).
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.ptr;
        std::mem::forget(self);
        ptr
    }

    /// The coroutine parked: ends the run (`State::end_run`), which gives this reference back
    /// in the same step unless the task was woken meanwhile; then it is returned, to be
    /// queued again. From the moment the transition gives the reference back, another thread
    /// may wake, finish and free the task, so nothing of it is read after that step unless
    /// the count reached zero here.
    pub(crate) fn end_run(self) -> Option<TaskRef> {
        match self.header().state.end_run() {
            AfterRun::Reschedule => Some(self),
            AfterRun::Idle { last } => {
                let ptr = self.into_raw();
                if last {
                    // SAFETY: the count reached zero on this thread: nobody else can reach
                    // the task, so it is still alive here, and ours to free.
                    let header = unsafe { ptr.as_ref() };
                    debug_assert_eq!(header.state.refs(), 0);
                    // SAFETY: as above.
                    unsafe { (header.vtable.release)(ptr) };
                }
                None
            }
        }
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: we hold a reference, so the allocation is alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Runs the task on `worker`. The state must already say `RUNNING`.
    pub(crate) fn run(&self, worker: &Worker) -> Run {
        // SAFETY: the task is alive, and the RUNNING bit gives this thread exclusive access
        // to the coroutine side of the task.
        unsafe { (self.header().vtable.run)(self.ptr, worker) }
    }

    /// Moves the output out into `out`, which must point to `Option<Result<T, JoinError>>`
    /// for the task's own `T`.
    ///
    /// # Safety
    ///
    /// `out` must have the task's output type, the task must be complete, and only the join
    /// handle's owner may call this.
    pub(crate) unsafe fn take_output(&self, out: *mut ()) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.take_output)(self.ptr, out) }
    }
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        TaskRef::from_header(self.header())
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference and give it up here.
        unsafe { (self.header().vtable.drop_ref)(self.ptr) }
    }
}
