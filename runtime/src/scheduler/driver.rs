//! The hand-off word: which thread drives a worker, and what that thread is doing.
//!
//! # State
//!
//! One atomic word: the driving thread's token (`context::thread_token`) above the low 8 bits,
//! the [`Mode`] in them, so that one compare-and-swap checks both at once.
//!
//! # Invariants
//!
//! - Only the driving thread moves the word out of `User` into `Runtime` or `Sched` (a
//!   compare-and-swap that names itself as driver), or stores a new driver and mode while it
//!   is not `Handed`.
//! - The monitor takes a worker only by `User` → `Handed` with the same driver; after that
//!   every compare-and-swap of the old thread fails, so it never touches the worker again.
//! - `Runtime` (a guard in `context.rs`) and `Handed` exclude each other: a coroutine in
//!   runtime code that touches its worker cannot lose the worker meanwhile.
//!
//! The protocol is model-checked with loom in `runtime/models` (this file is compiled there
//! against loom's atomics through `crate::loom`).

use crate::loom::atomic::{AtomicU64, Ordering};

/// What the thread driving a worker is doing; see `context.rs` for the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Mode {
    /// In the scheduler loop (not in a coroutine).
    Sched = 0,
    /// Running a coroutine's own code.
    User = 1,
    /// A coroutine is in runtime code that touches the worker (guarded; no hand-off).
    Runtime = 2,
    /// The monitor took the worker from a thread stuck in a coroutine.
    Handed = 3,
}

/// The driver-and-mode word of one worker.
pub(crate) struct DriverWord(AtomicU64);

impl DriverWord {
    /// No driver yet (token 0), in the scheduler.
    pub(crate) fn new() -> DriverWord {
        DriverWord(AtomicU64::new(Self::pack(0, Mode::Sched)))
    }

    fn pack(driver: u64, mode: Mode) -> u64 {
        (driver << 8) | mode as u64
    }

    fn unpack(word: u64) -> (u64, Mode) {
        let mode = match word & 0xff {
            0 => Mode::Sched,
            1 => Mode::User,
            2 => Mode::Runtime,
            _ => Mode::Handed,
        };
        (word >> 8, mode)
    }

    /// The driving thread's token and its mode.
    pub(crate) fn load(&self) -> (u64, Mode) {
        Self::unpack(self.0.load(Ordering::Acquire))
    }

    /// Thread `driver` drives the worker, in `mode` (by the driver itself, or by the thread
    /// handing the worker to it as its last touch).
    pub(crate) fn store(&self, driver: u64, mode: Mode) {
        self.0.store(Self::pack(driver, mode), Ordering::Release);
    }

    /// Moves the word from `from` to `to` if thread `driver` drives the worker in mode `from`.
    pub(crate) fn swap(&self, driver: u64, from: Mode, to: Mode) -> bool {
        self.0
            .compare_exchange(Self::pack(driver, from), Self::pack(driver, to), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}
