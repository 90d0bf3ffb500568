//! Thread-locals that tell code which worker and which coroutine it runs on.
//!
//! A coroutine can move to another worker thread at every suspension point, and the compiler
//! may keep a thread-local's address in a register across a call that, unknown to it,
//! switches threads. So every access goes through a function that is never inlined: the
//! address is computed afresh on the thread that makes the call.

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use super::{Shared, Worker};
use crate::task::Header;

thread_local! {
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
    static TASK: Cell<Option<NonNull<Header>>> = const { Cell::new(None) };
}

/// The worker running on this thread. Do not keep the reference across a suspension point.
#[inline(never)]
pub(crate) fn current_worker<'a>() -> Option<&'a Worker> {
    let ptr = WORKER.get();
    // SAFETY: the pointer is set by the worker loop for its whole run and cleared before the
    // worker is dropped, on this same thread.
    unsafe { ptr.as_ref() }
}

#[inline(never)]
pub(crate) fn set_current_worker(worker: *const Worker) {
    WORKER.set(worker);
}

/// The task this thread is running, if any.
#[inline(never)]
pub(crate) fn current_task() -> Option<NonNull<Header>> {
    TASK.get()
}

/// Sets the running task; returns the previous one.
#[inline(never)]
pub(crate) fn set_current_task(task: Option<NonNull<Header>>) -> Option<NonNull<Header>> {
    TASK.replace(task)
}

/// The runtime this thread works for.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    current_worker().map(|w| w.shared().clone())
}

/// Arms a timer on this thread's worker that wakes `waker` at `deadline`.
///
/// # Panics
///
/// Panics off a worker thread; coroutines always run on one.
pub(crate) fn add_timer(deadline: Instant, waker: Waker) {
    current_worker()
        .expect("timer armed outside a worker")
        .add_timer(deadline, waker);
}
