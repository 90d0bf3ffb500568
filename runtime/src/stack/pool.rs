//! Stack reuse: a cache per worker and a shared overflow pool, with a budget of mappings.
//!
//! # State
//!
//! - `StackCache`: owned by one worker; no synchronisation.
//! - `StackPool`: shared; the overflow lists sit behind mutexes that are taken only when a
//!   cache runs empty or full (in batches), and `mapped` counts every stack the pool has
//!   mapped and not yet unmapped, in use or pooled.
//!
//! # Invariants
//!
//! - `mapped <= limit` except transiently by one stack per mapping thread (checked before
//!   mapping, corrected on failure).
//! - Every pooled stack is unused: no coroutine runs on it.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Stack;
use crate::sys;

/// Stacks a worker keeps for itself.
const CACHE_MAX: usize = 256;
/// Stacks moved between a cache and the shared pool at once.
const BATCH: usize = 64;
/// Stacks of the default size the shared pool keeps.
const SHARED_MAX: usize = 4096;
/// Stacks of other sizes the shared pool keeps.
const OTHER_MAX: usize = 64;
/// Memory mappings left to the rest of the process when the budget follows `vm.max_map_count`.
const MAPPINGS_RESERVED: usize = 2048;

/// The runtime's stack store.
pub(crate) struct StackPool {
    default_size: usize,
    shared: Mutex<Vec<Stack>>,
    other: Mutex<Vec<Stack>>,
    mapped: AtomicUsize,
    pooled_shared: AtomicUsize,
    /// Most stacks mapped at once; `None` follows `vm.max_map_count`.
    configured_limit: Option<usize>,
    limit: AtomicUsize,
}

/// One worker's private stack cache.
pub(crate) struct StackCache {
    stacks: Vec<Stack>,
}

impl StackCache {
    pub(crate) fn new() -> StackCache {
        StackCache { stacks: Vec::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.stacks.len()
    }
}

impl StackPool {
    /// A pool for stacks of `default_size` usable bytes (rounded up to pages).
    pub(crate) fn new(default_size: usize, configured_limit: Option<usize>) -> StackPool {
        let pool = StackPool {
            default_size: Self::round(default_size),
            shared: Mutex::new(Vec::new()),
            other: Mutex::new(Vec::new()),
            mapped: AtomicUsize::new(0),
            pooled_shared: AtomicUsize::new(0),
            configured_limit,
            limit: AtomicUsize::new(0),
        };
        pool.limit.store(pool.compute_limit(), Ordering::Relaxed);
        pool
    }

    fn round(size: usize) -> usize {
        size.max(corosensei::stack::MIN_STACK_SIZE)
            .next_multiple_of(sys::page_size())
    }

    fn compute_limit(&self) -> usize {
        self.configured_limit
            .unwrap_or_else(|| match sys::max_map_count() {
                Some(maps) => maps.saturating_sub(MAPPINGS_RESERVED) / 2,
                None => usize::MAX,
            })
    }

    /// Stacks mapped now, in use or pooled.
    pub(crate) fn mapped(&self) -> usize {
        self.mapped.load(Ordering::Relaxed)
    }

    /// Stacks in the shared pool (worker caches are counted by their workers).
    pub(crate) fn pooled_shared(&self) -> usize {
        self.pooled_shared.load(Ordering::Relaxed)
    }

    /// A stack with `size` usable bytes (0: the default size), from `cache` when it can.
    pub(crate) fn get(&self, cache: Option<&mut StackCache>, size: usize) -> io::Result<Stack> {
        let size = if size == 0 {
            self.default_size
        } else {
            Self::round(size)
        };
        if size == self.default_size {
            if let Some(cache) = cache {
                if let Some(stack) = cache.stacks.pop() {
                    return Ok(stack);
                }
                if self.pooled_shared.load(Ordering::Relaxed) > 0 {
                    let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                    let take = shared.len().min(BATCH);
                    let at = shared.len() - take;
                    cache.stacks.extend(shared.drain(at..));
                    self.pooled_shared.store(shared.len(), Ordering::Relaxed);
                    drop(shared);
                    if let Some(stack) = cache.stacks.pop() {
                        return Ok(stack);
                    }
                }
            } else if self.pooled_shared.load(Ordering::Relaxed) > 0 {
                let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(stack) = shared.pop() {
                    self.pooled_shared.store(shared.len(), Ordering::Relaxed);
                    return Ok(stack);
                }
            }
        } else {
            let mut other = self.other.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(at) = other.iter().position(|s| s.usable() == size) {
                return Ok(other.swap_remove(at));
            }
        }
        self.map(size)
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
        Stack::new(size).map_err(|e| {
            self.mapped.fetch_sub(1, Ordering::Relaxed);
            if e.raw_os_error() == Some(libc::ENOMEM) {
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!(
                        "cannot map a {size}-byte coroutine stack ({mapped} mapped): out of memory \
                         or memory mappings (vm.max_map_count); raise the limit or run fewer \
                         coroutines at once"
                    ),
                )
            } else {
                e
            }
        })
    }

    fn limit_error(&self, mapped: usize, limit: usize) -> io::Error {
        let msg = match (self.configured_limit, sys::max_map_count()) {
            (None, Some(maps)) => format!(
                "cannot map another coroutine stack: {mapped} stacks are mapped and \
                 vm.max_map_count = {maps} allows {limit} (each stack takes 2 memory mappings); \
                 raise it (sysctl -w vm.max_map_count=N) or run fewer coroutines at once"
            ),
            _ => format!(
                "cannot map another coroutine stack: {mapped} stacks are mapped and the \
                 runtime's limit is {limit} (Builder::max_stacks)"
            ),
        };
        io::Error::new(io::ErrorKind::OutOfMemory, msg)
    }

    /// Takes back a stack whose coroutine has finished.
    pub(crate) fn put(&self, cache: Option<&mut StackCache>, stack: Stack) {
        if stack.usable() == self.default_size {
            if let Some(cache) = cache {
                if cache.stacks.len() < CACHE_MAX {
                    cache.stacks.push(stack);
                    return;
                }
                let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                let room = SHARED_MAX.saturating_sub(shared.len()).min(BATCH);
                let at = cache.stacks.len() - room;
                shared.extend(cache.stacks.drain(at..));
                self.pooled_shared.store(shared.len(), Ordering::Relaxed);
                drop(shared);
                if cache.stacks.len() < CACHE_MAX {
                    cache.stacks.push(stack);
                    return;
                }
            } else {
                let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                if shared.len() < SHARED_MAX {
                    shared.push(stack);
                    self.pooled_shared.store(shared.len(), Ordering::Relaxed);
                    return;
                }
            }
        } else {
            let mut other = self.other.lock().unwrap_or_else(|e| e.into_inner());
            if other.len() < OTHER_MAX {
                other.push(stack);
                return;
            }
        }
        self.unmap(stack);
    }

    fn unmap(&self, stack: Stack) {
        drop(stack);
        self.mapped.fetch_sub(1, Ordering::Relaxed);
    }

    /// Unmaps every stack in `cache` (a worker that exits).
    pub(crate) fn release_cache(&self, cache: &mut StackCache) {
        for stack in cache.stacks.drain(..) {
            self.unmap(stack);
        }
    }
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let shared = std::mem::take(self.shared.get_mut().unwrap_or_else(|e| e.into_inner()));
        let other = std::mem::take(self.other.get_mut().unwrap_or_else(|e| e.into_inner()));
        for stack in shared.into_iter().chain(other) {
            self.unmap(stack);
        }
    }
}
