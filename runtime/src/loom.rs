//! The atomics and locks of the hand-written lock-free protocols, named in one place.
//!
//! The task state word (`task/state.rs`), the idle/parker protocol (`scheduler/idle.rs`) and
//! the hand-off word (`scheduler/driver.rs`) take their atomics from here instead of
//! `std::sync`. The runtime builds them with std's; the model checks in `runtime/models`
//! compile the same files against a module of this name that re-exports loom's, and explore
//! every interleaving of small scenarios (`cargo test -p oc-runtime-models --release`).
//!
//! ```text
//! runtime:  crate::loom::atomic::AtomicUsize == std::sync::atomic::AtomicUsize
//! models:   crate::loom::atomic::AtomicUsize == loom::sync::atomic::AtomicUsize
//! ```

/// Atomic types and orderings.
pub(crate) mod atomic {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence};
}

pub(crate) use std::sync::Mutex;
