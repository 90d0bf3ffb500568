//! Backtraces of stuck coroutines, taken on their own threads from the `SIGURG` handler.
//!
//! The monitor asks for a sample through the stuck thread's worker (`Worker::sample`) and
//! sends `SIGURG` to that thread; the handler, on the stuck thread, records the running
//! coroutine's id and name and the return addresses of the interrupted call chain into the
//! worker's preallocated [`Sample`], and marks it ready. The monitor then hands the raw
//! addresses to the report thread, which symbolizes them (`scheduler/stuck.rs`).
//!
//! # Signal safety
//!
//! The interrupted code may hold any lock (malloc's arena lock, a `Mutex`, stdout's), so the
//! handler allocates nothing, takes no lock, logs nothing and makes no system call. What it
//! does: atomic operations on the sample's state word, plain copies into the sample's
//! buffer (which it owns while the word says `WRITING`), reads of const-initialised
//! thread-locals and of the running task's immutable header fields, and the walk itself.
//!
//! The walk is `_Unwind_Backtrace` (through the `backtrace` crate's `trace_unsynchronized`),
//! as profilers that sample in signal handlers do. It reads the interrupted thread's stack
//! and the loaded objects' unwind tables, through the signal frame (glibc's `__restore_rt`
//! carries unwind information, and libgcc recognises it) and across the coroutine's stack
//! switch (corosensei's trampolines carry unwind information too). What could block or
//! corrupt it, and how each is kept out:
//!
//! - **Finding the unwind tables.** libgcc (12+) asks glibc's `_dl_find_object` (2.35+),
//!   which is lock-free and async-signal-safe. Older pairs use `dl_iterate_phdr`, which
//!   takes the loader's lock: recursive, so the interrupted thread's own hold does not
//!   deadlock, but the list may be mid-update if the thread was inside the loader. So a
//!   signal that lands inside the dynamic loader or the unwinder itself (`ld-linux`,
//!   `libgcc_s`, `libunwind`) does not walk: the sample records only the interrupted
//!   instruction, and says why.
//! - **libgcc's one-time set-up** (`pthread_once`) is done before the first request, from
//!   ordinary context ([`prepare`]).
//! - **Frames registered at run time** (`__register_frame`, used by JIT compilers) are looked
//!   up under a libgcc mutex, which libgcc holds while it sorts a newly registered table
//!   (calling `malloc`). A thread interrupted there, inside `libgcc_s`, is not walked
//!   (above); one interrupted inside that `malloc` (in libc) would be, and would wait on the
//!   mutex it holds itself. Only a program that registers unwind tables at run time can get
//!   there (an ordinary Rust or C program registers none, and libgcc then takes no lock);
//!   such a program should turn the report off (`OC_STUCK_THRESHOLD=off`).
//! - **Frames the unwind tables do not describe**: the walk starts only if the interrupted
//!   stack pointer lies in the running coroutine's stack (or its `maybe_grow` segment). In
//!   the few instructions of a stack switch it points elsewhere, and the tables of the
//!   function around the switch would send the unwinder to read through the wrong stack;
//!   such a sample (possible only as the run ends) records the instruction alone. Compiled
//!   code and corosensei's trampolines carry tables that are exact at every instruction.
//! - **Malloc and other locks** held by the interrupted code are never needed: the walk
//!   allocates nothing.
//! - **Stack**: the handler runs on the thread's alternate signal stack (64 KiB, set up for
//!   every carrier thread); the walk needs a few KiB.
//!
//! A frame-pointer walk was rejected: Rust and most C libraries are built without frame
//! pointers, so it stops or wanders at the first frame without one. Copying the stack for
//! an off-thread DWARF unwind (perf's way) would avoid the unwinder in signal context
//! altogether, at the cost of an unwinder of our own; the rules above make the in-handler
//! walk safe for the code this runtime runs.

use std::cell::UnsafeCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ranges::Ranges;
use crate::scheduler::context;

/// Most return addresses kept per sample.
pub(crate) const MAX_FRAMES: usize = 48;
/// Most bytes of a coroutine name kept.
const NAME_MAX: usize = 64;

/// Sample states (low two bits of the state word; the requested thread's token above them).
const IDLE: u64 = 0;
const REQUESTED: u64 = 1;
const WRITING: u64 = 2;
const READY: u64 = 3;
const STATE: u64 = 3;

/// Any run of the requested thread (it was handed off with its coroutine).
pub(crate) const ANY_RUN: u64 = u64::MAX;

/// Code where the walk must not start: the loader and the unwinders.
static UNWIND_UNSAFE: OnceLock<Ranges> = OnceLock::new();

/// Sets up what the handler needs, in ordinary context: the code ranges it must not walk
/// from, and libgcc's one-time initialisation (a first walk).
pub(crate) fn prepare() {
    UNWIND_UNSAFE.get_or_init(|| {
        Ranges::of_objects(|name| {
            name.starts_with("ld-linux")
                || name.starts_with("ld64.so")
                || name.starts_with("ld-musl")
                || name.starts_with("libgcc_s")
                || name.starts_with("libunwind")
        })
    });
    backtrace::trace(|_| false);
}

/// Why a sample holds no walk beyond the interrupted instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    /// The call chain was walked.
    Full,
    /// The signal landed in the dynamic loader or the unwinder (see the module docs).
    UnsafePlace,
    /// The stack pointer was outside the coroutine's stack: the thread was between stacks
    /// (a switch in progress), where unwind tables do not describe the frame.
    OffStack,
    /// The unwinder could not get from the signal frame to the interrupted code.
    Lost,
    /// The coroutine the sample was asked for had already suspended.
    Stale,
}

/// What the handler wrote.
struct Data {
    ips: [usize; MAX_FRAMES],
    len: usize,
    id: u64,
    name: [u8; NAME_MAX],
    name_len: usize,
    in_task: bool,
    walk: Walk,
}

/// One worker's sample slot.
///
/// # State
///
/// One word: the requested thread's token above two state bits. `IDLE` → `REQUESTED` (the
/// monitor, having filled in `run`) → `WRITING` (the handler on that thread, by a
/// compare-and-swap of the whole word, so a request withdrawn and made anew for another
/// thread cannot be taken by the first) → `READY` (the handler) → `IDLE` (the monitor,
/// after copying). The monitor may withdraw a request still `REQUESTED` (`REQUESTED` →
/// `IDLE`, compare-and-swap). `data` belongs to whoever moved the word last: the handler
/// while `WRITING`, the monitor otherwise.
pub(crate) struct Sample {
    word: AtomicU64,
    /// The worker run the request is for (`ANY_RUN` for a handed-off thread).
    run: AtomicU64,
    data: UnsafeCell<Data>,
}

// SAFETY: `data` is reached by one thread at a time, as the state word says (see above).
unsafe impl Sync for Sample {}
// SAFETY: plain data.
unsafe impl Send for Sample {}

/// A finished sample, copied out for the report.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    /// Return addresses, innermost first; the first is the interrupted instruction itself.
    pub(crate) ips: Vec<usize>,
    pub(crate) id: Option<u64>,
    pub(crate) name: Option<String>,
    pub(crate) walk: Walk,
}

impl Sample {
    pub(crate) fn new() -> Sample {
        Sample {
            word: AtomicU64::new(IDLE),
            run: AtomicU64::new(ANY_RUN),
            data: UnsafeCell::new(Data {
                ips: [0; MAX_FRAMES],
                len: 0,
                id: 0,
                name: [0; NAME_MAX],
                name_len: 0,
                in_task: false,
                walk: Walk::Lost,
            }),
        }
    }

    /// Monitor: asks thread `token` for a sample of run `run`. Fails if one is in flight.
    pub(crate) fn request(&self, token: u64, run: u64) -> bool {
        if self.word.load(Ordering::Acquire) & STATE != IDLE {
            return false;
        }
        self.run.store(run, Ordering::Relaxed);
        self.word.compare_exchange(IDLE, (token << 2) | REQUESTED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Monitor: withdraws a request the thread has not taken up. Returns whether the slot
    /// is free again (`false`: being written or ready, to be collected).
    pub(crate) fn withdraw(&self) -> bool {
        let word = self.word.load(Ordering::Acquire);
        match word & STATE {
            IDLE => true,
            REQUESTED => self.word.compare_exchange(word, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok(),
            _ => false,
        }
    }

    /// Monitor: takes a ready sample, freeing the slot.
    pub(crate) fn collect(&self) -> Option<Captured> {
        if self.word.load(Ordering::Acquire) & STATE != READY {
            return None;
        }
        // SAFETY: READY (acquire): the handler is done and only the monitor touches `data`.
        let data = unsafe { &*self.data.get() };
        let captured = Captured {
            ips: data.ips[..data.len].to_vec(),
            id: data.in_task.then_some(data.id),
            name: (data.in_task && data.name_len > 0)
                .then(|| String::from_utf8_lossy(&data.name[..data.name_len]).into_owned()),
            walk: data.walk,
        };
        self.word.store(IDLE, Ordering::Release);
        Some(captured)
    }

    /// Signal handler: takes up a request meant for thread `token`.
    ///
    /// # Signal safety
    ///
    /// Atomics only.
    fn begin(&self, token: u64) -> bool {
        let requested = (token << 2) | REQUESTED;
        self.word.compare_exchange(requested, (token << 2) | WRITING, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }
}

/// Called first by the `SIGURG` handler: records a sample if the monitor asked this thread
/// for one.
///
/// # Safety
///
/// `pc` and `sp` are the interrupted instruction and stack pointer from the signal's
/// context; called only from the handler, on the interrupted thread.
///
/// # Signal safety
///
/// See the module docs: atomics, thread-locals, copies into the preallocated slot, and the
/// unwinder where it is safe.
pub(crate) unsafe fn on_signal(pc: usize, sp: usize) {
    let Some(worker) = context::signal_thread_worker() else { return };
    let token = context::signal_token();
    let sample = worker.sample();
    if token == 0 || !sample.begin(token) {
        return;
    }
    // SAFETY: WRITING is ours: nobody else touches `data` until we store READY.
    let data = unsafe { &mut *sample.data.get() };
    data.len = 0;
    data.in_task = false;
    data.name_len = 0;
    let mut on_stack = false;
    if let Some(task) = context::signal_task() {
        // SAFETY: the task running on this thread is alive while it runs; `id` and `name`
        // are immutable, `guard` is written only by this thread.
        let header = unsafe { task.as_ref() };
        let guard = header.guard.get();
        on_stack = sp > guard.hi && sp <= guard.hi + guard.stack_size;
        data.in_task = true;
        data.id = header.id;
        if let Some(name) = header.name.as_deref() {
            let bytes = name.as_bytes();
            let n = bytes.len().min(NAME_MAX);
            data.name[..n].copy_from_slice(&bytes[..n]);
            data.name_len = n;
        }
    }
    let run = sample.run.load(Ordering::Relaxed);
    let (driver, _) = worker.driver_and_mode();
    data.walk = if !data.in_task || (run != ANY_RUN && driver == token && worker.resumes() != run) {
        // The coroutine asked about has suspended (another, or the scheduler, runs here).
        Walk::Stale
    } else if !on_stack {
        Walk::OffStack
    } else if UNWIND_UNSAFE.get().is_none_or(|r| r.contains(pc)) {
        Walk::UnsafePlace
    } else {
        let mut found = false;
        // SAFETY: with the libgcc unwinder (Linux) concurrent walks on different threads
        // are safe; this one reads only this thread's stack and the unwind tables.
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                let ip = frame.ip() as usize;
                if !found {
                    // Frames of the handler and the signal trampoline come first.
                    found = ip == pc;
                    if !found {
                        return true;
                    }
                }
                data.ips[data.len] = ip;
                data.len += 1;
                data.len < MAX_FRAMES
            })
        };
        if found { Walk::Full } else { Walk::Lost }
    };
    if data.len == 0 {
        data.ips[0] = pc;
        data.len = 1;
    }
    sample.word.store((token << 2) | READY, Ordering::Release);
}
