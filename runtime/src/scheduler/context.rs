//! Thread-locals that tell code which worker and which coroutine it runs on.
//!
//! A coroutine can move to another worker thread at every suspension point, and the compiler
//! may keep a thread-local's address in a register across a call that, unknown to it,
//! switches threads. So every access goes through a function that is never inlined: the
//! address is computed afresh on the thread that makes the call.
//!
//! # Who may touch a worker
//!
//! A worker's non-thread-safe parts (local queue, timers, stack cache, reactor) are touched
//! only by the thread that *drives* it (`Worker::driver`). [`current_worker`] checks that, and
//! while a coroutine is in its user code the check also moves the worker's mode from `USER` to
//! `RUNTIME` for the life of the returned guard: the monitor hands a worker to another thread
//! only by moving it from `USER` to `HANDED`, so a guard and a hand-off exclude each other. A
//! guard must never be held across a suspension point.

use std::cell::Cell;
use std::ops::Deref;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use super::worker::Mode;
use super::{Shared, Worker};
use crate::task::Header;

thread_local! {
    static WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
    static TASK: Cell<Option<NonNull<Header>>> = const { Cell::new(None) };
    static TOKEN: Cell<u64> = const { Cell::new(0) };
}

crate::tls_accessor! {
    /// A number that identifies the calling thread (never 0, never reused).
    pub(crate) fn thread_token() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let token = TOKEN.get();
        if token != 0 {
            return token;
        }
        let token = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TOKEN.set(token);
        token
    }
}

/// Access to the worker this thread drives; see the module docs.
pub(crate) struct WorkerRef<'a> {
    worker: &'a Worker,
    /// The calling thread's token, when the guard moved the worker from `User` to `Runtime`
    /// and its drop must move it back.
    restore_user: Option<u64>,
}

impl Deref for WorkerRef<'_> {
    type Target = Worker;
    fn deref(&self) -> &Worker {
        self.worker
    }
}

impl Drop for WorkerRef<'_> {
    fn drop(&mut self) {
        if let Some(token) = self.restore_user {
            self.worker.set_mode_as(token, Mode::User);
        }
    }
}

crate::tls_accessor! {
    /// The worker this thread drives, if any. Do not keep the guard across a suspension point.
    pub(crate) fn current_worker<'a>() -> Option<WorkerRef<'a>> {
        let ptr = WORKER.get();
        // SAFETY: the pointer is set by a thread while it drives the worker, and the worker is
        // kept alive by the runtime for as long as any thread may drive it.
        let worker = unsafe { ptr.as_ref() }?;
        let (driver, mode) = worker.driver_and_mode();
        // Read once for the check, the mode change and the guard's drop. A thread that never
        // asked for its token (0) drives no worker: drivers' tokens are never 0.
        let token = TOKEN.get();
        if driver != token {
            return None;
        }
        match mode {
            Mode::Sched | Mode::Runtime => Some(WorkerRef { worker, restore_user: None }),
            // Built only on success: a guard's drop writes the mode back, and a failed attempt
            // must not write over the state of the thread the worker was handed to.
            Mode::User => {
                if worker.enter_runtime_as(token) {
                    Some(WorkerRef { worker, restore_user: Some(token) })
                } else {
                    None
                }
            }
            Mode::Handed => None,
        }
    }
}

crate::tls_accessor! {
    /// Whether this thread runs a coroutine whose worker was handed to another thread (the
    /// coroutine held it past the time slice and has not suspended since).
    pub(crate) fn detached() -> bool {
        let ptr = WORKER.get();
        // SAFETY: as in `current_worker`.
        let Some(worker) = (unsafe { ptr.as_ref() }) else {
            return false;
        };
        let (driver, mode) = worker.driver_and_mode();
        driver != thread_token() || mode == Mode::Handed
    }
}

crate::tls_accessor! {
    /// The worker whose loop this thread runs, whether or not it drives it right now (its
    /// coroutine may have been handed off with the thread).
    pub(crate) fn thread_worker<'a>() -> Option<&'a Worker> {
        let ptr = WORKER.get();
        // SAFETY: as in `current_worker`.
        unsafe { ptr.as_ref() }
    }
}

crate::tls_accessor! {
    pub(crate) fn set_current_worker(worker: *const Worker) {
        WORKER.set(worker);
    }
}

/// The worker this thread drives, for the preemption signal handler.
///
/// # Signal safety
///
/// Reads two const-initialised thread-locals and one atomic.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
pub(crate) fn signal_worker<'a>() -> Option<&'a Worker> {
    let ptr = WORKER.get();
    // SAFETY: as in `current_worker`.
    let worker = unsafe { ptr.as_ref() }?;
    let me = TOKEN.get();
    (me != 0 && worker.driver_and_mode().0 == me).then_some(worker)
}

/// The worker whose preemptible coroutine this thread kept when the worker was handed to
/// another thread, if the monitor asked for a preemption here (clearing the request); for
/// the preemption signal handler.
///
/// # Signal safety
///
/// Reads two const-initialised thread-locals and atomics.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
pub(crate) fn signal_detached_worker<'a>() -> Option<&'a Worker> {
    let ptr = WORKER.get();
    // SAFETY: as in `current_worker`.
    let worker = unsafe { ptr.as_ref() }?;
    let me = TOKEN.get();
    (me != 0 && worker.take_detached_request(me)).then_some(worker)
}

/// The worker whose loop this thread runs (driving it or not), for the signal handler.
///
/// # Signal safety
///
/// Reads a const-initialised thread-local.
pub(crate) fn signal_thread_worker<'a>() -> Option<&'a Worker> {
    let ptr = WORKER.get();
    // SAFETY: as in `current_worker`.
    unsafe { ptr.as_ref() }
}

/// This thread's token (0 if it never asked for one), for the signal handler.
///
/// # Signal safety
///
/// Reads a const-initialised thread-local.
pub(crate) fn signal_token() -> u64 {
    TOKEN.get()
}

/// The running task, for the preemption signal handler.
///
/// # Signal safety
///
/// Reads a const-initialised thread-local.
pub(crate) fn signal_task() -> Option<NonNull<Header>> {
    TASK.get()
}

crate::tls_accessor! {
    /// The task this thread is running, if any.
    pub(crate) fn current_task() -> Option<NonNull<Header>> {
        TASK.get()
    }
}

crate::tls_accessor! {
    /// Sets the running task; returns the previous one.
    pub(crate) fn set_current_task(task: Option<NonNull<Header>>) -> Option<NonNull<Header>> {
        TASK.replace(task)
    }
}

/// The runtime the caller belongs to: the running coroutine's (even if its worker was just
/// handed to another thread), or that of the worker this thread drives.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    if let Some(task) = current_task() {
        // SAFETY: the running task is alive while it runs.
        return Some(unsafe { task.as_ref() }.shared.clone());
    }
    current_worker().map(|w| w.shared().clone())
}

/// Arms a timer on this thread's worker that wakes `waker` at `deadline`. Returns `false`
/// when the thread drives no worker (its worker was handed to another thread while this
/// coroutine held it): the caller must then wait some other way.
pub(crate) fn add_timer(deadline: Instant, waker: Waker) -> bool {
    match current_worker() {
        Some(w) => {
            w.add_timer(deadline, waker);
            true
        }
        None => false,
    }
}
