//! Counters the runtime keeps, and the snapshot `Runtime::metrics` returns.
//!
//! Each worker owns a cache-padded block of counters and is their only writer (a plain
//! load-and-store, no locked instruction); any thread may read them. Spawns from threads
//! that are not workers count in a shared counter.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Counters written by one worker.
#[derive(Default)]
pub(crate) struct WorkerCounters {
    pub(crate) spawned: AtomicU64,
    pub(crate) finished: AtomicU64,
    pub(crate) switches: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) migrations: AtomicU64,
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
    /// Resumes of a coroutine on another worker than the one that last ran it (stolen, or
    /// woken from another worker's thread): each finds its stack and data in the other
    /// CPU's cache. Against `switches`, how well coroutines stay where they ran.
    pub migrations: u64,
    /// Times a worker went to sleep for lack of work.
    pub parks: u64,
    /// Times a sleeping worker was woken to take work queued elsewhere (a system call each).
    pub wakeups: u64,
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
    /// includes the standing readiness poll of every oc-net socket that has waited for
    /// something to read.
    pub io_in_flight: usize,
    /// Stuck-coroutine reports: episodes in which a coroutine held its thread longer than
    /// [`Builder::stuck_threshold`](crate::Builder::stuck_threshold) without suspending
    /// (each counts once, whether or not its log line was rate-limited away).
    pub stuck_reports: u64,
    /// The longest such hold seen so far (growing while a stuck coroutine still holds its
    /// thread); zero if none was reported.
    pub stuck_longest: Duration,
    /// Stack high-water marks of finished coroutines, when
    /// [`Builder::stack_high_water`](crate::Builder::stack_high_water) is on (empty
    /// otherwise).
    pub stack_high_water: StackHistogram,
    /// Per-worker figures, indexed by worker.
    pub per_worker: Vec<WorkerMetrics>,
}

/// How much of its stack each finished coroutine used, in power-of-two buckets: bucket 0
/// counts marks below 1 KiB, bucket `i` marks in `[512 << i, 1024 << i)` bytes, and the last
/// bucket everything from `512 << (BUCKETS - 1)` up.
///
/// A mark is measured when the coroutine's stack returns to the pool: the distance from the
/// top of the stack to the deepest word the coroutine left non-zero. Stack written only with
/// zeros at the very bottom of its use is not seen (rare: a call leaves its return address),
/// and a coroutine that went on a [`maybe_grow`](crate::maybe_grow()) segment counts what it
/// used of its own stack (close to all of it). See `docs/tuning.md` for sizing
/// [`Builder::stack_size`](crate::Builder::stack_size) from it.
///
/// ```
/// let rt = oc_runtime::Runtime::builder().workers(1).stack_high_water(true).build()?;
/// rt.block_on(|| ());
/// let hist = rt.metrics().stack_high_water;
/// assert!(hist.count() >= 1);
/// assert!(hist.max > 0 && hist.max < 64 * 1024);
/// // Upper bounds for a Prometheus histogram (`le`), with cumulative counts.
/// let mut cumulative = 0;
/// for (bound, count) in hist.buckets() {
///     cumulative += count;
///     let _le = bound.map_or("+Inf".to_string(), |b| b.to_string());
/// }
/// assert_eq!(cumulative, hist.count());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StackHistogram {
    /// Coroutines per bucket (`BUCKETS` entries when measuring is on, none otherwise).
    pub counts: Vec<u64>,
    /// The highest mark measured, in bytes.
    pub max: usize,
}

impl StackHistogram {
    /// Number of buckets: the last starts at 4 GiB.
    pub const BUCKETS: usize = 24;

    /// The bucket a mark of `bytes` falls in.
    pub fn bucket_of(bytes: usize) -> usize {
        if bytes < 1024 {
            return 0;
        }
        // 1024..2047 -> 1, 2048..4095 -> 2, ...
        let bucket = (usize::BITS - (bytes >> 10).leading_zeros()) as usize;
        bucket.min(Self::BUCKETS - 1)
    }

    /// The exclusive upper bound of `bucket` in bytes (`1024 << bucket`); `None` for the last.
    pub fn upper_bound(bucket: usize) -> Option<usize> {
        (bucket + 1 < Self::BUCKETS).then(|| 1024usize << bucket)
    }

    /// Coroutines measured.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Each bucket's exclusive upper bound in bytes (`None`: unbounded) and count.
    pub fn buckets(&self) -> impl Iterator<Item = (Option<usize>, u64)> + '_ {
        self.counts.iter().enumerate().map(|(i, &n)| (Self::upper_bound(i), n))
    }

    /// The upper bound of the bucket holding the `q`-quantile (0.0 ..= 1.0) of the marks:
    /// a stack size that the fraction `q` of coroutines stayed below. `None` when nothing
    /// was measured, or the quantile falls in the last (unbounded) bucket.
    pub fn quantile_bound(&self, q: f64) -> Option<usize> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let wanted = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return Self::upper_bound(i);
            }
        }
        None
    }
}

/// Stack high-water counts of one writer (a worker, or the shared path): plain
/// load-and-store increments by the one thread that writes at a time.
pub(crate) struct HighWaterCounts {
    counts: [AtomicU64; StackHistogram::BUCKETS],
    max: AtomicUsize,
}

impl Default for HighWaterCounts {
    fn default() -> HighWaterCounts {
        HighWaterCounts { counts: std::array::from_fn(|_| AtomicU64::new(0)), max: AtomicUsize::new(0) }
    }
}

impl HighWaterCounts {
    /// Records a mark; the caller is the only writer at this time.
    pub(crate) fn record(&self, bytes: usize) {
        bump(&self.counts[StackHistogram::bucket_of(bytes)]);
        if bytes > self.max.load(Ordering::Relaxed) {
            self.max.store(bytes, Ordering::Relaxed);
        }
    }

    /// Records a mark from any thread.
    pub(crate) fn record_shared(&self, bytes: usize) {
        self.counts[StackHistogram::bucket_of(bytes)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(bytes, Ordering::Relaxed);
    }

    /// Adds these counts to `into`.
    pub(crate) fn add_to(&self, into: &mut StackHistogram) {
        if into.counts.is_empty() {
            into.counts = vec![0; StackHistogram::BUCKETS];
        }
        for (sum, n) in into.counts.iter_mut().zip(self.counts.iter()) {
            *sum += n.load(Ordering::Relaxed);
        }
        into.max = into.max.max(self.max.load(Ordering::Relaxed));
    }
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
    /// Resumes on this worker of coroutines that another worker ran last.
    pub migrations: u64,
    /// Times this worker went to sleep.
    pub parks: u64,
    /// Stacks in this worker's cache.
    pub stack_cache: usize,
    /// Timers armed on this worker.
    pub timers: usize,
    /// IO operations or descriptor waits in flight on this worker's reactor.
    pub io_in_flight: usize,
    /// Sockets whose standing readiness poll is on this worker's ring (io_uring; always 0 on
    /// epoll): the connections whose wake-ups this worker receives. A coroutine stolen from a
    /// worker that holds more of them than its new worker (by more than two) moves its poll
    /// along, so the counts even out across workers.
    pub standing_polls: usize,
}

impl WorkerCounters {
    pub(crate) fn snapshot(&self, queue_depth: usize, standing_polls: usize) -> WorkerMetrics {
        WorkerMetrics {
            queue_depth,
            spawned: self.spawned.load(Ordering::Relaxed),
            finished: self.finished.load(Ordering::Relaxed),
            switches: self.switches.load(Ordering::Relaxed),
            steals: self.steals.load(Ordering::Relaxed),
            migrations: self.migrations.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            stack_cache: self.stack_cache.load(Ordering::Relaxed),
            timers: self.timers.load(Ordering::Relaxed),
            io_in_flight: self.io_in_flight.load(Ordering::Relaxed),
            standing_polls,
        }
    }
}
