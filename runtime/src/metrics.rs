//! Counters the runtime keeps, and the snapshot `Runtime::metrics` returns.
//!
//! Each worker owns a cache-padded block of counters and is their only writer (a plain
//! load-and-store, no locked instruction); any thread may read them. Spawns from threads
//! that are not workers count in a shared counter.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters written by one worker.
#[derive(Default)]
pub(crate) struct WorkerCounters {
    pub(crate) spawned: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) switches: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) stack_cache: AtomicUsize,
    pub(crate) timers: AtomicUsize,
    pub(crate) io_in_flight: AtomicUsize,
}

/// Adds one to a counter that only the calling thread writes.
#[inline]
pub(crate) fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// A point-in-time view of the runtime's counters.
///
/// Counters are read one by one while the runtime runs, so they may disagree by a few
/// events; `alive` is computed as `spawned - finished`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// Worker threads.
    pub workers: usize,
    /// Coroutines spawned since the runtime started.
    pub spawned: u64,
    /// Coroutines that finished (returned, panicked, were cancelled or could not start).
    pub finished: u64,
    /// Coroutines spawned and not finished: queued, running or suspended.
    pub alive: u64,
    /// Switches into coroutines (each resume counts once).
    pub switches: u64,
    /// Successful steals of work from another worker or from the global queue.
    pub steals: u64,
    /// Times a worker went to sleep for lack of work.
    pub parks: u64,
    /// Tasks waiting in the global queue.
    pub injector_depth: usize,
    /// Tasks with a non-default priority waiting to run.
    pub priority_depth: usize,
    /// Stacks mapped now (in use or pooled).
    pub stacks_mapped: usize,
    /// Stacks pooled for reuse (worker caches and the shared pool).
    pub stacks_pooled: usize,
    /// Timers armed.
    pub timers: usize,
    /// `maybe_grow` stack segments in use by this runtime's coroutines.
    pub stack_segments: usize,
    /// Workers handed to another thread because a coroutine held theirs past the time slice.
    pub handoffs: u64,
    /// Hand-offs that could not happen because the carrier limit was reached.
    pub handoffs_refused: u64,
    /// Threads driving workers or waiting to (workers plus spare carriers).
    pub carriers_alive: usize,
    /// This runtime's coroutines switched out by a preemption signal.
    pub signal_preemptions: u64,
    /// Preemption signals to this runtime's workers that arrived at an unsafe point and were
    /// left for a later one.
    pub signal_preemptions_deferred: u64,
    /// How stack guard pages are made on this machine.
    pub stack_guard: StackGuard,
    /// The IO backend the workers use.
    pub io_backend: crate::IoBackend,
    /// IO operations (io_uring) or descriptor waits (epoll) in flight. On io_uring this
    /// includes the standing readiness poll of every socket that has waited
    /// ([`io::Readiness`](crate::io::Readiness)).
    pub io_in_flight: usize,
    /// Per-worker figures, indexed by worker.
    pub per_worker: Vec<WorkerMetrics>,
}

/// How coroutine stacks get their guard page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StackGuard {
    /// Page-table guard markers (`MADV_GUARD_INSTALL`, Linux 6.13+): stacks are carved from
    /// shared chunks and `vm.max_map_count` does not limit how many can exist.
    #[default]
    Marker,
    /// A `PROT_NONE` page in a mapping per stack: each stack costs two memory mappings, so
    /// `vm.max_map_count` bounds the number of live coroutines.
    Protect,
}

/// One worker's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Tasks in the worker's local queue.
    pub queue_depth: usize,
    /// Coroutines spawned by coroutines running on this worker.
    pub spawned: u64,
    /// Coroutines that finished on this worker.
    pub finished: u64,
    /// Switches into coroutines on this worker.
    pub switches: u64,
    /// Successful steals by this worker.
    pub steals: u64,
    /// Times this worker went to sleep.
    pub parks: u64,
    /// Stacks in this worker's cache.
    pub stack_cache: usize,
    /// Timers armed on this worker.
    pub timers: usize,
    /// IO operations or descriptor waits in flight on this worker's reactor.
    pub io_in_flight: usize,
}

impl WorkerCounters {
    pub(crate) fn snapshot(&self, queue_depth: usize) -> WorkerMetrics {
        WorkerMetrics {
            queue_depth,
            spawned: self.spawned.load(Ordering::Relaxed),
            finished: self.finished.load(Ordering::Relaxed),
            switches: self.switches.load(Ordering::Relaxed),
            steals: self.steals.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            stack_cache: self.stack_cache.load(Ordering::Relaxed),
            timers: self.timers.load(Ordering::Relaxed),
            io_in_flight: self.io_in_flight.load(Ordering::Relaxed),
        }
    }
}
