//! Which workers have coroutines waiting on a descriptor, so that closing it reaches them.
//!
//! A coroutine that waits on a descriptor in its worker's reactor marks the descriptor with
//! its worker's bit (once: the bit stays until the descriptor is closed). `io::forget`, called
//! before a close, takes the marks and tells every other marked worker (through its
//! reactor's remote handle) to wake the waiters it has for the descriptor: its own reactor's
//! waiters it reaches directly. A stale or shared bit (workers past 64 share bits) costs a
//! spurious wake-up at most.
//!
//! # State
//!
//! One word per descriptor number below [`TRACKED`], allocated zeroed (untouched pages cost
//! no memory); higher numbers are not tracked, and closing one reaches only the closing
//! worker's waiters.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// Descriptor numbers tracked.
const TRACKED: usize = 1 << 20;

/// Per descriptor, the workers (one bit each, modulo 64) with coroutines that waited on it.
pub(crate) struct Waiting {
    bits: Box<[AtomicU64]>,
}

impl Waiting {
    pub(crate) fn new() -> Waiting {
        let zeroed = vec![0u64; TRACKED].into_boxed_slice();
        // SAFETY: `AtomicU64` has the same size, alignment and bit validity as `u64`, so a
        // boxed slice of one is a boxed slice of the other (the allocation's layout agrees).
        let bits = unsafe { Box::from_raw(Box::into_raw(zeroed) as *mut [AtomicU64]) };
        Waiting { bits }
    }

    /// A coroutine on `worker` waits on `fd`.
    #[inline]
    pub(crate) fn mark(&self, fd: RawFd, worker: usize) {
        if let Some(word) = self.bits.get(fd as usize) {
            let bit = 1u64 << (worker % 64);
            // A load first: after its first wait a descriptor is marked already.
            if word.load(Ordering::Relaxed) & bit == 0 {
                word.fetch_or(bit, Ordering::AcqRel);
            }
        }
    }

    /// `fd` is being closed: takes its marks (bit `i % 64` for worker `i`).
    #[inline]
    pub(crate) fn take(&self, fd: RawFd) -> u64 {
        match self.bits.get(fd as usize) {
            Some(word) if word.load(Ordering::Acquire) != 0 => word.swap(0, Ordering::AcqRel),
            _ => 0,
        }
    }
}
