//! Which workers sleep, which search for work, and whom to wake when work arrives.
//!
//! # State
//!
//! - `sleepers`: indices of parked (or parking) workers, behind a mutex taken only on the
//!   slow paths (going to sleep, waking someone).
//! - `sleeping`, `searching`: counters read lock-free on the hot path.
//! - `notified[i]`: worker `i` was taken off `sleepers` by a notifier, which counted it as
//!   searching on its behalf.
//!
//! # Invariants
//!
//! - A worker is in `sleepers` at most once, and `sleeping == sleepers.len()`.
//! - No lost wake-up: a producer queues work, then (after a SeqCst fence) reads `sleeping`;
//!   a worker adds itself to `sleepers`, then (SeqCst) looks at every queue once more before
//!   it parks. One of the two sees the other.
//! - At most half the workers search at once, so a burst of work does not wake them all
//!   to fight over it.

use crate::loom::Mutex;
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

pub(crate) struct Idle {
    sleepers: Mutex<Vec<usize>>,
    sleeping: AtomicUsize,
    searching: AtomicUsize,
    notified: Box<[AtomicBool]>,
    workers: usize,
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            sleeping: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
            notified: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            workers,
        }
    }

    /// After queueing work: the index of a sleeping worker to wake, if one should be woken.
    /// The caller unparks it.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        fence(Ordering::SeqCst);
        if self.searching.load(Ordering::SeqCst) != 0 || self.sleeping.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        if self.searching.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let index = sleepers.pop()?;
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        self.searching.fetch_add(1, Ordering::SeqCst);
        self.notified[index].store(true, Ordering::Relaxed);
        Some(index)
    }

    /// A worker with an empty queue asks to search others' queues.
    pub(crate) fn try_start_searching(&self) -> bool {
        let searching = self.searching.load(Ordering::SeqCst);
        if 2 * searching >= self.workers.max(2) {
            return false;
        }
        self.searching.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Whether every worker is parked (or about to).
    pub(crate) fn all_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::SeqCst) >= self.workers
    }

    /// A searching worker stops searching; returns whether it was the last searcher (it must
    /// then wake another worker if it found work, as more may be queued).
    pub(crate) fn stop_searching(&self) -> bool {
        self.searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// Registers worker `index` as going to sleep.
    pub(crate) fn prepare_sleep(&self, index: usize) {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        sleepers.push(index);
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        drop(sleepers);
        fence(Ordering::SeqCst);
    }

    /// Worker `index` is awake again (woken, timed out, or never slept). Returns whether a
    /// notifier woke it, in which case it now counts as searching.
    pub(crate) fn wake_up(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = sleepers.iter().position(|&i| i == index) {
            sleepers.swap_remove(at);
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            false
        } else {
            self.notified[index].store(false, Ordering::Relaxed);
            true
        }
    }
}
