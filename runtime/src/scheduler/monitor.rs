//! The monitor: one thread that notices coroutines holding their worker past the time slice.
//!
//! Every half slice it samples each worker's resume counter and mode. A worker whose counter
//! has not moved for a whole slice while a coroutine runs its own code is stuck (a long
//! computation, or a blocking call the hooks cannot reach): its coroutine is preempted by a
//! signal if it is preemptible and signals are on, otherwise the worker is handed to a spare
//! carrier (`carrier.rs`).
//!
//! It also follows every run for the stuck-coroutine report (`stuck.rs`), and runs for that
//! alone when the time slice is off but the report is on.
//!
//! A worker whose thread has hardly used the CPU in that slice is left alone while the thread
//! is runnable: the kernel kept it off the CPU (a loaded machine), and its coroutines carry on
//! when it runs again. Handing it off would cost a thread switch for nothing, and on io_uring
//! every operation in flight that its old thread submitted needs that thread woken once more
//! (the long-lived ones are then submitted again by the new driver: `UringReactor::driven_by`).
//! Asleep in a system call instead, it is handed off as before.
//!
//! At every tick it wakes a sleeping worker for any worker whose queue holds tasks: wake-ups
//! queue on the worker they happen on and wake nobody until `wake_threshold` wait there
//! (`Worker::queue_woken`), and this bounds how long fewer wait for an idle CPU while a long
//! computation, or more work than one worker can take, holds their worker: about a tick. At
//! most one wake-up per worker and tick, where a wake-up per queued task would cost one each
//! time a worker's queue fills.
//!
//! It sleeps while nothing runs: when every worker is parked it waits until one wakes up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::Shared;
use super::stuck::StuckMonitor;
use super::worker::Mode;

/// Where the monitor sleeps while every worker is parked.
pub(crate) struct MonitorSignal {
    asleep: AtomicBool,
    woken: Mutex<bool>,
    cvar: Condvar,
}

impl MonitorSignal {
    pub(crate) fn new() -> MonitorSignal {
        MonitorSignal { asleep: AtomicBool::new(false), woken: Mutex::new(false), cvar: Condvar::new() }
    }

    /// A worker woke up: wake the monitor if it sleeps.
    #[inline]
    pub(crate) fn wake(&self) {
        if self.asleep.load(Ordering::Acquire) {
            *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
            self.cvar.notify_one();
        }
    }

    fn sleep(&self, shared: &Shared, limit: Duration) {
        self.asleep.store(true, Ordering::SeqCst);
        let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock after announcing: a worker that woke before we announced
        // is seen here, one that wakes after finds `asleep` and notifies.
        if !*woken && shared.idle.all_sleeping() && !shared.is_shutting_down() {
            woken = self.cvar.wait_timeout(woken, limit).unwrap_or_else(|e| e.into_inner()).0;
        }
        *woken = false;
        self.asleep.store(false, Ordering::SeqCst);
    }
}

pub(crate) fn monitor_main(shared: Arc<Shared>, slice: Option<Duration>) {
    let workers = shared.workers.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut stuck = StuckMonitor::new(&shared, workers.len());
    // Half a slice, and a quarter of the stuck threshold when the report is on without
    // preemption.
    let tick = match (slice, shared.stuck.threshold()) {
        (Some(slice), _) => slice / 2,
        (None, Some(threshold)) => threshold / 4,
        (None, None) => return,
    }
    .max(Duration::from_millis(1));
    let mut seen: Vec<(u64, Instant)> = vec![(u64::MAX, Instant::now()); workers.len()];
    // Deferred preemptions of each worker when its current run was first seen.
    let mut deferred_at: Vec<u64> = workers.iter().map(|w| w.deferrals()).collect();
    // CPU time of each worker's thread (by kernel id) when its current run was first seen.
    let mut cpu_at: Vec<Option<(i32, Duration)>> = vec![None; workers.len()];
    while !shared.is_shutting_down() {
        // Asleep while nothing runs, unless a preemptible coroutine handed off with its
        // thread still runs there, or a stuck one is followed there.
        if shared.idle.all_sleeping()
            && !workers.iter().any(|w| w.has_detached())
            && !stuck.as_ref().is_some_and(StuckMonitor::following)
        {
            shared.monitor.sleep(&shared, Duration::from_secs(1));
            let now = Instant::now();
            seen.iter_mut().for_each(|s| *s = (u64::MAX, now));
            if let Some(stuck) = stuck.as_mut() {
                stuck.all_parked(&shared.stuck, now, &workers);
            }
            continue;
        }
        std::thread::sleep(tick);
        let now = Instant::now();
        if let Some(stuck) = stuck.as_mut() {
            stuck.observe_detached(&shared.stuck, now, &workers);
        }
        for (index, (((worker, seen), deferred_at), cpu_at)) in
            workers.iter().zip(seen.iter_mut()).zip(deferred_at.iter_mut()).zip(cpu_at.iter_mut()).enumerate()
        {
            // A preemptible coroutine handed off with its thread (it was stuck) is signalled
            // there until it suspends: preempted, it goes back to the pool.
            if let Some(tid) = worker.detached_target() {
                crate::preempt::signal_thread(tid);
            }
            if shared.config.wake_threshold > 1 && !shared.stealers[index].is_empty() {
                shared.notify();
            }
            let (resumes, mode, preemptible) = worker.activity();
            // Read once for the stuck report and the hand-off check below, if either wants it.
            let mut cpu = CpuReading::of(worker.tid());
            if let Some(stuck) = stuck.as_mut() {
                stuck.observe(&shared.stuck, index, worker, (resumes, mode), now, &mut cpu);
            }
            let Some(slice) = slice else { continue };
            if resumes != seen.0 || mode != Mode::User {
                *seen = (resumes, now);
                *deferred_at = worker.deferrals();
                // Only a coroutine's run can be stuck.
                *cpu_at = if mode == Mode::User { cpu.get() } else { None };
                continue;
            }
            if now.duration_since(seen.1) < slice {
                continue;
            }
            if now.duration_since(seen.1) < slice * PATIENCE && waits_for_a_cpu(worker.tid(), *cpu_at, slice) {
                continue;
            }
            // A preemptible coroutine gets signals. It is handed off instead when they keep
            // being deferred: 20 in a row at one instruction (blocked in a system call, or
            // spinning in libc), or 500 in a row wherever they land. Code that spends most of
            // its time in libc (allocating, copying) has most signals deferred, but at
            // different places, and one soon lands in its own code. A signal merely delayed
            // (a loaded machine) is not a deferral.
            let in_a_row = worker.deferrals() - *deferred_at;
            let gave_up = (in_a_row >= 20 && worker.deferrals_at_one_place() >= 20) || in_a_row >= 500;
            // A preempted coroutine keeps its thread (`freeze.rs`) and hands the worker to a
            // spare, which must be ready beforehand: the frozen thread cannot start one.
            if preemptible && !gave_up && super::carrier::ensure_spare(&shared) && crate::preempt::signal_worker(worker)
            {
                continue;
            }
            let follow = stuck.as_mut().and_then(|s| s.before_hand_off(&shared.stuck, index, worker));
            if let Some(handed) = super::carrier::hand_off(&shared, worker, resumes) {
                if handed.preemptible && crate::preempt::signal_preemption_supported() {
                    worker.remember_detached(handed.tid, handed.token);
                }
                if let Some(stuck) = stuck.as_mut() {
                    stuck.handed_off(&shared.stuck, index, &handed, follow);
                }
                *seen = (u64::MAX, now);
            } else {
                if let Some(stuck) = stuck.as_mut() {
                    stuck.hand_off_failed(&shared.stuck, follow);
                }
                seen.1 = now;
            }
        }
    }
}

/// How many slices a worker whose thread waits for a CPU is left alone: past that it is
/// handed off all the same (the other threads that take the CPUs may be the coroutines it
/// should make room for).
const PATIENCE: u32 = 10;

/// A thread's CPU time at this monitor tick, read (a system call, not the vDSO: under a
/// microsecond) at most once, and only if asked for.
pub(super) struct CpuReading {
    tid: i32,
    read: Option<Option<Duration>>,
}

impl CpuReading {
    pub(super) fn of(tid: i32) -> CpuReading {
        CpuReading { tid, read: None }
    }

    /// The thread and its CPU time (`None` if the thread is gone).
    pub(super) fn get(&mut self) -> Option<(i32, Duration)> {
        let tid = self.tid;
        self.read.get_or_insert_with(|| crate::sys::thread_cpu_time(tid)).map(|cpu| (tid, cpu))
    }
}

/// Whether thread `tid`, whose CPU time was `cpu_at` when the current run was first seen,
/// has used less than a quarter of `slice` (a time slice, or the stuck threshold) since and
/// is runnable: the kernel keeps it off the CPU, its coroutine does not hold it. A coroutine
/// that computes gets its thread's share of the CPU, so on a loaded machine it is preempted
/// once it has used that much, later in wall time than on an idle one.
pub(super) fn waits_for_a_cpu(tid: i32, cpu_at: Option<(i32, Duration)>, slice: Duration) -> bool {
    let Some((at, before)) = cpu_at.filter(|(at, _)| *at == tid) else { return false };
    let Some(now) = crate::sys::thread_cpu_time(at) else { return false };
    now.saturating_sub(before) < slice / 4 && crate::sys::thread_runnable(at) == Some(true)
}
