//! `Runtime::builder()`: how many workers, how big the stacks, what the threads are called.

use std::io;
use std::num::NonZeroUsize;

use std::time::Duration;

use crate::Runtime;

/// The default time slice; see [`Builder::preempt_interval`].
pub const DEFAULT_PREEMPT_INTERVAL: Duration = Duration::from_millis(10);

/// The default wake threshold; see [`Builder::wake_threshold`].
pub const DEFAULT_WAKE_THRESHOLD: usize = 16;

/// The default stuck-coroutine threshold; see [`Builder::stuck_threshold`].
pub const DEFAULT_STUCK_THRESHOLD: Duration = Duration::from_millis(100);
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
    pub(crate) stuck_threshold: Option<Option<Duration>>,
    pub(crate) stack_high_water: Option<bool>,
    pub(crate) wake_threshold: Option<usize>,
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
            stuck_threshold: None,
            stack_high_water: None,
            wake_threshold: None,
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

    /// How many woken coroutines a worker queues before it wakes a sleeping worker to share
    /// them. Coroutines woken on a worker (by its IO, its timers, or a coroutine running there)
    /// queue on that worker; a sleeping worker is woken only once `n` wait there, or when the
    /// queue still holds tasks at the monitor's next tick (half the time slice), so that a few
    /// wake-ups do not cost another thread's wake-up and sleep, and a long queue or a long
    /// computation still gets the idle CPU. Spawned coroutines, wake-ups from other threads
    /// and coroutines of other priorities always wake a sleeping worker.
    ///
    /// Default 16, or `OC_WAKE_THRESHOLD` when set. `1` wakes a sleeping worker for every
    /// wake-up (zero is treated as one). Without a time slice
    /// ([`preempt_interval`](Builder::preempt_interval)`(None)`) nothing would bound the wait,
    /// so the threshold is then 1. See `docs/tuning.md`.
    pub fn wake_threshold(mut self, n: usize) -> Builder {
        self.wake_threshold = Some(n.max(1));
        self
    }

    /// Signal preemption for every coroutine of this runtime, as if each were spawned with
    /// `task::Builder::preemptible(true)`. Off by default; read `docs/preemption.md` for what
    /// code must not run preemptible. `build` fails on platforms where it is not supported.
    pub fn signal_preemption(mut self, on: bool) -> Builder {
        self.signal_preemption = on;
        self
    }

    /// The stuck-coroutine report: a coroutine that holds its thread longer than `threshold`
    /// without suspending is reported once per episode, as a `tracing` warning with its name,
    /// for how long, and a symbolized backtrace taken on the stuck thread, and again when it
    /// finally suspends, with the total; reports are rate-limited (a burst of 4, then one a
    /// second) and counted in [`RuntimeMetrics::stuck_reports`](crate::RuntimeMetrics) and
    /// `stuck_longest`. Default 100 ms (ten time slices: hand-off has long kept the queue
    /// moving, so a report is about code that holds a thread far longer than it should);
    /// `None` turns it off. When not set, `OC_STUCK_THRESHOLD` decides: `off`, or a duration
    /// such as `250ms`, `2s` or `250` (milliseconds). See `docs/preemption.md`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = oc_runtime::Runtime::builder().stuck_threshold(Some(Duration::from_millis(500))).build()?;
    /// assert_eq!(rt.metrics().stuck_reports, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stuck_threshold(mut self, threshold: Option<Duration>) -> Builder {
        self.stuck_threshold = Some(threshold);
        self
    }

    /// Whether each coroutine's stack high-water mark is measured when its stack returns to
    /// the pool, into [`RuntimeMetrics::stack_high_water`](crate::RuntimeMetrics), a
    /// histogram to size [`stack_size`](Builder::stack_size) from (see `docs/tuning.md`).
    /// Measuring scans and zeroes the part of the stack the coroutine used, which costs time
    /// in proportion to it. When not set, `OC_STACK_HIGH_WATER=1|0` decides, and off if that
    /// is unset too.
    pub fn stack_high_water(mut self, on: bool) -> Builder {
        self.stack_high_water = Some(on);
        self
    }

    pub(crate) fn stack_high_water_resolved(&self) -> io::Result<bool> {
        if let Some(on) = self.stack_high_water {
            return Ok(on);
        }
        match std::env::var("OC_STACK_HIGH_WATER") {
            Err(_) => Ok(false),
            Ok(v) => match v.trim() {
                "1" | "on" | "true" => Ok(true),
                "0" | "off" | "false" | "" => Ok(false),
                other => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("OC_STACK_HIGH_WATER={other:?}: expected 1 or 0 (on or off)"),
                )),
            },
        }
    }

    pub(crate) fn stuck_threshold_resolved(&self) -> io::Result<Option<Duration>> {
        if let Some(choice) = self.stuck_threshold {
            return Ok(choice);
        }
        match std::env::var("OC_STUCK_THRESHOLD") {
            Err(_) => Ok(Some(DEFAULT_STUCK_THRESHOLD)),
            Ok(v) => parse_threshold(&v)
                .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, format!("OC_STUCK_THRESHOLD={v:?}: {why}"))),
        }
    }

    pub(crate) fn preempt_interval_resolved(&self) -> io::Result<Option<Duration>> {
        Ok(match self.preempt_interval {
            Some(choice) => choice,
            None if matches!(std::env::var("OC_PREEMPT").as_deref(), Ok("0") | Ok("off") | Ok("false")) => None,
            None => Some(DEFAULT_PREEMPT_INTERVAL),
        })
    }

    pub(crate) fn wake_threshold_resolved(&self) -> io::Result<usize> {
        if let Some(n) = self.wake_threshold {
            return Ok(n);
        }
        match std::env::var("OC_WAKE_THRESHOLD") {
            Err(_) => Ok(DEFAULT_WAKE_THRESHOLD),
            Ok(v) => match v.trim().parse::<usize>() {
                Ok(n) => Ok(n.max(1)),
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "OC_WAKE_THRESHOLD={v:?}: expected a number of queued coroutines, such as 16 (1 wakes a worker for each)"
                    ),
                )),
            },
        }
    }

    /// Starts the worker threads.
    pub fn build(self) -> io::Result<Runtime> {
        Runtime::start(self)
    }

    pub(crate) fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
    }
}

/// `off` (or `0`), or a duration: `250ms`, `2s`, or a bare number of milliseconds.
fn parse_threshold(text: &str) -> Result<Option<Duration>, &'static str> {
    let text = text.trim();
    if matches!(text, "off" | "false" | "0" | "none") {
        return Ok(None);
    }
    let (digits, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1000)
    } else {
        (text, 1)
    };
    let n: u64 = digits.trim().parse().map_err(|_| "expected off, or a duration such as 250ms, 2s or 250")?;
    let ms = n.checked_mul(scale).ok_or("duration too large")?;
    if ms == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse() {
        assert_eq!(parse_threshold("off"), Ok(None));
        assert_eq!(parse_threshold("0"), Ok(None));
        assert_eq!(parse_threshold("250ms"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(parse_threshold(" 2s "), Ok(Some(Duration::from_secs(2))));
        assert_eq!(parse_threshold("40"), Ok(Some(Duration::from_millis(40))));
        assert!(parse_threshold("fast").is_err());
        assert!(parse_threshold("-3ms").is_err());
        assert!(parse_threshold("99999999999999999999s").is_err());
    }
}
