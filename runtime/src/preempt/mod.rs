//! Signal preemption (opt-in). See `docs/preemption.md`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::scheduler::Worker;

static DONE: AtomicU64 = AtomicU64::new(0);
static DEFERRED: AtomicU64 = AtomicU64::new(0);

/// Coroutines switched out by a preemption signal.
pub(crate) fn done() -> u64 {
    DONE.load(Ordering::Relaxed)
}

/// Signals that arrived at an unsafe point.
pub(crate) fn deferred() -> u64 {
    DEFERRED.load(Ordering::Relaxed)
}

/// Prepares the calling carrier thread to receive preemption signals.
pub(crate) fn register_thread() {}

/// Sends a preemption signal to the thread driving `worker`. Returns whether one was sent
/// (signal preemption is supported and enabled).
pub(crate) fn signal_worker(_worker: &Worker) -> bool {
    false
}

/// Installs the preemption signal handler (once per process); fails where unsupported.
pub(crate) fn enable() -> std::io::Result<()> {
    Ok(())
}
