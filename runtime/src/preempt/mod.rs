//! Signal preemption (opt-in): switching out a coroutine that holds its worker past the time
//! slice, at an arbitrary instruction, when that is provably safe.
//!
//! The monitor marks the worker (`Worker::request_preemption`) and sends `SIGURG` to the
//! thread driving it. The handler only *decides*. It redirects the interrupted context to a
//! trampoline only if all of these hold; otherwise it counts a deferral and the monitor
//! tries again a slice later:
//!
//! - the thread runs a coroutine's own code (the worker is in `User` mode) and that
//!   coroutine was spawned preemptible;
//! - the coroutine is not inside a runtime critical section (its `no_preempt` count is 0:
//!   hooks, suspension, runtime calls raise it);
//! - the interrupted stack pointer lies inside the coroutine's current stack (or `maybe_grow`
//!   segment) with room for the trampoline's frame;
//! - the interrupted instruction is outside libc, the dynamic loader and the vDSO (whose
//!   locks and state the next coroutine on this thread could walk into).
//!
//! The trampoline (`arch`) saves every general register, the flags and the whole vector
//! state (XSAVE), calls [`preempt_point`], which freezes the coroutine on its own thread
//! (`scheduler/freeze.rs`: its worker goes to a spare carrier until the coroutine's turn
//! comes back, and nothing else runs on the thread meanwhile), and on resume restores
//! everything and returns to the interrupted instruction. The x86_64 red zone below the
//! interrupted stack pointer is skipped.
//!
//! Supported on x86_64 Linux. Elsewhere, asking for signal preemption fails with a clear
//! error and hand-off still works.
//!
//! The same `SIGURG` handler takes the stuck-coroutine report's backtraces (`sample.rs`),
//! first, before it looks at preemption; it is installed for that alone (without the CPU
//! checks preemption needs) whenever the report is on.

mod ranges;
// The sampling half of the handler exists on x86_64 only (like the handler itself).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) mod sample;
#[cfg(target_arch = "x86_64")]
mod x86_64;

use crate::scheduler::Worker;

/// Installs the preemption signal handler (once per process); fails where unsupported.
pub(crate) fn enable() -> std::io::Result<()> {
    #[cfg(target_arch = "x86_64")]
    return x86_64::install();
    #[cfg(not(target_arch = "x86_64"))]
    return Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "signal preemption is supported on x86_64 Linux only; preemption by hand-off still works here",
    ));
}

/// Installs the `SIGURG` handler for stuck-coroutine samples (once per process). Returns
/// whether samples can be taken here (x86_64 Linux).
pub(crate) fn enable_samples() -> bool {
    #[cfg(target_arch = "x86_64")]
    return x86_64::install_handler().is_ok();
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// Sends `SIGURG` to the thread of this process with kernel id `tid`, for a sample the
/// monitor has just asked it for (see `signal_thread` on why by kernel id).
pub(crate) fn sample_thread(tid: i32) {
    #[cfg(target_arch = "x86_64")]
    if x86_64::handler_installed() {
        crate::sys::tgkill(tid, libc::SIGURG);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = tid;
}

/// Prepares the calling carrier thread to receive preemption signals (an alternate signal
/// stack is already there for the fault handler; nothing else is needed today).
pub(crate) fn register_thread() {}

/// Asks the thread driving `worker` to preempt its coroutine. Returns whether a signal was
/// sent (signal preemption is supported and installed).
pub(crate) fn signal_worker(worker: &Worker) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !x86_64::installed() {
            return false;
        }
        worker.request_preemption();
        // SAFETY: `worker.thread()` is the pthread_t of the thread driving the worker, alive
        // while it does (a carrier exits only after giving the worker up); SIGURG is handled by
        // our handler (`installed` above), which ignores signals it did not ask for.
        unsafe { crate::sys::pthread_kill(worker.thread(), libc::SIGURG) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = worker;
        false
    }
}

/// Whether preemption signals can be sent (the handler is installed).
pub(crate) fn signal_preemption_supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::installed()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Sends a preemption signal to the thread of this process with kernel id `tid` (the handler
/// acts only if a request for that thread is pending). By kernel id, not `pthread_t`: the
/// thread may have exited meanwhile, and a stale id at worst reaches another of our threads,
/// whose handler ignores it.
pub(crate) fn signal_thread(tid: i32) {
    if signal_preemption_supported() {
        // SIGURG is handled by our handler.
        crate::sys::tgkill(tid, libc::SIGURG);
    }
}

/// What the trampoline calls: freezes the running (preempted) coroutine on its thread.
///
/// Runs on the coroutine's stack, in ordinary (not signal) context, with every register of
/// the interrupted code saved by the trampoline.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
pub(crate) extern "C" fn preempt_point() {
    // The interrupted code may be between a system call and its read of errno; freezing
    // makes system calls of its own.
    let errno = crate::sys::raw::errno();
    if crate::task::preempted() {
        count_done();
    }
    crate::sys::raw::set_errno(errno);
}

/// Counts a preemption (at a signal, or at the safe point after a deferred one), in the
/// running coroutine's runtime.
pub(crate) fn count_done() {
    if let Some(task) = crate::scheduler::context::current_task() {
        // SAFETY: the running task is alive while it runs.
        unsafe { task.as_ref() }.shared.count_preemption();
    }
}
