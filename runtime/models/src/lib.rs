//! Model checks of oc-runtime's hand-written lock-free protocols, with [loom].
//!
//! The runtime's own source files are compiled here, unchanged: they take their atomics from
//! `crate::loom`, which in the runtime re-exports std's and in this crate loom's. Each model
//! (a unit test of this crate) runs a small scenario under every interleaving of its threads
//! that loom can reach, including the weaker orderings the code allows, and asserts what the
//! protocol promises:
//!
//! | file | model | what must hold in every interleaving |
//! |---|---|---|
//! | `task/state.rs` | `state_word.rs` | a task woken while it suspends is queued exactly once; the count in the word reaches zero once; cancel and complete agree |
//! | `scheduler/idle.rs` | `idle_parker.rs` | no lost wake-up: queued work is seen by a worker going to sleep, or a sleeper is woken |
//! | `scheduler/driver.rs` | `hand_off_word.rs` | one thread at a time drives a worker, through hand-offs and guards |
//! | `reactor/op.rs` | `uring_op.rs` | an io_uring operation's waiter is never left unwoken by its completion |
//!
//! Run them with `cargo test -p oc-runtime-models --release` (a few seconds; debug builds
//! work too, about ten times slower). A model that finds a bad interleaving fails with the
//! interleaving's trace (`LOOM_LOG=trace`, `LOOM_CHECKPOINT_FILE`: see loom's documentation).
//!
//! ```text
//! loom::model(|| {
//!     let state = Arc::new(State::new_scheduled());
//!     state.start_run();
//!     state.clone_ref(); // the waker's reference
//!     let waker = { let s = state.clone(); thread::spawn(move || s.wake(false)) };
//!     let after = state.end_run();
//!     // exactly one of the two queues the task
//!     assert!((waker.join().unwrap() == Wake::Schedule) != (after == AfterRun::Reschedule));
//! });
//! ```
//!
//! [loom]: https://docs.rs/loom

// The protocol files are compiled whole; the models use part of each.
#![allow(dead_code)]

/// What the protocol files import as `crate::loom`: loom's types instead of std's.
mod loom {
    /// Atomic types and orderings.
    pub(crate) mod atomic {
        pub(crate) use ::loom::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence};
    }

    pub(crate) use ::loom::sync::Mutex;
}

/// What `reactor/op.rs` imports as `crate::sync`: its spin lock, modelled by loom's mutex (the
/// model checks the operation's protocol, given a lock that excludes).
mod sync {
    pub(crate) struct SpinLock<T>(::loom::sync::Mutex<T>);

    impl<T> SpinLock<T> {
        pub(crate) fn new(value: T) -> SpinLock<T> {
            SpinLock(::loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> ::loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

#[path = "../../src/task/state.rs"]
mod state;

#[path = "../../src/scheduler/idle.rs"]
mod idle;

#[path = "../../src/scheduler/driver.rs"]
mod driver;

#[path = "../../src/reactor/op.rs"]
mod op;

#[cfg(test)]
mod hand_off_word;
#[cfg(test)]
mod idle_parker;
#[cfg(test)]
mod state_word;
#[cfg(test)]
mod uring_op;
