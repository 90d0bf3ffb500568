//! What all workers of a runtime share: queues, sleepers, stacks, counters, the stop flag.
//!
//! # Shutdown
//!
//! 1. `begin_shutdown` sets `shutting_down` and unparks every worker.
//! 2. From then on every coroutine unwinds at its next suspension point (as if cancelled),
//!    queued tasks that never ran finish as cancelled, and workers fire every timer at once
//!    so that sleepers wake up and unwind.
//! 3. A worker exits when nothing is alive any more, or when `force_exit` is set (the
//!    caller's deadline passed), and reports through `worker_exited`.
//! 4. The caller then drops what is left in the shared queues.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Stealer, Worker as Deque};
use crossbeam_utils::CachePadded;

use super::idle::Idle;
use super::priority::PriorityQueue;
use super::{Worker, context};
use crate::metrics::{RuntimeMetrics, WorkerCounters};
use crate::reactor::{IoBackend, Unparker};
use crate::stack::{Stack, StackPool};
use crate::task::{Cell, DEFAULT_PRIORITY, JoinHandle, TaskRef};

/// Settings the workers read.
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) workers: usize,
    pub(crate) io_backend: IoBackend,
    /// Whether the syscall hooks apply to this runtime's coroutines.
    pub(crate) hooks: bool,
    /// The time slice after which a running coroutine is handed off or preempted; `None`
    /// disables the monitor.
    pub(crate) preempt_interval: Option<std::time::Duration>,
    /// Most threads that drive workers at once (workers + spares).
    pub(crate) max_carriers: usize,
    /// Whether signal preemption is on for every coroutine.
    pub(crate) preempt_all: bool,
    /// Past this a coroutine holding its thread is reported (`stuck.rs`); `None`: off.
    pub(crate) stuck_threshold: Option<std::time::Duration>,
    /// Coroutines woken on a worker that wait in its queue before it wakes a sleeping worker
    /// (`Worker::push_woken`); 1 when there is no monitor to bound the wait.
    pub(crate) wake_threshold: usize,
}

pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) injector: Injector<TaskRef>,
    pub(crate) stealers: Box<[Stealer<TaskRef>]>,
    pub(crate) priority: PriorityQueue,
    pub(crate) idle: Idle,
    pub(crate) unparkers: Box<[Unparker]>,
    pub(crate) stacks: StackPool,
    pub(crate) counters: Box<[CachePadded<WorkerCounters>]>,
    remote_spawned: AtomicU64,
    /// Coroutines that finished on a thread that had just lost its worker in a hand-off.
    pub(crate) finished_elsewhere: AtomicU64,
    /// Sleeping workers woken by `notify`.
    wakeups: AtomicU64,
    /// Suspended coroutines unwound because their last reference was dropped (nothing could
    /// wake them); counted as finished.
    destroyed: AtomicU64,
    /// Which workers wait on which descriptors, so that a close reaches them (`io/closing.rs`).
    pub(crate) waiting: crate::io::Waiting,
    /// `maybe_grow` segments in use by this runtime's coroutines.
    segments: std::sync::atomic::AtomicUsize,
    /// Coroutines of this runtime switched out by a preemption signal.
    preemptions: AtomicU64,
    /// Preemption signals to this runtime's workers that arrived at an unsafe point.
    preemptions_deferred: AtomicU64,
    /// Hand-offs whose stuck thread has come back (its coroutine suspended).
    pub(crate) handoffs_completed: AtomicU64,
    /// Every worker, for the monitor and for carriers (cleared at shutdown).
    pub(crate) workers: Mutex<Vec<Arc<Worker>>>,
    /// Threads that drive workers: their own, and spares for hand-offs.
    pub(crate) carriers: super::carrier::Carriers,
    /// The monitor's parking place.
    pub(crate) monitor: super::monitor::MonitorSignal,
    /// The stuck-coroutine report's counters and followed threads.
    pub(crate) stuck: super::StuckWatch,
    pub(crate) next_id: AtomicU64,
    shutting_down: AtomicBool,
    pub(crate) force_exit: AtomicBool,
    exited: Mutex<usize>,
    exited_cvar: Condvar,
}

impl Shared {
    /// A runtime's shared half, and one local deque per worker.
    pub(crate) fn new(
        config: Config,
        stacks: StackPool,
        unparkers: Vec<Unparker>,
    ) -> (Arc<Shared>, Vec<Deque<TaskRef>>) {
        let workers = config.workers;
        let deques: Vec<Deque<TaskRef>> = (0..workers).map(|_| Deque::new_fifo()).collect();
        let shared = Shared {
            injector: Injector::new(),
            stealers: deques.iter().map(Deque::stealer).collect(),
            priority: PriorityQueue::new(),
            idle: Idle::new(workers),
            unparkers: unparkers.into_boxed_slice(),
            stacks,
            counters: (0..workers).map(|_| CachePadded::new(WorkerCounters::default())).collect(),
            remote_spawned: AtomicU64::new(0),
            finished_elsewhere: AtomicU64::new(0),
            wakeups: AtomicU64::new(0),
            destroyed: AtomicU64::new(0),
            waiting: crate::io::Waiting::new(),
            segments: std::sync::atomic::AtomicUsize::new(0),
            preemptions: AtomicU64::new(0),
            preemptions_deferred: AtomicU64::new(0),
            handoffs_completed: AtomicU64::new(0),
            workers: Mutex::new(Vec::new()),
            carriers: super::carrier::Carriers::new(config.max_carriers),
            monitor: super::monitor::MonitorSignal::new(),
            stuck: super::StuckWatch::new(config.stuck_threshold),
            next_id: AtomicU64::new(1),
            shutting_down: AtomicBool::new(false),
            force_exit: AtomicBool::new(false),
            exited: Mutex::new(0),
            exited_cvar: Condvar::new(),
            config,
        };
        (Arc::new(shared), deques)
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Creates a task and queues it.
    pub(crate) fn spawn<F, T>(
        self: &Arc<Self>,
        f: F,
        name: Option<Box<str>>,
        priority: i64,
        stack_size: usize,
        preemptible: bool,
    ) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.is_shutting_down() {
            return Err(io::Error::other(format!("cannot spawn: runtime '{}' is shutting down", self.config.name)));
        }
        let worker = context::current_worker().filter(|w| Arc::ptr_eq(w.shared(), self));
        let id = match &worker {
            Some(w) => w.next_id(),
            None => self.next_id.fetch_add(1, Ordering::Relaxed),
        };
        let preemptible = preemptible || self.config.preempt_all;
        let ptr = Cell::allocate(f, id, priority, stack_size, name, preemptible, self.clone());
        // SAFETY: `allocate` returns a pointer carrying one reference, which the queue takes.
        let task = unsafe { TaskRef::from_raw(ptr) };
        let handle = JoinHandle::new(task.clone());
        match &worker {
            Some(w) => w.push_spawned(task),
            None => {
                self.remote_spawned.fetch_add(1, Ordering::Relaxed);
                self.push_remote(task);
            }
        }
        Ok(handle)
    }

    /// Queues a woken task: on this thread's worker if it belongs to this runtime, otherwise
    /// on the shared queues.
    pub(crate) fn schedule(&self, task: TaskRef) {
        match context::current_worker() {
            Some(w) if std::ptr::eq(Arc::as_ptr(w.shared()), self) => w.push_woken(task),
            _ => self.push_remote(task),
        }
    }

    /// Queues a task on the shared queues, from anywhere.
    pub(crate) fn push_remote(&self, task: TaskRef) {
        if task.header().priority == DEFAULT_PRIORITY {
            self.injector.push(task);
        } else {
            self.priority.push(task);
        }
        self.notify();
    }

    /// The worker with this index, while the runtime runs (the list is emptied at shutdown).
    /// Allocates nothing.
    pub(crate) fn worker_arc(&self, index: usize) -> Option<Arc<Worker>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner()).get(index).cloned()
    }

    /// Wakes a sleeping worker if work is waiting and nobody is searching for it.
    pub(crate) fn notify(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.wakeups.fetch_add(1, Ordering::Relaxed);
            self.unparkers[index].unpark();
        }
    }

    /// Whether any queue another worker could take from holds work.
    pub(crate) fn has_shared_work(&self) -> bool {
        !self.injector.is_empty() || self.priority.len() > 0 || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Returns a stack from outside the worker that used it (a task dropped elsewhere).
    pub(crate) fn recycle_stack(&self, stack: Stack) {
        match context::current_worker() {
            Some(w) if std::ptr::eq(Arc::as_ptr(w.shared()), self) => w.recycle_stack(stack),
            _ => self.stacks.put(None, stack),
        }
    }

    /// A suspended coroutine was unwound because nothing could wake it (`task/cell.rs`).
    pub(crate) fn count_destroyed(&self) {
        self.destroyed.fetch_add(1, Ordering::Relaxed);
    }

    /// One of this runtime's coroutines took a `maybe_grow` segment.
    pub(crate) fn segment_taken(&self) {
        self.segments.fetch_add(1, Ordering::Relaxed);
    }

    /// ... and gave it back.
    pub(crate) fn segment_returned(&self) {
        self.segments.fetch_sub(1, Ordering::Relaxed);
    }

    /// One of this runtime's coroutines was switched out by a preemption signal.
    pub(crate) fn count_preemption(&self) {
        self.preemptions.fetch_add(1, Ordering::Relaxed);
    }

    /// A preemption signal to one of this runtime's workers arrived at an unsafe point.
    ///
    /// # Signal safety
    ///
    /// One atomic add.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    pub(crate) fn count_preemption_deferred(&self) {
        self.preemptions_deferred.fetch_add(1, Ordering::Relaxed);
    }

    /// Coroutines spawned and not finished.
    pub(crate) fn alive(&self) -> u64 {
        let mut spawned = self.remote_spawned.load(Ordering::Relaxed);
        let mut finished = self.finished_elsewhere.load(Ordering::Relaxed) + self.destroyed.load(Ordering::Relaxed);
        for c in self.counters.iter() {
            spawned += c.spawned.load(Ordering::Relaxed);
            finished += c.finished.load(Ordering::Relaxed);
        }
        spawned.saturating_sub(finished)
    }

    pub(crate) fn metrics(&self) -> RuntimeMetrics {
        let per_worker: Vec<_> = self
            .counters
            .iter()
            .zip(self.stealers.iter())
            .zip(self.unparkers.iter())
            .map(|((c, s), u)| c.snapshot(s.len(), u.standing_polls()))
            .collect();
        let spawned = self.remote_spawned.load(Ordering::Relaxed) + per_worker.iter().map(|w| w.spawned).sum::<u64>();
        let finished = self.finished_elsewhere.load(Ordering::Relaxed)
            + self.destroyed.load(Ordering::Relaxed)
            + per_worker.iter().map(|w| w.finished).sum::<u64>();
        RuntimeMetrics {
            workers: self.config.workers,
            spawned,
            finished,
            alive: spawned.saturating_sub(finished),
            switches: per_worker.iter().map(|w| w.switches).sum(),
            steals: per_worker.iter().map(|w| w.steals).sum(),
            migrations: per_worker.iter().map(|w| w.migrations).sum(),
            parks: per_worker.iter().map(|w| w.parks).sum(),
            wakeups: self.wakeups.load(Ordering::Relaxed),
            injector_depth: self.injector.len(),
            priority_depth: self.priority.len(),
            stacks_mapped: self.stacks.mapped(),
            stacks_pooled: self.stacks.pooled_shared() + per_worker.iter().map(|w| w.stack_cache).sum::<usize>(),
            timers: per_worker.iter().map(|w| w.timers).sum(),
            stack_guard: self.stacks.guard_kind(),
            stack_segments: self.segments.load(Ordering::Relaxed),
            handoffs: self.carriers.handoffs(),
            handoffs_refused: self.carriers.refused(),
            carriers_alive: self.carriers.alive(),
            signal_preemptions: self.preemptions.load(Ordering::Relaxed),
            signal_preemptions_deferred: self.preemptions_deferred.load(Ordering::Relaxed),
            io_backend: self.config.io_backend,
            io_in_flight: per_worker.iter().map(|w| w.io_in_flight).sum(),
            stuck_reports: self.stuck.reports(),
            stuck_longest: self.stuck.longest(),
            stack_high_water: self.stacks.high_water(),
            per_worker,
        }
    }

    /// Step 1 of shutdown.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.unpark_all();
    }

    pub(crate) fn unpark_all(&self) {
        for unparker in self.unparkers.iter() {
            unparker.unpark();
        }
    }

    pub(crate) fn worker_exited(&self) {
        let mut exited = self.exited.lock().unwrap_or_else(|e| e.into_inner());
        *exited += 1;
        self.exited_cvar.notify_all();
    }

    /// Waits until every worker has exited or `deadline` passes; returns whether all did.
    pub(crate) fn wait_exited(&self, deadline: Instant) -> bool {
        let mut exited = self.exited.lock().unwrap_or_else(|e| e.into_inner());
        while *exited < self.config.workers {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            exited = self.exited_cvar.wait_timeout(exited, wait).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Step 4 of shutdown: drops the tasks still queued.
    pub(crate) fn drain_queues(&self) {
        loop {
            match self.injector.steal() {
                crossbeam_deque::Steal::Success(task) => drop(task),
                crossbeam_deque::Steal::Retry => continue,
                crossbeam_deque::Steal::Empty => break,
            }
        }
        drop(self.priority.drain());
    }
}
