//! Freezing: how a preempted coroutine gives up the CPU without giving up its thread.
//!
//! A preemption signal can land anywhere in a coroutine's own code: in the middle of an
//! allocator's update of its per-thread cache (mimalloc, jemalloc, a `#[global_allocator]`
//! or an `LD_PRELOAD`ed one: no list of "unsafe" code can know them all), inside a
//! `thread_local!` `RefCell` borrow, inside std's reentrant stdout lock, in a panic hook
//! (std's panic count is per thread). Whatever it was doing belongs to its *thread*. So the
//! preempted coroutine keeps its thread, and nothing else runs on that thread until the
//! coroutine goes on: the thread is frozen, and its worker goes to another thread.
//!
//! # Protocol
//!
//! The frozen thread (`freeze`, called by the preemption trampoline or at the safe point
//! after a deferred signal, in ordinary context on the coroutine's thread):
//!
//! 1. Writes its identity into the task header and moves the header's freeze word from
//!    `gen|NONE` to `gen+1|WAITING`.
//! 2. Offers the task to its worker's frozen slot (one slot, a counted task pointer; if it is
//!    taken the preemption is refused and retried later).
//! 3. If it drives the worker, hands it to a spare carrier (taken from the pool without
//!    allocating: the monitor keeps one there before it signals); otherwise (the worker was
//!    handed off earlier) wakes the worker's driver.
//! 4. Waits on the freeze word (a futex) until it reads `CLAIMED`, then returns: it drives
//!    the worker again, in `User` mode, and the coroutine goes on where it was interrupted.
//!
//! The worker's driver moves the slot's task into its pinned queue (noting the word it read)
//! and, when the task's turn comes (`Worker::thaw`): moves the word `WAITING` → `CLAIMING`
//! (compare-and-swap with the word it noted: a stale entry fails), makes the frozen thread
//! the worker's driver in `User` mode, stores `CLAIMED`, wakes the futex, and stops driving
//! the worker: its thread becomes a spare.
//!
//! # Deadlock
//!
//! The frozen thread may hold a lock that the worker's new driver needs before it can give
//! the worker back (the interrupted code held it; the driver wants it in scheduler code).
//! A frozen thread therefore waits at most `FREEZE_LIMIT`; then it moves `WAITING` → `NONE`
//! (failing if a claim began, when it waits for `CLAIMED`) and runs on as a handed-off
//! coroutine does: on its own thread beside the worker, back to the pool at its next
//! suspension. Its entry in the pinned queue is then stale and is dropped when met.
//!
//! # Signal safety
//!
//! `freeze` runs in ordinary context but over code interrupted at an arbitrary instruction:
//! it must not allocate or take a lock that such code could hold. It uses atomics, the
//! carriers' pool lock (runtime code only, never held by a coroutine), a condition variable's
//! notify and futex system calls. The caller saves and restores `errno`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::context;
use super::worker::{Mode, Worker};
use crate::task::{Header, TaskRef};

/// Longest time a frozen thread waits for its turn before it runs on beside its worker.
pub(crate) const FREEZE_LIMIT: Duration = Duration::from_millis(500);

/// Freeze word states (low two bits).
pub(crate) const NONE: u32 = 0;
pub(crate) const WAITING: u32 = 1;
pub(crate) const CLAIMING: u32 = 2;
pub(crate) const CLAIMED: u32 = 3;
const STATE: u32 = 3;

/// Freezes the running coroutine (see the module docs). Returns whether it was frozen and
/// has now been resumed by its worker; `false` when it could not be (no spare carrier, the
/// slot taken, no worker) or when it waited `FREEZE_LIMIT` and runs on beside its worker.
///
/// The caller holds the coroutine's no-preempt count.
pub(crate) fn freeze(header: &Header) -> bool {
    let Some(worker) = context::thread_worker() else { return false };
    let shared = &header.shared;
    if !Arc::ptr_eq(worker.shared(), shared) {
        return false;
    }
    let me = context::thread_token();
    let (driver, mode) = worker.driver_and_mode();
    let owned = driver == me && mode == Mode::User;

    // 1. Who we are, then the new generation's WAITING.
    header.frozen_token.store(me, Ordering::Relaxed);
    header.frozen_tid.store(crate::sys::gettid(), Ordering::Relaxed);
    header.frozen_thread.store(crate::sys::pthread_self(), Ordering::Relaxed);
    let generation = (header.frozen.load(Ordering::Relaxed) & !STATE).wrapping_add(STATE + 1);
    let waiting = generation | WAITING;
    header.frozen.store(waiting, Ordering::Release);

    // 2. The worker's slot.
    if !worker.offer_frozen(TaskRef::from_header(header)) {
        header.frozen.store(generation | NONE, Ordering::Release);
        return false;
    }

    // 3. Somebody to drive the worker meanwhile.
    if owned {
        let (Some(spare), Some(arc)) = (shared.carriers.take_spare(), shared.worker_arc(worker.index())) else {
            // No spare (or the runtime is being torn down). Still our worker: nobody else
            // drains its slot. (A spare taken without the worker goes back.)
            drop(worker.take_frozen());
            header.frozen.store(generation | NONE, Ordering::Release);
            return false;
        };
        if worker.release_to_spare(me) {
            super::carrier::assign(&spare, arc);
        } else {
            // The monitor handed the worker off first: its new driver will find the slot.
            shared.carriers.return_spare(spare);
            shared.unparkers[worker.index()].unpark();
        }
    } else {
        // A handed-off run ends here (for the stuck-coroutine report).
        shared.stuck.handed_run_ended(me);
        shared.unparkers[worker.index()].unpark();
    }

    // 4. Wait for our turn.
    let deadline = Instant::now() + FREEZE_LIMIT;
    loop {
        let word = header.frozen.load(Ordering::Acquire);
        if word == generation | CLAIMED {
            header.frozen.store(generation | NONE, Ordering::Release);
            return true;
        }
        let now = Instant::now();
        if word == waiting && now >= deadline {
            if header.frozen.compare_exchange(waiting, generation | NONE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                // Runs on beside the worker, as after a hand-off; the monitor keeps
                // signalling it there so that it is frozen again once it runs on.
                worker.remember_detached(header.frozen_tid.load(Ordering::Relaxed), me);
                return false;
            }
            continue;
        }
        let left = if word == waiting { deadline - now } else { Duration::from_millis(10) };
        crate::sys::raw::futex_wait(&header.frozen, word, Some(left));
    }
}

/// The worker's side: gives `worker` to the thread frozen with `task`, if the freeze word
/// still reads `word` (the frozen thread has not given up waiting). Returns whether the
/// worker was given away: the calling thread must then leave it alone.
pub(crate) fn thaw(worker: &Worker, task: &TaskRef, word: u32) -> bool {
    let header = task.header();
    let generation = word & !STATE;
    if header.frozen.compare_exchange(word, generation | CLAIMING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return false;
    }
    worker.give_to_frozen(
        header.frozen_token.load(Ordering::Relaxed),
        header.frozen_tid.load(Ordering::Relaxed),
        header.frozen_thread.load(Ordering::Relaxed),
        header.preemptible,
    );
    header.frozen.store(generation | CLAIMED, Ordering::Release);
    crate::sys::raw::futex_wake(&header.frozen, 1);
    true
}

/// Lets a frozen thread go without resuming its worker (the worker exits): the thread runs
/// on as after a hand-off.
pub(crate) fn release(task: &TaskRef, word: u32) {
    let header = task.header();
    if header.frozen.compare_exchange(word, (word & !STATE) | NONE, Ordering::AcqRel, Ordering::Acquire).is_ok() {
        crate::sys::raw::futex_wake(&header.frozen, 1);
    }
}

std::thread_local! {
    /// The signal mask the thread had when it started driving workers.
    static BASE_MASK: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

crate::tls_accessor! {
    /// Records the calling carrier thread's signal mask, for [`in_signal_handler`].
    pub(crate) fn record_signal_mask() {
        BASE_MASK.set(crate::sys::raw::signal_mask());
    }
}

crate::tls_accessor! {
    /// Whether the calling thread looks to be inside a signal handler: its signal mask differs
    /// from the one it started with (a handler runs with its signal blocked, unless installed
    /// with `SA_NODEFER`). A mask changed on purpose by the program reads the same way; the
    /// caller then only skips an optional switch. Costs a system call: for rare paths.
    pub(crate) fn in_signal_handler() -> bool {
        match (BASE_MASK.get(), crate::sys::raw::signal_mask()) {
            (Some(base), Some(now)) => base != now,
            _ => false,
        }
    }
}
