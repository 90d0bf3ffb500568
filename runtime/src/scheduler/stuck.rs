//! The stuck-coroutine report: a coroutine that holds its thread longer than the stuck
//! threshold without suspending is logged once per episode, with its name, for how long and
//! a backtrace taken on the stuck thread, and again when it finally suspends.
//!
//! # How
//!
//! The monitor already watches every worker's run counter (`monitor.rs`). [`StuckMonitor`]
//! follows each run it sees in a coroutine as an episode, from when it first saw it:
//!
//! 1. Past the threshold the episode is counted (`RuntimeMetrics::stuck_reports`), and,
//!    unless rate-limited, the monitor asks the stuck thread for a sample through its
//!    worker's slot and sends it `SIGURG` (`preempt/sample.rs`: the handler walks the stack
//!    there, into a preallocated buffer, doing only async-signal-safe work).
//! 2. A later tick collects the sample and hands the raw addresses to the report thread,
//!    which symbolizes them (the `backtrace` crate: it allocates, reads debug info and takes
//!    locks, none of which may happen in the interrupted context) and logs a `tracing`
//!    warning (target `oc_runtime::stuck`). A thread that does not answer within
//!    `SAMPLE_PATIENCE` is reported without a backtrace.
//! 3. When the run ends the episode's total goes into `stuck_longest`, and a logged episode
//!    gets its follow-up line.
//!
//! A coroutine stuck past the time slice has its worker handed to another thread
//! (`carrier.rs`) and keeps its own: the episode then follows the thread (its token goes
//! into `followed`), which marks it ended when the coroutine suspends (`worker.rs`), or is
//! frozen by a preemption signal (`freeze.rs`). Nothing here depends on preemption: a
//! coroutine blocked in a system call the hooks do not cover, or inside a no-preempt
//! section, is sampled the same way (the signal interrupts the call, which std retries).
//!
//! Cost when nothing is stuck: a comparison per worker per monitor tick, and a scan of 64
//! words when a handed-off coroutine suspends.
//!
//! # State
//!
//! - `StuckWatch` (in `Shared`): the counters, written by the monitor, read by anyone; the
//!   `followed` words: the monitor writes a token into a free one and clears it, a thread
//!   sets `ENDED` in the word holding its own token (compare-and-swap, so a word cleared
//!   and reused for another thread meanwhile is left alone).
//! - `StuckMonitor`: the monitor thread's alone. Each worker's sample slot serves one
//!   request at a time; `asking` counts the episode that owns it (0 or 1 per worker).
//!
//! # Shutdown
//!
//! 1. The monitor leaves its loop when the runtime shuts down, dropping `StuckMonitor` and
//!    with it the report thread's sender.
//! 2. The report thread logs what it was sent, then ends.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Worker;
use super::worker::{Handed, Mode};
use crate::preempt::sample::{ANY_RUN, Captured, Walk};

/// Handed-off episodes followed at once; more are reported, but their end is not seen.
const FOLLOWED: usize = 64;
/// Bit set in a `followed` entry by its thread when its run ends.
const ENDED: u64 = 1 << 63;
/// How long the monitor waits for a stuck thread to answer a sample request.
const SAMPLE_PATIENCE: Duration = Duration::from_millis(250);
/// How many thresholds long a coroutine whose thread waits for a CPU may go unreported.
const PATIENCE: u32 = 10;
/// Rate limit of logged reports: a burst of this many, then one per `REFILL`.
const BURST: f64 = 4.0;
const REFILL: Duration = Duration::from_secs(1);

/// What the workers and `RuntimeMetrics` share with the monitor.
pub(crate) struct StuckWatch {
    threshold: Option<Duration>,
    reports: AtomicU64,
    longest_ns: AtomicU64,
    /// Tokens of threads whose handed-off runs are followed (0: free slot), with `ENDED` set
    /// by the thread when its run ends.
    followed: [AtomicU64; FOLLOWED],
}

impl StuckWatch {
    pub(crate) fn new(threshold: Option<Duration>) -> StuckWatch {
        StuckWatch {
            threshold,
            reports: AtomicU64::new(0),
            longest_ns: AtomicU64::new(0),
            followed: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub(crate) fn threshold(&self) -> Option<Duration> {
        self.threshold
    }

    pub(crate) fn reports(&self) -> u64 {
        self.reports.load(Ordering::Relaxed)
    }

    pub(crate) fn longest(&self) -> Duration {
        Duration::from_nanos(self.longest_ns.load(Ordering::Relaxed))
    }

    fn note_hold(&self, held: Duration) {
        self.longest_ns.fetch_max(held.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// The calling thread (token `token`) was running a coroutine whose worker had been
    /// handed to another thread, and that run has just ended. Allocates nothing and takes
    /// no lock (a frozen thread calls it).
    pub(crate) fn handed_run_ended(&self, token: u64) {
        if self.threshold.is_none() {
            return;
        }
        for slot in &self.followed {
            if slot.load(Ordering::Relaxed) == token {
                let _ = slot.compare_exchange(token, token | ENDED, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }

    fn follow(&self, token: u64) -> Option<usize> {
        self.followed
            .iter()
            .position(|slot| slot.compare_exchange(0, token, Ordering::AcqRel, Ordering::Relaxed).is_ok())
    }

    fn has_ended(&self, slot: usize) -> bool {
        self.followed[slot].load(Ordering::Acquire) & ENDED != 0
    }

    fn unfollow(&self, slot: usize) {
        self.followed[slot].store(0, Ordering::Release);
    }
}

/// One coroutine run the monitor follows.
struct Episode {
    worker: usize,
    /// The worker's run number (`ANY_RUN` once handed off).
    run: u64,
    token: u64,
    tid: i32,
    since: Instant,
    /// The thread and its CPU time when the run was first seen (`None` if it could not be
    /// read).
    cpu_at: Option<(i32, Duration)>,
    /// Past the threshold and counted.
    reported: bool,
    /// Its report was logged (it gets a follow-up).
    logged: bool,
    /// Since when a sample is wanted, until the worker's slot is free to ask for it.
    wants: Option<Instant>,
    /// When a sample was asked for, while one is awaited (the episode owns the slot's
    /// request meanwhile).
    asked: Option<Instant>,
    /// Identity from the sample, for the follow-up.
    id: Option<u64>,
    name: Option<String>,
    /// Its `followed` slot once handed off.
    slot: Option<usize>,
}

/// What the report thread logs.
enum Message {
    Stuck { held: Duration, captured: Option<Captured>, why: Option<&'static str>, suppressed: u64 },
    Ended { id: Option<u64>, name: Option<String>, total: Duration },
}

/// The monitor thread's side.
pub(crate) struct StuckMonitor {
    threshold: Duration,
    runtime: std::sync::Arc<str>,
    attached: Vec<Option<Episode>>,
    detached: Vec<Episode>,
    samples: bool,
    tokens: f64,
    refilled: Instant,
    suppressed: u64,
    reporter: Option<mpsc::Sender<Message>>,
    /// Per worker: episodes awaiting a sample from its slot (0 or 1).
    asking: Vec<u32>,
}

impl StuckMonitor {
    /// `None` when the report is off.
    pub(crate) fn new(shared: &super::Shared, workers: usize) -> Option<StuckMonitor> {
        let threshold = shared.stuck.threshold()?;
        Some(StuckMonitor {
            threshold,
            runtime: shared.config.name.as_str().into(),
            attached: (0..workers).map(|_| None).collect(),
            detached: Vec::new(),
            samples: crate::preempt::enable_samples(),
            tokens: BURST,
            refilled: Instant::now(),
            suppressed: 0,
            reporter: None,
            asking: vec![0; workers],
        })
    }

    /// Whether a handed-off episode is still followed (the monitor must keep ticking even
    /// if every worker sleeps).
    pub(crate) fn following(&self) -> bool {
        !self.detached.is_empty()
    }

    /// The monitor slept (every worker parked): nothing was running meanwhile.
    pub(crate) fn all_parked(&mut self, watch: &StuckWatch, now: Instant, workers: &[std::sync::Arc<Worker>]) {
        let ended: Vec<Episode> = self.attached.iter_mut().filter_map(Option::take).collect();
        for episode in ended {
            let worker = &workers[episode.worker];
            self.end(watch, episode, now, worker);
        }
    }

    /// One tick for worker `index`: what it runs now (`resumes`, `mode`), and its thread's CPU
    /// time, read if a new run begins.
    pub(crate) fn observe(
        &mut self,
        watch: &StuckWatch,
        index: usize,
        worker: &Worker,
        (resumes, mode): (u64, Mode),
        now: Instant,
        cpu: &mut super::monitor::CpuReading,
    ) {
        let running = matches!(mode, Mode::User | Mode::Runtime);
        let same = self.attached[index].as_ref().is_some_and(|e| e.run == resumes && running);
        if !same {
            if let Some(episode) = self.attached[index].take() {
                self.end(watch, episode, now, worker);
            }
            if running {
                let (token, _) = worker.driver_and_mode();
                self.attached[index] = Some(Episode {
                    worker: index,
                    run: resumes,
                    token,
                    tid: worker.tid(),
                    since: now,
                    cpu_at: cpu.get(),
                    reported: false,
                    logged: false,
                    wants: None,
                    asked: None,
                    id: None,
                    name: None,
                    slot: None,
                });
            }
        }
        if let Some(mut episode) = self.attached[index].take() {
            self.advance(watch, &mut episode, now, worker);
            self.attached[index] = Some(episode);
        }
    }

    /// The monitor is about to hand worker `index` off: the thread driving it is followed
    /// from now on, so that the end of its run is seen even if it comes right after the
    /// hand-off, before `handed_off` (the thread marks its run ended only if it finds its
    /// token followed). Returns the slot to pass to `handed_off` or `hand_off_failed`.
    pub(crate) fn before_hand_off(&mut self, watch: &StuckWatch, index: usize, worker: &Worker) -> Option<usize> {
        self.attached[index].as_ref()?;
        watch.follow(worker.driver_and_mode().0)
    }

    /// The hand-off prepared with `before_hand_off` did not happen.
    pub(crate) fn hand_off_failed(&mut self, watch: &StuckWatch, slot: Option<usize>) {
        if let Some(slot) = slot {
            watch.unfollow(slot);
        }
    }

    /// Worker `index` was just handed off from the thread its coroutine keeps: the episode
    /// follows that thread.
    pub(crate) fn handed_off(&mut self, watch: &StuckWatch, index: usize, handed: &Handed, slot: Option<usize>) {
        let Some(mut episode) = self.attached[index].take() else {
            self.hand_off_failed(watch, slot);
            return;
        };
        episode.run = ANY_RUN;
        episode.token = handed.token;
        episode.tid = handed.tid;
        episode.slot = slot;
        if let Some(slot) = slot {
            // The driver read before the hand-off is the thread handed off (a new driver
            // means a new run, and the hand-off of the old one is refused); checked anyway.
            if watch.followed[slot].load(Ordering::Acquire) & !ENDED != handed.token {
                watch.followed[slot].store(handed.token, Ordering::Release);
            }
            self.detached.push(episode);
        } else {
            // Without a slot its end cannot be seen: it is dropped (counted if it was
            // reported), and gives up the sample slot it may await.
            self.release(&mut episode);
        }
    }

    /// One tick for the handed-off episodes.
    pub(crate) fn observe_detached(&mut self, watch: &StuckWatch, now: Instant, workers: &[std::sync::Arc<Worker>]) {
        let episodes = std::mem::take(&mut self.detached);
        let mut going = Vec::with_capacity(episodes.len());
        for mut episode in episodes {
            let worker = &workers[episode.worker];
            if episode.slot.is_some_and(|slot| watch.has_ended(slot)) {
                self.end(watch, episode, now, worker);
            } else {
                self.advance(watch, &mut episode, now, worker);
                going.push(episode);
            }
        }
        self.detached = going;
    }

    /// Counts, samples and collects for an episode that is still going.
    fn advance(&mut self, watch: &StuckWatch, episode: &mut Episode, now: Instant, worker: &Worker) {
        let held = now.duration_since(episode.since);
        if held < self.threshold {
            return;
        }
        // A thread the kernel keeps off the CPU (a loaded machine, a paused virtual machine)
        // is not held by its coroutine: it is reported once it has had a quarter of the
        // threshold of CPU time, or has waited for a CPU ten thresholds long.
        if !episode.reported
            && held < self.threshold * PATIENCE
            && super::monitor::waits_for_a_cpu(episode.tid, episode.cpu_at, self.threshold)
        {
            return;
        }
        watch.note_hold(held);
        if !episode.reported {
            episode.reported = true;
            watch.reports.fetch_add(1, Ordering::Relaxed);
            if !self.allow(now) {
                self.suppressed += 1;
            } else {
                episode.logged = true;
                if self.samples {
                    episode.wants = Some(now);
                } else {
                    self.report(held, None, Some(UNSUPPORTED));
                }
            }
        }
        if let Some(wanted) = episode.wants {
            let index = episode.worker;
            if self.asking[index] == 0 {
                // Nobody awaits the slot: a sample there came after its episode gave up.
                drop(worker.sample().collect());
            }
            if worker.sample().request(episode.token, episode.run) {
                episode.wants = None;
                episode.asked = Some(now);
                self.asking[index] += 1;
                crate::preempt::sample_thread(episode.tid);
            } else if now.duration_since(wanted) >= SAMPLE_PATIENCE {
                episode.wants = None;
                self.report(held, None, Some("samples of other stuck coroutines of this worker were in flight"));
            }
        }
        if let Some(asked) = episode.asked {
            if let Some(captured) = worker.sample().collect() {
                self.release(episode);
                episode.id = captured.id;
                episode.name = captured.name.clone();
                self.report(held, Some(captured), None);
            } else if now.duration_since(asked) >= SAMPLE_PATIENCE && worker.sample().withdraw() {
                self.release(episode);
                self.report(held, None, Some("the stuck thread did not answer the sample signal"));
            }
        }
    }

    /// The episode no longer awaits its worker's sample slot.
    fn release(&mut self, episode: &mut Episode) {
        if episode.asked.take().is_some() {
            self.asking[episode.worker] -= 1;
        }
    }

    /// An episode's run has ended.
    fn end(&mut self, watch: &StuckWatch, mut episode: Episode, now: Instant, worker: &Worker) {
        if let Some(slot) = episode.slot.take() {
            watch.unfollow(slot);
        }
        let held = now.duration_since(episode.since);
        if episode.wants.take().is_some() {
            self.report(held, None, Some(ENDED_FIRST));
        }
        if episode.asked.is_some() {
            // Ended before the sample was collected: take it if it came (a handler still
            // writing finishes within microseconds), or withdraw the request. A sample
            // that comes even later is dropped by the next episode that wants the slot.
            let deadline = Instant::now() + Duration::from_millis(10);
            loop {
                if let Some(captured) = worker.sample().collect() {
                    if captured.walk == Walk::Stale {
                        self.report(held, None, Some(ENDED_FIRST));
                    } else {
                        episode.id = captured.id;
                        episode.name = captured.name.clone();
                        self.report(held, Some(captured), None);
                    }
                    break;
                }
                if worker.sample().withdraw() || Instant::now() >= deadline {
                    self.report(held, None, Some(ENDED_FIRST));
                    break;
                }
                std::thread::yield_now();
            }
            self.release(&mut episode);
        }
        if !episode.reported {
            return;
        }
        let total = now.duration_since(episode.since);
        watch.note_hold(total);
        if episode.logged {
            self.send(Message::Ended { id: episode.id, name: episode.name, total });
        }
    }

    /// Takes a rate-limit token.
    fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed / REFILL.as_secs_f64()).min(BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn report(&mut self, held: Duration, captured: Option<Captured>, why: Option<&'static str>) {
        let suppressed = std::mem::take(&mut self.suppressed);
        self.send(Message::Stuck { held, captured, why, suppressed });
    }

    fn send(&mut self, message: Message) {
        if self.reporter.is_none() {
            let (tx, rx) = mpsc::channel();
            let runtime = self.runtime.clone();
            let started = std::thread::Builder::new()
                .name(format!("{}-stuck-report", self.runtime))
                .spawn(move || report_main(&runtime, rx));
            if started.is_err() {
                // No thread for reports: counted in the metrics only.
                return;
            }
            self.reporter = Some(tx);
        }
        if let Some(tx) = &self.reporter {
            let _ = tx.send(message);
        }
    }
}

/// The symbol (without its generic arguments) that starts every coroutine's own frames.
const COROUTINE_ENTRY: &str = "oc_runtime::task::cell::Cell<";

const UNSUPPORTED: &str = "backtraces of stuck coroutines are taken on x86_64 Linux only";
const ENDED_FIRST: &str = "the coroutine suspended before its backtrace was taken";

/// The report thread: symbolizes and logs, off the monitor (symbolizing reads debug info,
/// which can take a while the first time). Ends when the monitor drops its sender.
fn report_main(runtime: &str, rx: mpsc::Receiver<Message>) {
    for message in rx {
        match message {
            Message::Stuck { held, captured, why, suppressed } => {
                let who =
                    describe(captured.as_ref().and_then(|c| c.id), captured.as_ref().and_then(|c| c.name.as_deref()));
                let trace = match (&captured, why) {
                    (Some(c), _) if tracing::enabled!(target: "oc_runtime::stuck", tracing::Level::WARN) => {
                        symbolize(c)
                    }
                    (Some(_), _) => String::new(),
                    (None, Some(why)) => format!("no backtrace: {why}"),
                    (None, None) => String::from("no backtrace"),
                };
                let suppressed = if suppressed > 0 {
                    format!(" ({suppressed} earlier reports rate-limited)")
                } else {
                    String::new()
                };
                tracing::warn!(
                    target: "oc_runtime::stuck",
                    runtime,
                    held_ms = held.as_millis() as u64,
                    "{who} has held its thread for {} ms without suspending{suppressed}; where it is:\n{trace}",
                    held.as_millis(),
                );
                if captured.is_some() {
                    release_symbols();
                }
            }
            Message::Ended { id, name, total } => {
                let who = describe(id, name.as_deref());
                tracing::warn!(
                    target: "oc_runtime::stuck",
                    runtime,
                    total_ms = total.as_millis() as u64,
                    "{who} suspended after holding its thread for {} ms",
                    total.as_millis(),
                );
            }
        }
    }
}

fn describe(id: Option<u64>, name: Option<&str>) -> String {
    match (name, id) {
        (Some(name), Some(id)) => format!("coroutine '{name}' (id {id})"),
        (None, Some(id)) => format!("coroutine {id}"),
        _ => String::from("a coroutine"),
    }
}

/// Gives back what symbolizing kept: the parsed debug info of every object it looked in,
/// tens of megabytes for a large binary, which would otherwise stay resident for the life of
/// the process after a single report. The next report parses it again, on this thread.
fn release_symbols() {
    backtrace::clear_symbol_cache();
    crate::sys::trim_heap();
}

/// One line per frame (inlined functions each get theirs), with file and line when known.
fn symbolize(captured: &Captured) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match captured.walk {
        Walk::Full => {}
        Walk::UnsafePlace => out.push_str(
            "(the signal landed in the dynamic loader or the unwinder, where walking the stack is not \
             safe: only the interrupted instruction is shown)\n",
        ),
        Walk::OffStack => out.push_str(
            "(the signal landed while the thread was between stacks: only the interrupted instruction is shown)\n",
        ),
        Walk::Lost => out.push_str("(the unwinder could not walk past the signal frame)\n"),
        Walk::Stale => out.push_str("(the coroutine had suspended when the signal arrived)\n"),
    }
    'frames: for (i, &ip) in captured.ips.iter().enumerate() {
        // Return addresses point after the call: look up the call itself. The first address
        // is the interrupted instruction.
        let lookup = if i == 0 { ip } else { ip.saturating_sub(1) };
        let mut lines = Vec::new();
        backtrace::resolve(lookup as *mut std::ffi::c_void, |symbol| {
            let name = symbol.name().map_or_else(|| String::from("<unknown>"), |n| format!("{n:#}"));
            let place = match (symbol.filename(), symbol.lineno()) {
                (Some(file), Some(line)) => Some(format!("{}:{line}", file.display())),
                _ => None,
            };
            lines.push((name, place));
        });
        if lines.is_empty() {
            let _ = writeln!(out, "  {i:>3}: {ip:#x}");
        }
        for (name, place) in lines {
            // The coroutine's entry: what lies beyond is the runtime's own frames.
            if name.starts_with(COROUTINE_ENTRY) {
                out.push_str("       (the coroutine's entry; scheduler frames omitted)\n");
                break 'frames;
            }
            let _ = writeln!(out, "  {i:>3}: {name}");
            if let Some(place) = place {
                let _ = writeln!(out, "           at {place}");
            }
        }
    }
    out
}
