//! `Runtime::builder()`: how many workers, how big the stacks, what the threads are called.

use std::io;
use std::num::NonZeroUsize;

use std::time::Duration;

use crate::Runtime;

/// The default time slice; see [`Builder::preempt_interval`].
pub const DEFAULT_PREEMPT_INTERVAL: Duration = Duration::from_millis(10);
use crate::reactor::IoBackend;

/// The usable stack size a coroutine gets unless it asks otherwise: 128 KiB.
///
/// Only the pages a coroutine touches cost memory; the rest is address space.
pub const DEFAULT_STACK_SIZE: usize = 128 * 1024;

/// Configures a [`Runtime`].
///
/// ```
/// let rt = oc_runtime::Runtime::builder().workers(2).stack_size(64 * 1024).name("app").build()?;
/// assert_eq!(rt.block_on(|| 1 + 1), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) workers: Option<usize>,
    pub(crate) stack_size: usize,
    pub(crate) name: String,
    pub(crate) max_stacks: Option<usize>,
    pub(crate) io_backend: Option<IoBackend>,
    pub(crate) hooks: Option<bool>,
    pub(crate) preempt_interval: Option<Option<Duration>>,
    pub(crate) max_carriers: Option<usize>,
    pub(crate) signal_preemption: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            workers: None,
            stack_size: DEFAULT_STACK_SIZE,
            name: "oc".to_owned(),
            max_stacks: None,
            io_backend: None,
            hooks: None,
            preempt_interval: None,
            max_carriers: None,
            signal_preemption: false,
        }
    }
}

impl Builder {
    /// The defaults: one worker per CPU the process may use, 128 KiB stacks, name `oc`.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Number of worker threads. Default: the CPUs this process may run on (its affinity
    /// mask and cgroup CPU quota, as `std::thread::available_parallelism` reports them).
    /// Zero is treated as one.
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = Some(n.max(1));
        self
    }

    /// Usable bytes of each coroutine stack (rounded up to whole pages; at least 4 KiB).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = bytes;
        self
    }

    /// Name of the runtime; worker threads are called `NAME-worker-N`.
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = name.into();
        self
    }

    /// Most coroutine stacks mapped at once. Default: what `vm.max_map_count` allows (each
    /// guard-paged stack takes two mappings), less a reserve for the rest of the process.
    /// Coroutines that cannot get a stack do not start; their `join` returns an error that
    /// says why.
    pub fn max_stacks(mut self, n: usize) -> Builder {
        self.max_stacks = Some(n);
        self
    }

    /// The IO backend: io_uring, epoll, or `Auto` (io_uring when the kernel allows it). When
    /// not set, `OC_IO_BACKEND=auto|uring|epoll` decides, and `Auto` if that is unset too.
    /// Forcing io_uring on a kernel that refuses it makes `build` fail with an error that says
    /// so.
    pub fn io_backend(mut self, backend: IoBackend) -> Builder {
        self.io_backend = Some(backend);
        self
    }

    /// Whether blocking libc calls made by this runtime's coroutines (through `std::net`,
    /// `std::thread::sleep`, synchronous libraries) suspend the coroutine instead of blocking
    /// the worker. Default: on when the `hooks` feature is compiled in, unless `OC_HOOKS=0`.
    /// See `docs/hooks.md`.
    pub fn hooks(mut self, on: bool) -> Builder {
        self.hooks = Some(on);
        self
    }

    /// The time slice: a coroutine that holds its worker longer without suspending (a long
    /// computation, a blocking call the hooks cannot reach) is preempted by a signal if it is
    /// preemptible, otherwise its worker's queue is handed to another thread so that every
    /// other coroutine keeps running. Default 10 ms; `None` turns the monitor off, as does
    /// `OC_PREEMPT=0`. See `docs/preemption.md`.
    pub fn preempt_interval(mut self, slice: Option<Duration>) -> Builder {
        self.preempt_interval = Some(slice);
        self
    }

    /// Most threads that may drive workers at once: one per worker plus spares for
    /// hand-offs. Default: workers + 64. When the limit is reached a hand-off is refused
    /// (counted in the metrics and reported once), never fatal.
    pub fn max_carriers(mut self, n: usize) -> Builder {
        self.max_carriers = Some(n.max(1));
        self
    }

    /// Signal preemption for every coroutine of this runtime, as if each were spawned with
    /// `task::Builder::preemptible(true)`. Off by default; read `docs/preemption.md` for what
    /// code must not run preemptible. `build` fails on platforms where it is not supported.
    pub fn signal_preemption(mut self, on: bool) -> Builder {
        self.signal_preemption = on;
        self
    }

    pub(crate) fn preempt_interval_resolved(&self) -> io::Result<Option<Duration>> {
        Ok(match self.preempt_interval {
            Some(choice) => choice,
            None if matches!(std::env::var("OC_PREEMPT").as_deref(), Ok("0") | Ok("off") | Ok("false")) => None,
            None => Some(DEFAULT_PREEMPT_INTERVAL),
        })
    }

    /// Starts the worker threads.
    pub fn build(self) -> io::Result<Runtime> {
        Runtime::start(self)
    }

    pub(crate) fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }
}
