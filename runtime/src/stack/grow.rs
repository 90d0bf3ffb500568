//! `maybe_grow`: run a closure on a fresh stack segment when the current stack runs low.
//!
//! The segment is a guard-paged stack from a small process-wide pool. While the closure runs
//! there, the running coroutine's guard range (what the overflow handler and the preemption
//! checks look at) describes the segment, and nested calls measure the room left on it; a
//! coroutine that suspends on a segment and resumes on another worker keeps both, since they
//! live in its task. On a plain thread the bounds come from the thread's own stack.
//!
//! A segment taken by a coroutine counts in its runtime's `RuntimeMetrics::stack_segments`
//! while it is in use; segments of plain threads count nowhere.

use std::cell::Cell;
use std::sync::Mutex;

use super::mapped::{Chunk, GuardKind, Stack};
use super::overflow::{GuardRange, set_current_guard};
use crate::scheduler::context;
use crate::sys;

/// Segments kept for reuse.
const POOL_MAX: usize = 64;

static POOL: Mutex<Vec<Stack>> = Mutex::new(Vec::new());

thread_local! {
    /// The lowest usable address of the stack this plain thread runs on now (0: not known
    /// yet). Coroutines keep theirs in their task instead.
    static THREAD_LIMIT: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` on a new stack segment of `segment_size` bytes if fewer than `red_zone` bytes of
/// stack are left; otherwise runs it right here.
///
/// Works in coroutines and on plain threads. Use it around deep recursion:
///
/// ```
/// fn depth(n: u64) -> u64 {
///     oc_runtime::maybe_grow(16 * 1024, 256 * 1024, || if n == 0 { 0 } else { depth(n - 1) + 1 })
/// }
/// let rt = oc_runtime::Runtime::builder().workers(1).build()?;
/// // 100,000 frames would overflow a 64 KiB coroutine stack many times over.
/// let h = rt.spawn_with(oc_runtime::task::Builder::new().stack_size(64 * 1024), || depth(100_000))?;
/// assert_eq!(h.join().unwrap(), 100_000);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Panics
///
/// Panics if no segment can be mapped (out of memory).
#[inline]
pub fn maybe_grow<R, F: FnOnce() -> R>(red_zone: usize, segment_size: usize, f: F) -> R {
    let marker = 0u8;
    let sp = std::hint::black_box(&marker) as *const u8 as usize;
    let limit = current_limit();
    if limit == 0 || sp.saturating_sub(limit) >= red_zone {
        return f();
    }
    grow(segment_size, f)
}

/// The lowest usable address of the current stack, or 0 when unknown.
fn current_limit() -> usize {
    if let Some(task) = context::current_task() {
        // SAFETY: the running task is alive.
        return unsafe { task.as_ref() }.guard.get().hi;
    }
    let known = THREAD_LIMIT.get();
    if known != 0 {
        return known;
    }
    let limit = sys::thread_stack_limit().unwrap_or(0);
    THREAD_LIMIT.set(limit);
    limit
}

#[inline(never)]
fn grow<R, F: FnOnce() -> R>(segment_size: usize, f: F) -> R {
    let segment = take(segment_size)
        .unwrap_or_else(|e| panic!("maybe_grow: cannot map a {segment_size}-byte stack segment: {e}"));
    let (lo, hi) = segment.guard();
    let usable = segment.usable();
    // Point the task (or thread) at the segment, and back when done, even if `f` panics.
    struct Restore {
        task: Option<std::ptr::NonNull<crate::task::Header>>,
        saved: GuardRange,
        thread_limit: usize,
        segment: Option<Stack>,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(segment) = self.segment.take() {
                give_back(segment);
            }
            match self.task {
                Some(task) => {
                    // SAFETY: the task runs (it is us) and is alive.
                    let header = unsafe { task.as_ref() };
                    header.shared.segment_returned();
                    header.guard.set(self.saved);
                }
                None => {
                    THREAD_LIMIT.set(self.thread_limit);
                    set_current_guard(self.saved);
                }
            }
        }
    }
    let task = context::current_task();
    let restore = match task {
        Some(t) => {
            // SAFETY: the running task is alive.
            let header = unsafe { t.as_ref() };
            header.shared.segment_taken();
            let saved = header.guard.get();
            let range = GuardRange { lo, hi, stack_size: usable, ..saved };
            header.guard.set(range);
            Restore { task, saved, thread_limit: 0, segment: Some(segment) }
        }
        None => {
            let restore =
                Restore { task: None, saved: GuardRange::NONE, thread_limit: current_limit(), segment: Some(segment) };
            THREAD_LIMIT.set(hi);
            set_current_guard(GuardRange { lo, hi, stack_size: usable, id: 0, name: (std::ptr::null(), 0) });
            restore
        }
    };
    let mut restore = restore;
    let segment = restore.segment.as_mut().expect("segment present until drop");
    let result = corosensei::on_stack(segment, f);
    drop(restore);
    result
}

/// Runs `f` (which takes the pool's lock) where no preemption signal can freeze the
/// coroutine: a thread frozen holding the lock would hold up every other `maybe_grow` of
/// the process until its turn came.
fn without_preemption<R>(f: impl FnOnce() -> R) -> R {
    struct Exit;
    impl Drop for Exit {
        fn drop(&mut self) {
            crate::task::no_preempt_exit();
        }
    }
    crate::task::no_preempt_enter();
    let _exit = Exit;
    f()
}

fn take(size: usize) -> std::io::Result<Stack> {
    let slot = Stack::slot_len(size);
    let pooled = without_preemption(|| {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.iter().position(|s| s.usable() + sys::page_size() == slot).map(|at| pool.swap_remove(at))
    });
    if let Some(segment) = pooled {
        return Ok(segment);
    }
    match GuardKind::detect() {
        GuardKind::Marker => Chunk::map(slot, 1).and_then(|c| c.carve(slot, 0)),
        GuardKind::Protect => Stack::map_protected(size),
    }
}

fn give_back(segment: Stack) {
    let unpooled = without_preemption(|| {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(segment);
            None
        } else {
            Some(segment)
        }
    });
    // Unmapped outside the lock.
    drop(unpooled);
}
