//! Synchronisation for coroutines (and plain threads): locks, condition variables,
//! semaphores, barriers, wait groups, one-time initialisation and channels.
//!
//! Waiting suspends the calling coroutine, never its worker: the worker runs other
//! coroutines meanwhile. The same types work from plain threads, where waiting blocks the
//! thread, and from async code through their `*_async` methods. Every wait is a
//! cancellation point: a cancelled coroutine leaves the wait queue as it unwinds, and the
//! primitive stays usable for the others. Locks return their guards directly (there is no
//! poisoning).
//!
//! ```
//! use std::sync::Arc;
//! use oc_runtime::sync::{Mutex, WaitGroup, channel};
//!
//! let total = Arc::new(Mutex::new(0u64));
//! let (tx, rx) = channel::bounded::<u64>(8);
//! let wg = WaitGroup::new();
//! for _ in 0..2 {
//!     wg.add(1);
//!     let (rx, total, wg) = (rx.clone(), total.clone(), wg.clone());
//!     oc_runtime::spawn(move || {
//!         for n in rx.iter() {
//!             *total.lock() += n;
//!         }
//!         wg.done();
//!     });
//! }
//! for n in 1..=100 {
//!     tx.send(n).unwrap();
//! }
//! drop(tx);
//! wg.wait();
//! assert_eq!(*total.lock(), 5050);
//! ```
//!
//! The runtime also uses a spin lock internally (`sync/spin.rs`), for state held for a few
//! instructions.

mod barrier;
pub mod channel;
mod condvar;
mod mutex;
mod once;
mod rwlock;
mod select;
mod semaphore;
mod spin;
pub(crate) mod wait;
mod wait_group;
mod waiter;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::Condvar;
pub use mutex::{LockFuture, Mutex, MutexGuard};
pub use once::{LazyLock, OnceCell};
pub use rwlock::{ReadFuture, RwLock, RwLockReadGuard, RwLockWriteGuard, WriteFuture};
pub use semaphore::{AcquireFuture, Semaphore, SemaphorePermit};
pub(crate) use spin::SpinLock;
pub use wait_group::{WaitGroup, WaitGroupFuture};

// What `select!` expands to: public because the macro's expansion in the user's crate names
// them, not for direct use.
#[doc(hidden)]
pub use wait::{Arm as __Arm, Deadline as __Deadline, select_arms as __select_arms};
#[doc(hidden)]
pub use waiter::{Waiter as __Waiter, WaiterCell as __WaiterCell};
