//! Stack reuse: a cache per worker, a shared pool, a pool of cold stacks, and a budget.
//!
//! # State
//!
//! - `StackCache`: owned by one worker; no synchronisation. `hot` stacks are ready to use;
//!   `retired` ones wait to have their memory returned to the kernel in one batch.
//! - `StackPool`: shared. `shared` holds hot stacks beyond the caches' room, `retiring` hot
//!   stacks beyond `shared`'s room until a batch is full, `cold` holds
//!   stacks whose pages were returned to the kernel (reusing one costs page faults, no
//!   system call). The mutexes are taken only when a cache runs empty or full, in batches.
//!   `mapped` counts every stack that exists, whatever its state.
//!
//! # Invariants
//!
//! - `mapped <= limit`, except transiently by one stack per mapping thread (checked before
//!   mapping, corrected on failure).
//! - Every pooled stack is unused: no coroutine runs on it.
//!
//! Returning memory costs a TLB shoot-down on every CPU the process runs on, so it is done
//! in batches (when the worker goes idle, or at `RETIRE_BATCH`), never once per coroutine.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use super::Stack;
use super::high_water;
use super::mapped::{Chunk, GuardKind, discard_all};
use crate::metrics::{HighWaterCounts, StackHistogram};
use crate::sys;

/// Stacks carved from one chunk (marker guards).
const CHUNK_STACKS: usize = 64;
/// Hot stacks a worker keeps for itself.
const CACHE_MAX: usize = 256;
/// Stacks moved between a cache and the shared pools at once.
const BATCH: usize = 64;
/// Hot stacks of the default size the shared pool keeps.
const SHARED_MAX: usize = 4096;
/// Stacks a busy worker collects before returning their memory; an idle worker returns
/// them at once. Large batches sort into long runs of neighbouring stacks, each returned
/// with one system call.
const RETIRE_BATCH: usize = 65536;
/// Stacks beyond the shared pool's room collected before their memory is returned in one
/// batch (each batch costs a TLB shoot-down, so one per stack would cost one per coroutine).
const SHARED_RETIRE_BATCH: usize = 256;
/// Stacks of other sizes the shared pool keeps.
const OTHER_MAX: usize = 64;
/// Memory mappings left to the rest of the process when the budget follows `vm.max_map_count`
/// (protect guards only).
const MAPPINGS_RESERVED: usize = 2048;

/// The runtime's stack store.
pub(crate) struct StackPool {
    default_size: usize,
    shared: Mutex<Vec<Stack>>,
    /// Hot stacks beyond `shared`'s room, waiting to be discarded into `cold` in one batch.
    retiring: Mutex<Vec<Stack>>,
    cold: Mutex<Vec<Stack>>,
    other: Mutex<Vec<Stack>>,
    mapped: AtomicUsize,
    pooled_shared: AtomicUsize,
    pooled_retiring: AtomicUsize,
    pooled_cold: AtomicUsize,
    /// Batches of stacks whose memory was returned to the kernel (each a TLB shoot-down).
    discards: AtomicUsize,
    /// Most stacks mapped at once; `None`: no limit with marker guards, and what
    /// `vm.max_map_count` allows with protect guards.
    configured_limit: Option<usize>,
    limit: AtomicUsize,
    /// Below this limit workers keep no private stacks: a few hundred stacks hidden in one
    /// worker's cache would be most of the budget, and another worker would fail to start a
    /// coroutine while they sit idle.
    private_floor: usize,
    guard: GuardKind,
    carver: Mutex<Carver>,
    /// Whether stacks are measured (and zeroed) when they come back (`high_water.rs`).
    high_water: bool,
    /// High-water marks counted by each worker, then by other threads (the last entry).
    marks: Box<[CachePadded<HighWaterCounts>]>,
}

/// Where the next default-size stack is carved from (marker guards).
struct Carver {
    chunk: Option<std::sync::Arc<Chunk>>,
    next: usize,
}

/// One worker's private stacks.
pub(crate) struct StackCache {
    hot: Vec<Stack>,
    retired: Vec<Stack>,
    /// The worker's index (where its high-water marks are counted).
    worker: usize,
}

impl StackCache {
    pub(crate) fn new(worker: usize) -> StackCache {
        StackCache { hot: Vec::new(), retired: Vec::new(), worker }
    }

    /// Stacks held (hot and waiting to be retired).
    pub(crate) fn len(&self) -> usize {
        self.hot.len() + self.retired.len()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl StackPool {
    /// A pool for stacks of `default_size` usable bytes (rounded up to pages).
    pub(crate) fn new(
        default_size: usize,
        configured_limit: Option<usize>,
        workers: usize,
        high_water: bool,
    ) -> StackPool {
        let pool = StackPool {
            default_size: Self::round(default_size),
            shared: Mutex::new(Vec::new()),
            retiring: Mutex::new(Vec::new()),
            cold: Mutex::new(Vec::new()),
            other: Mutex::new(Vec::new()),
            mapped: AtomicUsize::new(0),
            pooled_shared: AtomicUsize::new(0),
            pooled_retiring: AtomicUsize::new(0),
            pooled_cold: AtomicUsize::new(0),
            discards: AtomicUsize::new(0),
            configured_limit,
            limit: AtomicUsize::new(0),
            private_floor: workers.max(1) * (CACHE_MAX + BATCH) * 4,
            guard: GuardKind::detect(),
            carver: Mutex::new(Carver { chunk: None, next: CHUNK_STACKS }),
            high_water,
            marks: (0..=workers).map(|_| CachePadded::new(HighWaterCounts::default())).collect(),
        };
        pool.limit.store(pool.compute_limit(), Ordering::Relaxed);
        pool
    }

    fn round(size: usize) -> usize {
        size.max(corosensei::stack::MIN_STACK_SIZE).next_multiple_of(sys::page_size())
    }

    fn compute_limit(&self) -> usize {
        self.configured_limit.unwrap_or_else(|| match (self.guard, sys::max_map_count()) {
            (GuardKind::Protect, Some(maps)) => maps.saturating_sub(MAPPINGS_RESERVED) / 2,
            _ => usize::MAX,
        })
    }

    /// How guard pages are made.
    pub(crate) fn guard_kind(&self) -> crate::metrics::StackGuard {
        match self.guard {
            GuardKind::Marker => crate::metrics::StackGuard::Marker,
            GuardKind::Protect => crate::metrics::StackGuard::Protect,
        }
    }

    /// Stacks that exist now, in use or pooled.
    pub(crate) fn mapped(&self) -> usize {
        self.mapped.load(Ordering::Relaxed)
    }

    /// Stacks in the shared pools (worker caches are counted by their workers).
    pub(crate) fn pooled_shared(&self) -> usize {
        self.pooled_shared.load(Ordering::Relaxed)
            + self.pooled_retiring.load(Ordering::Relaxed)
            + self.pooled_cold.load(Ordering::Relaxed)
    }

    /// A stack with `size` usable bytes (0: the default size), from `cache` when it can.
    pub(crate) fn get(&self, cache: Option<&mut StackCache>, size: usize) -> io::Result<Stack> {
        let size = if size == 0 { self.default_size } else { Self::round(size) };
        if size != self.default_size {
            let mut other = lock(&self.other);
            if let Some(at) = other.iter().position(|s| s.usable() == size) {
                return Ok(other.swap_remove(at));
            }
            drop(other);
            return self.map(size);
        }
        let Some(cache) = cache else {
            for (pool, count) in self.pools() {
                let mut pool = lock(pool);
                if let Some(stack) = pool.pop() {
                    count.store(pool.len(), Ordering::Relaxed);
                    return Ok(stack);
                }
            }
            return self.map(size);
        };
        if let Some(stack) = cache.hot.pop() {
            return Ok(stack);
        }
        if let Some(stack) = cache.retired.pop() {
            return Ok(stack);
        }
        if !self.private_allowed() {
            return self.get(None, size);
        }
        for (pool, count) in self.pools() {
            if count.load(Ordering::Relaxed) > 0 {
                let mut pool = lock(pool);
                let take = pool.len().min(BATCH);
                let at = pool.len() - take;
                cache.hot.extend(pool.drain(at..));
                count.store(pool.len(), Ordering::Relaxed);
                drop(pool);
                if let Some(stack) = cache.hot.pop() {
                    return Ok(stack);
                }
            }
        }
        self.map(size)
    }

    /// The shared pools with their counts, in the order stacks are taken from them: hot ones
    /// first, cold (page faults to come) last.
    fn pools(&self) -> [(&Mutex<Vec<Stack>>, &AtomicUsize); 3] {
        [(&self.shared, &self.pooled_shared), (&self.retiring, &self.pooled_retiring), (&self.cold, &self.pooled_cold)]
    }

    /// Whether the limit leaves room for workers' private caches.
    fn private_allowed(&self) -> bool {
        self.limit.load(Ordering::Relaxed) >= self.private_floor
    }

    #[cold]
    fn map(&self, size: usize) -> io::Result<Stack> {
        let mapped = self.mapped.fetch_add(1, Ordering::Relaxed);
        if mapped >= self.limit.load(Ordering::Relaxed) {
            // The administrator may have raised vm.max_map_count since we last looked.
            let limit = self.compute_limit();
            self.limit.store(limit, Ordering::Relaxed);
            if mapped >= limit {
                self.mapped.fetch_sub(1, Ordering::Relaxed);
                return Err(self.limit_error(mapped, limit));
            }
        }
        let stack = match self.guard {
            GuardKind::Protect => Stack::map_protected(size),
            GuardKind::Marker if size == self.default_size => self.carve(),
            GuardKind::Marker => Chunk::map(Stack::slot_len(size), 1).and_then(|c| c.carve(Stack::slot_len(size), 0)),
        };
        stack.map_err(|e| {
            self.mapped.fetch_sub(1, Ordering::Relaxed);
            if e.raw_os_error() == Some(libc::ENOMEM) {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "cannot map a {size}-byte coroutine stack ({mapped} exist): out of memory \
                         or out of memory mappings (vm.max_map_count); raise the limit or run \
                         fewer coroutines at once"
                    ),
                )
            } else {
                e
            }
        })
    }

    fn carve(&self) -> io::Result<Stack> {
        let slot = Stack::slot_len(self.default_size);
        let mut carver = lock(&self.carver);
        if carver.next == CHUNK_STACKS || carver.chunk.is_none() {
            carver.chunk = Some(Chunk::map(slot, CHUNK_STACKS)?);
            carver.next = 0;
        }
        let index = carver.next;
        carver.next += 1;
        carver.chunk.as_ref().expect("chunk mapped above").carve(slot, index)
    }

    fn limit_error(&self, mapped: usize, limit: usize) -> io::Error {
        let msg = match (self.configured_limit, sys::max_map_count()) {
            (None, Some(maps)) => format!(
                "cannot map another coroutine stack: {mapped} stacks exist and \
                 vm.max_map_count = {maps} allows {limit} (each stack takes 2 memory mappings on \
                 this kernel); raise it (sysctl -w vm.max_map_count=N) or run fewer coroutines \
                 at once"
            ),
            _ => format!(
                "cannot map another coroutine stack: {mapped} stacks exist and the runtime's \
                 limit is {limit} (Builder::max_stacks)"
            ),
        };
        io::Error::new(io::ErrorKind::OutOfMemory, msg)
    }

    /// The high-water histogram (empty when measuring is off).
    pub(crate) fn high_water(&self) -> StackHistogram {
        let mut histogram = StackHistogram::default();
        if self.high_water {
            for counts in self.marks.iter() {
                counts.add_to(&mut histogram);
            }
        }
        histogram
    }

    /// Takes back a stack whose coroutine has finished.
    pub(crate) fn put(&self, cache: Option<&mut StackCache>, mut stack: Stack) {
        if self.high_water {
            let used = high_water::measure(&mut stack);
            match &cache {
                // The worker's driver is its only writer at any time.
                Some(cache) => self.marks[cache.worker].record(used),
                None => self.marks[self.marks.len() - 1].record_shared(used),
            }
        }
        if stack.usable() != self.default_size {
            let mut other = lock(&self.other);
            if other.len() < OTHER_MAX {
                other.push(stack);
            } else {
                drop(other);
                self.unmap(stack);
            }
            return;
        }
        let Some(cache) = cache else {
            self.put_shared(vec![stack]);
            return;
        };
        // Near the limit (or under a small one), stacks hidden in one worker's private cache
        // would make another worker fail to start coroutines: share them instead.
        let limit = self.limit.load(Ordering::Relaxed);
        if limit != usize::MAX && (self.mapped() >= limit / 2 || !self.private_allowed()) {
            self.put_shared(vec![stack]);
            return;
        }
        if cache.hot.len() < CACHE_MAX {
            cache.hot.push(stack);
            return;
        }
        if self.pooled_shared.load(Ordering::Relaxed) < SHARED_MAX {
            let at = cache.hot.len() - BATCH;
            let batch: Vec<Stack> = cache.hot.drain(at..).collect();
            self.put_shared(batch);
            cache.hot.push(stack);
            return;
        }
        cache.retired.push(stack);
        if cache.retired.len() >= RETIRE_BATCH {
            self.retire(cache);
        }
    }

    /// Adds hot stacks to the shared pool; what does not fit waits in `retiring` and is
    /// discarded into the cold pool a batch at a time.
    fn put_shared(&self, mut stacks: Vec<Stack>) {
        let mut shared = lock(&self.shared);
        let room = SHARED_MAX.saturating_sub(shared.len()).min(stacks.len());
        shared.extend(stacks.drain(..room));
        self.pooled_shared.store(shared.len(), Ordering::Relaxed);
        drop(shared);
        if stacks.is_empty() {
            return;
        }
        let mut retiring = lock(&self.retiring);
        retiring.append(&mut stacks);
        let batch = if retiring.len() >= SHARED_RETIRE_BATCH { std::mem::take(&mut *retiring) } else { Vec::new() };
        self.pooled_retiring.store(retiring.len(), Ordering::Relaxed);
        drop(retiring);
        if !batch.is_empty() {
            self.make_cold(batch);
        }
    }

    /// Returns the memory of a worker's retired stacks to the kernel (call when idle).
    pub(crate) fn retire(&self, cache: &mut StackCache) {
        if !cache.retired.is_empty() {
            self.make_cold(std::mem::take(&mut cache.retired));
        }
    }

    fn make_cold(&self, mut stacks: Vec<Stack>) {
        discard_all(&mut stacks);
        self.discards.fetch_add(1, Ordering::Relaxed);
        let mut cold = lock(&self.cold);
        cold.append(&mut stacks);
        self.pooled_cold.store(cold.len(), Ordering::Relaxed);
    }

    fn unmap(&self, stack: Stack) {
        drop(stack);
        self.mapped.fetch_sub(1, Ordering::Relaxed);
    }

    /// Takes back every stack in `cache` (a worker that exits).
    pub(crate) fn release_cache(&self, cache: &mut StackCache) {
        self.retire(cache);
        let hot = std::mem::take(&mut cache.hot);
        if !hot.is_empty() {
            self.put_shared(hot);
        }
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        lock(&self.carver).chunk = None;
        let pools = [&self.shared, &self.retiring, &self.cold, &self.other];
        let stacks: Vec<Stack> = pools.into_iter().flat_map(|p| std::mem::take(&mut *lock(p))).collect();
        for stack in stacks {
            self.unmap(stack);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_beyond_the_shared_pool_are_discarded_in_batches() {
        // With 2 workers, private caches are allowed under this limit, but from half of it on
        // every stack goes to the shared pool; 904 do not fit there.
        const STACKS: usize = SHARED_MAX + 904;
        let pool = StackPool::new(16 * 1024, Some(6000), 2, false);
        let mut cache = StackCache::new(0);
        let stacks: Vec<Stack> = (0..STACKS).map(|_| pool.get(Some(&mut cache), 0).unwrap()).collect();
        assert_eq!(pool.mapped(), STACKS);
        for stack in stacks {
            pool.put(Some(&mut cache), stack);
        }
        assert_eq!(cache.len(), 0, "near the limit, no stack stays private");
        assert_eq!(pool.pooled_shared(), STACKS, "every stack is pooled");
        // One shoot-down per finished coroutine made a burst of completions crawl (with
        // mprotect guard pages, 100,000 sleepers woke a median 80-340 ms late).
        let discards = pool.discards.load(Ordering::Relaxed);
        assert!(discards <= 4, "{discards} discards for 904 stacks");
        // Pooled stacks of every kind are handed out again before a new one is mapped.
        let again: Vec<Stack> = (0..STACKS).map(|_| pool.get(None, 0).unwrap()).collect();
        assert_eq!(pool.mapped(), STACKS);
        assert_eq!(pool.pooled_shared(), 0);
        drop(again);
    }
}
