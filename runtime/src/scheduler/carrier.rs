//! Carriers: the threads that drive workers.
//!
//! Each worker starts with a thread of its own. When the monitor finds a coroutine that has
//! held its worker past the time slice (a long computation, an unhooked blocking call), it
//! hands the worker to a spare carrier, so that the rest of its queue keeps running; the
//! stuck thread keeps only its coroutine, and when that coroutine suspends (at the latest at
//! the end of its next hooked call) the thread becomes a spare itself. At most `max` carriers exist; when none can be had the hand-off is refused
//! and counted (and reported once on standard error), never fatal.
//!
//! # Shutdown
//!
//! Spare carriers wake up at least every 100 ms and exit once the runtime shuts down.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::worker::{Handed, Outcome};
use super::{Shared, Worker};
use crate::sys;

/// Stack of a carrier thread (it runs the scheduler, not coroutines).
pub(crate) const CARRIER_STACK: usize = 1024 * 1024;

/// A parked spare carrier: where it waits for a worker to drive.
pub(crate) struct Spare {
    assigned: Mutex<Option<Arc<Worker>>>,
    cvar: Condvar,
}

pub(crate) struct Carriers {
    spares: Mutex<Vec<Arc<Spare>>>,
    alive: AtomicUsize,
    max: usize,
    handoffs: AtomicU64,
    refused: AtomicU64,
    warned: AtomicBool,
}

impl Carriers {
    pub(crate) fn new(max: usize) -> Carriers {
        Carriers {
            spares: Mutex::new(Vec::new()),
            alive: AtomicUsize::new(0),
            max,
            handoffs: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }
    }

    pub(crate) fn alive(&self) -> usize {
        self.alive.load(Ordering::Relaxed)
    }

    pub(crate) fn handoffs(&self) -> u64 {
        self.handoffs.load(Ordering::Relaxed)
    }

    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts a thread that drives, or waits to drive, a worker.
    pub(crate) fn started(&self) {
        self.alive.fetch_add(1, Ordering::Relaxed);
    }

    /// A thread counted by `started` never ran.
    pub(crate) fn stopped(&self) {
        self.alive.fetch_sub(1, Ordering::Relaxed);
    }

    /// A parked spare, taken from the pool, or `None`. Allocates nothing: a frozen thread
    /// calls it (`freeze.rs`).
    pub(crate) fn take_spare(&self) -> Option<Arc<Spare>> {
        self.spares.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Puts back a spare just taken with `take_spare`. Allocates nothing: the pool's vector
    /// had room for it a moment ago, and a vector never gives back capacity on `pop`.
    pub(crate) fn return_spare(&self, spare: Arc<Spare>) {
        self.spares.lock().unwrap_or_else(|e| e.into_inner()).push(spare);
    }

    /// Wakes every spare (shutdown).
    pub(crate) fn wake_spares(&self) {
        for spare in self.spares.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            spare.cvar.notify_all();
        }
    }
}

/// Body of every carrier thread: drive `first` (if any), then serve as a spare.
pub(crate) fn carrier_main(shared: Arc<Shared>, first: Option<Arc<Worker>>) {
    sys::ensure_signal_stack();
    super::freeze::record_signal_mask();
    crate::preempt::register_thread();
    let mut next = first;
    loop {
        let worker = match next.take() {
            Some(w) => w,
            None => match wait_as_spare(&shared, None) {
                Some(w) => w,
                None => break,
            },
        };
        match worker.run() {
            Outcome::Exited => shared.worker_exited(),
            Outcome::Lost => {}
        }
    }
    shared.carriers.alive.fetch_sub(1, Ordering::Relaxed);
}

/// Waits as a spare (in `spare`, or in a new one added to the pool) until given a worker;
/// `None` once the runtime shuts down.
fn wait_as_spare(shared: &Arc<Shared>, spare: Option<Arc<Spare>>) -> Option<Arc<Worker>> {
    let spare = spare.unwrap_or_else(|| {
        let spare = Arc::new(Spare { assigned: Mutex::new(None), cvar: Condvar::new() });
        shared.carriers.spares.lock().unwrap_or_else(|e| e.into_inner()).push(spare.clone());
        spare
    });
    let mut assigned = spare.assigned.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(w) = assigned.take() {
            return Some(w);
        }
        if shared.is_shutting_down() {
            drop(assigned);
            let mut spares = shared.carriers.spares.lock().unwrap_or_else(|e| e.into_inner());
            spares.retain(|s| !Arc::ptr_eq(s, &spare));
            drop(spares);
            // A worker may have been assigned between the check and the removal.
            return spare.assigned.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        assigned = spare.cvar.wait_timeout(assigned, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// A new carrier thread that starts as a spare waiting on `spare`.
fn start_spare(shared: &Arc<Shared>, spare: Arc<Spare>) -> std::io::Result<()> {
    shared.carriers.started();
    let shared2 = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("{}-carrier", shared.config.name))
        .stack_size(CARRIER_STACK)
        .spawn(move || {
            let first = wait_as_spare(&shared2, Some(spare));
            match first {
                Some(w) => carrier_main(shared2, Some(w)),
                None => {
                    shared2.carriers.alive.fetch_sub(1, Ordering::Relaxed);
                }
            }
        });
    spawned.map(drop).inspect_err(|_| {
        shared.carriers.alive.fetch_sub(1, Ordering::Relaxed);
    })
}

/// Gives `worker` to `spare` to drive. Allocates nothing (see `take_spare`).
pub(crate) fn assign(spare: &Spare, worker: Arc<Worker>) {
    *spare.assigned.lock().unwrap_or_else(|e| e.into_inner()) = Some(worker);
    spare.cvar.notify_one();
}

/// Monitor only: makes sure a spare waits in the pool (starting one if the carrier limit
/// allows), so that a coroutine frozen by a preemption signal can hand its worker over
/// without allocating. Returns whether one waits there.
pub(crate) fn ensure_spare(shared: &Arc<Shared>) -> bool {
    let carriers = &shared.carriers;
    if !carriers.spares.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
        return true;
    }
    if carriers.alive() >= carriers.max {
        refuse(carriers, "the carrier limit (Builder::max_carriers) is reached");
        return false;
    }
    let spare = Arc::new(Spare { assigned: Mutex::new(None), cvar: Condvar::new() });
    if let Err(e) = start_spare(shared, spare.clone()) {
        refuse(carriers, &format!("a carrier thread could not be started: {e}"));
        return false;
    }
    let mut spares = carriers.spares.lock().unwrap_or_else(|e| e.into_inner());
    spares.push(spare);
    // Room for the pushes of frozen threads that take a spare and give it back.
    spares.reserve(8);
    true
}

/// Monitor only: moves `worker`, whose coroutine is stuck in run number `resumes`, to another
/// thread. Returns what was handed off, if it happened.
pub(crate) fn hand_off(shared: &Arc<Shared>, worker: &Arc<Worker>, resumes: u64) -> Option<Handed> {
    let carriers = &shared.carriers;
    // A carrier is secured first: once the worker is marked handed off, its old thread
    // abandons it at the next suspension, so someone must be ready to drive it.
    let pooled = carriers.spares.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let spare = match pooled {
        Some(s) => s,
        None if carriers.alive() < carriers.max => {
            let spare = Arc::new(Spare { assigned: Mutex::new(None), cvar: Condvar::new() });
            if let Err(e) = start_spare(shared, spare.clone()) {
                refuse(carriers, &format!("a carrier thread could not be started: {e}"));
                return None;
            }
            spare
        }
        None => {
            refuse(carriers, "the carrier limit (Builder::max_carriers) is reached");
            return None;
        }
    };
    let Some(handed) = worker.try_hand_off(resumes) else {
        // The coroutine suspended in the meantime: the spare goes (back) to the pool.
        carriers.spares.lock().unwrap_or_else(|e| e.into_inner()).push(spare);
        return None;
    };
    carriers.handoffs.fetch_add(1, Ordering::Relaxed);
    *spare.assigned.lock().unwrap_or_else(|e| e.into_inner()) = Some(worker.clone());
    spare.cvar.notify_one();
    Some(handed)
}

fn refuse(carriers: &Carriers, why: &str) {
    carriers.refused.fetch_add(1, Ordering::Relaxed);
    if !carriers.warned.swap(true, Ordering::Relaxed) {
        tracing::warn!("a worker stuck in a long-running coroutine could not be handed off: {why}");
    }
}
