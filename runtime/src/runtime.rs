//! `Runtime`: a pool of workers that run coroutines, and its life cycle.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle as ThreadHandle;
use std::time::{Duration, Instant};

use crate::builder::Builder;
use crate::metrics::RuntimeMetrics;
use crate::reactor::{IoBackend, Reactor, Unparker};
use crate::scheduler::{Config, Shared, Worker, context};
use crate::stack::{self, StackPool};
use crate::task::{self, JoinHandle};

fn hooks_from_env() -> bool {
    #[cfg(feature = "hooks")]
    return crate::hooks::enabled_by_env();
    #[cfg(not(feature = "hooks"))]
    return false;
}

/// Carriers allowed beyond one per worker, unless `Builder::max_carriers` says otherwise.
const DEFAULT_SPARE_CARRIERS: usize = 64;

/// How long dropping a runtime waits for its coroutines to unwind.
const DROP_TIMEOUT: Duration = Duration::from_secs(5);

/// Stack of each worker thread (it runs the scheduler, not coroutines).
const WORKER_THREAD_STACK: usize = 1024 * 1024;

/// A pool of worker threads running coroutines.
///
/// ```
/// let rt = oc_runtime::Runtime::builder().workers(2).build()?;
/// let sum = rt.block_on(|| {
///     let handles: Vec<_> = (0..10u64).map(|i| oc_runtime::spawn(move || i * i)).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
/// });
/// assert_eq!(sum, 285);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Mutex<Vec<ThreadHandle<()>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("name", &self.shared.config.name)
            .field("workers", &self.shared.config.workers)
            .finish()
    }
}

impl Runtime {
    /// A builder to configure a runtime.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A runtime with the default configuration.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    pub(crate) fn start(builder: Builder) -> io::Result<Runtime> {
        stack::install_overflow_handler();
        let workers = builder.worker_count();
        let requested = match IoBackend::from_env()? {
            Some(from_env) if builder.io_backend.is_none() => from_env,
            _ => builder.io_backend.unwrap_or_default(),
        };
        // The rings are made on a thread of their own that then exits. The kernel ties a
        // ring to every thread that created or used it, and when the ring is closed it
        // interrupts those threads to let go of it: the caller's next blocking call with a
        // time-out (a socket read with `SO_RCVTIMEO`) would fail with `EINTR` long after the
        // runtime is gone.
        let (io_backend, reactors) = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(format!("{}-setup", builder.name))
                .spawn_scoped(scope, || Reactor::create(requested, workers))
                .map_err(|e| io::Error::new(e.kind(), format!("cannot start a thread to set up the IO rings: {e}")))?
                .join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
        })?;
        let (reactors, unparkers): (Vec<Reactor>, Vec<Unparker>) = reactors.into_iter().unzip();
        let hooks = cfg!(feature = "hooks") && builder.hooks.unwrap_or_else(hooks_from_env);
        #[cfg(feature = "hooks")]
        crate::hooks::install();
        let preempt_interval = builder.preempt_interval_resolved()?;
        let wake_threshold = builder.wake_threshold_resolved()?;
        let config = Config {
            name: builder.name.clone(),
            workers,
            io_backend,
            hooks,
            preempt_interval,
            // Held-back wake-ups are bounded by the monitor's tick: without one, none is held.
            wake_threshold: if preempt_interval.is_some() { wake_threshold } else { 1 },
            max_carriers: builder.max_carriers.unwrap_or(workers + DEFAULT_SPARE_CARRIERS),
            preempt_all: builder.signal_preemption,
            stuck_threshold: builder.stuck_threshold_resolved()?,
        };
        let (shared, deques) = Shared::new(
            config,
            StackPool::new(builder.stack_size, builder.max_stacks, workers, builder.stack_high_water_resolved()?),
            unparkers,
        );
        let runtime = Runtime { shared: shared.clone(), threads: Mutex::new(Vec::with_capacity(workers)) };
        let all: Vec<Arc<Worker>> = deques
            .into_iter()
            .zip(reactors)
            .enumerate()
            .map(|(index, (deque, reactor))| Arc::new(Worker::new(index, shared.clone(), deque, reactor)))
            .collect();
        *shared.workers.lock().unwrap_or_else(|e| e.into_inner()) = all.clone();
        if builder.signal_preemption {
            crate::preempt::enable()?;
        } else {
            // For coroutines spawned preemptible; where unsupported they are handed off.
            let _ = crate::preempt::enable();
        }
        for (index, worker) in all.into_iter().enumerate() {
            let worker_shared = shared.clone();
            shared.carriers.started();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-worker-{index}", builder.name))
                .stack_size(WORKER_THREAD_STACK)
                .spawn(move || crate::scheduler::carrier_main(worker_shared, Some(worker)));
            match spawned {
                Ok(thread) => runtime.threads.lock().unwrap_or_else(|e| e.into_inner()).push(thread),
                Err(e) => {
                    // Workers never started still count as exited, so shutdown does not wait.
                    shared.carriers.stopped();
                    for _ in index..workers {
                        shared.worker_exited();
                    }
                    runtime.stop(Duration::from_secs(1));
                    return Err(io::Error::new(e.kind(), format!("cannot start worker thread {index}: {e}")));
                }
            }
        }
        let slice = shared.config.preempt_interval;
        if slice.is_some() || shared.config.stuck_threshold.is_some() {
            let monitor_shared = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-monitor", builder.name))
                .stack_size(256 * 1024)
                .spawn(move || crate::scheduler::monitor_main(monitor_shared, slice));
            match spawned {
                Ok(thread) => runtime.threads.lock().unwrap_or_else(|e| e.into_inner()).push(thread),
                Err(e) => {
                    runtime.stop(Duration::from_secs(1));
                    return Err(io::Error::new(e.kind(), format!("cannot start the monitor thread: {e}")));
                }
            }
        }
        Ok(runtime)
    }

    /// Spawns a coroutine on this runtime.
    ///
    /// # Panics
    ///
    /// Panics if the runtime is shutting down.
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_with(task::Builder::new(), f).unwrap_or_else(|e| panic!("failed to spawn a coroutine: {e}"))
    }

    /// Spawns a coroutine configured by `builder` on this runtime.
    pub fn spawn_with<F, T>(&self, builder: task::Builder, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        builder.spawn_on(&self.shared, f)
    }

    /// Runs `f` in a coroutine on this runtime and returns its result.
    ///
    /// The calling thread blocks (a calling coroutine suspends) until `f` returns. A panic in
    /// `f` is resumed on the caller.
    ///
    /// # Panics
    ///
    /// Panics if `f` panics, or if the runtime is shutting down.
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        block_on_shared(&self.shared, f)
    }

    pub(crate) fn shared_arc(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> RuntimeMetrics {
        self.shared.metrics()
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.config.workers
    }

    /// Whether the syscall hooks apply to this runtime's coroutines.
    pub fn hooks_enabled(&self) -> bool {
        self.shared.config.hooks
    }

    /// The IO backend the workers use (never `Auto`).
    pub fn io_backend(&self) -> IoBackend {
        self.shared.config.io_backend
    }

    /// Stops the runtime: every coroutine is cancelled (it unwinds at its next suspension
    /// point, running its destructors) and the workers exit once none is left.
    ///
    /// Returns `true` if that happened within `timeout`. Otherwise the workers that are still
    /// busy (a coroutine that never suspends) are left to finish on their own and `false` is
    /// returned.
    pub fn shutdown(self, timeout: Duration) -> bool {
        self.stop(timeout)
    }

    fn stop(&self, timeout: Duration) -> bool {
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        if threads.is_empty() && self.shared.is_shutting_down() {
            return true;
        }
        self.shared.begin_shutdown();
        let own_worker = context::current_worker().is_some_and(|w| Arc::ptr_eq(w.shared(), &self.shared));
        if own_worker {
            // Stopped from one of its own coroutines: waiting would wait for ourselves.
            return false;
        }
        let deadline = Instant::now() + timeout;
        let clean = self.shared.wait_exited(deadline);
        if clean {
            for thread in threads {
                let _ = thread.join();
            }
        } else {
            self.shared.force_exit.store(true, std::sync::atomic::Ordering::Release);
            self.shared.unpark_all();
            // Workers stuck in a coroutine are detached; the rest exit promptly.
            let _ = self.shared.wait_exited(Instant::now() + Duration::from_millis(100));
        }
        self.shared.drain_queues();
        self.shared.carriers.wake_spares();
        // Break the cycle runtime -> workers -> runtime once nobody drives them.
        if clean {
            self.shared.workers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        clean
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop(DROP_TIMEOUT);
    }
}

pub(crate) fn block_on_shared<F, T>(shared: &Arc<Shared>, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let handle = task::Builder::new()
        .spawn_on(shared, f)
        .unwrap_or_else(|e| panic!("failed to spawn the block_on coroutine: {e}"));
    match handle.join() {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => panic!("block_on: {e}"),
        },
    }
}
