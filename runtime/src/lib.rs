//! Stackful coroutines on a work-stealing pool: Go-style concurrency without `async`.
//!
//! ```
//! use std::time::Duration;
//!
//! let rt = oc_runtime::Runtime::builder().workers(2).build()?;
//! let total = rt.block_on(|| {
//!     let handles: Vec<_> = (0..1000u64)
//!         .map(|i| {
//!             oc_runtime::spawn(move || {
//!                 oc_runtime::sleep(Duration::from_millis(10)); // suspends this coroutine only
//!                 i
//!             })
//!         })
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
//! });
//! assert_eq!(total, 499_500);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Glossary
//!
//! - **Coroutine** (a *task* once spawned): a closure with its own stack, resumed and
//!   suspended by a worker. It suspends only at *suspension points*: `yield_now`, `sleep`,
//!   `join`, runtime locks and IO. A suspended coroutine may resume on another worker.
//! - **Worker**: an OS thread that runs coroutines. It owns a local run queue (a
//!   work-stealing deque), a *run-next* slot, a timer heap and a stack cache. Default count:
//!   the CPUs the process may use.
//! - **Injector**: the global queue for work queued from outside the workers; every worker
//!   takes from it, and checks it every 61 picks so that it is never starved.
//! - **Parker**: where an idle worker sleeps. Whoever spawns or queues work from outside wakes
//!   one sleeping worker if nobody is already searching for work (see `scheduler/idle.rs` for
//!   the protocol that makes a lost wake-up impossible); coroutines woken on a worker wake
//!   one only once [`Builder::wake_threshold`] wait there, or at the monitor's next tick.
//! - **Stack pool**: guard-paged stacks, cached per worker and in a shared overflow pool, so
//!   that a spawn rarely maps memory. A queued coroutine that has not started owns no stack.
//! - **Safe point**: a place where the running coroutine may be switched out. The suspension
//!   points above are voluntary ones; the end of a hooked call is one too (a coroutine whose
//!   worker was handed away, or with a deferred preemption, is switched out there).
//! - **Monitor**: a thread per runtime that notices a coroutine holding its worker past its
//!   time slice. By default it hands the worker to a spare carrier thread (the coroutine keeps
//!   its own thread; nothing is switched). For coroutines spawned preemptible it sends a signal
//!   whose handler, when the interrupted code is the coroutine's own and outside libc, the
//!   loader, hooks, locks and runtime critical sections, switches the coroutine out at that
//!   instruction: an *involuntary switch*. The coroutine stays frozen on its thread while a
//!   spare carrier drives the worker, and resumes when the worker gives it its turn back.
//!   Otherwise the preemption waits for the next safe point. See `docs/preemption.md`.
//!
//! # Parking, and what we rejected
//!
//! A worker with nothing to run registers as a sleeper, looks at every queue once more, and
//! sleeps until woken or until its first timer is due. Sleeping in a loop of short naps was
//! rejected (it burns CPU and adds latency); writing an eventfd on every spawn (as may does)
//! was rejected because a worker that is awake, or already being woken, needs no signal.
//!
//! # Caveats
//!
//! A coroutine can move between worker threads at each suspension point, so a value read
//! from a `thread_local!` before a suspension may belong to another thread after it. Blocking
//! calls the runtime does not know (`std::thread::sleep`, a contended `std::sync::Mutex`)
//! block the whole worker: use the types of [`sync`], `coroutine_local!` ([`local`]) and
//! [`spawn_blocking`] instead. See `docs/caveats.md` and `docs/sync.md`.

pub mod blocking;
pub mod bridge;
mod builder;
pub mod fs;
mod global;
#[cfg(feature = "hooks")]
mod hooks;
pub mod io;
pub mod local;
mod loom;
mod metrics;
mod preempt;
mod reactor;
mod runtime;
mod scheduler;
mod stack;
pub mod sync;
mod sys;
pub mod task;
mod time;
mod tls;

pub use blocking::{BlockingHandle, spawn_blocking};
pub use bridge::{wait_future, wait_future_timeout};
pub use builder::{
    Builder, DEFAULT_PREEMPT_INTERVAL, DEFAULT_STACK_SIZE, DEFAULT_STUCK_THRESHOLD, DEFAULT_WAKE_THRESHOLD,
};
pub use global::{block_on, current_metrics, global, init};
pub use metrics::{RuntimeMetrics, StackGuard, StackHistogram, WorkerMetrics};
pub use reactor::IoBackend;
pub use runtime::Runtime;
pub use stack::maybe_grow;
pub use task::{JoinError, JoinHandle, current_id, current_name, in_coroutine, sleep, sleep_until, spawn, yield_now};

/// Runs the body of `main` (or any function without arguments) in a coroutine on the global
/// runtime, as `#[tokio::main]` does for tokio.
///
/// ```
/// #[oc_runtime::main]
/// fn main() {
///     let h = oc_runtime::spawn(|| 21 * 2);
///     assert_eq!(h.join().unwrap(), 42);
/// }
/// ```
///
/// `#[oc_runtime::main(workers = 4, stack_size = 262144)]` configures the global runtime
/// first.
pub use oc_runtime_macros::main;

/// Spawns `f(param)` as a coroutine, optionally with a priority (smaller runs first), and
/// returns its [`JoinHandle`]: `task!(|p| p * 2, 21)` or `task!(|p| p * 2, 21, -1)`.
///
/// ```
/// let h = oc_runtime::task!(|n: u32| n * 2, 21);
/// assert_eq!(h.join().unwrap(), 42);
/// let h = oc_runtime::task!(|s: &str| s.len(), "urgent", 1);
/// assert_eq!(h.join().unwrap(), 6);
/// ```
#[macro_export]
macro_rules! task {
    ($f: expr, $param: expr $(,)?) => {
        $crate::task::spawn_with($f, $param, $crate::task::DEFAULT_PRIORITY)
    };
    ($f: expr, $param: expr, $priority: expr $(,)?) => {
        $crate::task::spawn_with($f, $param, $priority)
    };
}

/// `maybe_grow!(expr)` runs `expr` on a fresh 1 MiB stack segment when less than 64 KiB of
/// stack is left; `maybe_grow!(red_zone, segment_size, expr)` chooses both sizes. See
/// [`maybe_grow()`].
///
/// ```
/// fn sum(n: u64) -> u64 {
///     oc_runtime::maybe_grow!(if n == 0 { 0 } else { n + sum(n - 1) })
/// }
/// assert_eq!(std::thread::spawn(|| sum(200_000)).join().unwrap(), 20_000_100_000);
/// ```
#[macro_export]
macro_rules! maybe_grow {
    ($red_zone: expr, $segment_size: expr, $body: expr) => {
        $crate::maybe_grow($red_zone, $segment_size, || $body)
    };
    ($body: expr) => {
        $crate::maybe_grow(64 * 1024, 1024 * 1024, || $body)
    };
}

#[doc(hidden)]
pub mod __private {
    pub use crate::global::block_on;

    /// What `#[oc_runtime::main(..)]` calls before running the body.
    pub fn configure_global(workers: Option<usize>, stack_size: Option<usize>) {
        let mut builder = crate::Builder::new().name("oc-global");
        if let Some(n) = workers {
            builder = builder.workers(n);
        }
        if let Some(n) = stack_size {
            builder = builder.stack_size(n);
        }
        if let Err(e) = crate::init(builder) {
            panic!("#[oc_runtime::main]: {e}");
        }
    }
}
