//! A pool of clients for many coroutines: shared, or split per worker thread.
//!
//! # State
//!
//! Each shard holds, under one short-lived lock, its idle clients (most recently used
//! last), the number of clients it accounts for (`open`) and a queue of waiters; `waiting`
//! mirrors the queue's length for other shards to read without the lock. The pool counts
//! all clients in `total`, bounded by its size. A waiter is a slot, a deadline and a handle
//! to wake its coroutine (or thread). One reaper coroutine per pool wakes waiters whose
//! deadline passed.
//!
//! A returned client (or the room of a client that failed to connect) goes to the oldest
//! waiter of its shard, else to a waiter of another shard (its count moves along), else
//! stays in its shard.
//!
//! # Invariants
//!
//! - A waiter's slot is filled only while its shard's lock is held, and only by the one who
//!   removed the waiter from the queue; a waiter that leaves (timed out, or unwinding)
//!   removes itself under the same lock, then looks at its slot: nothing handed to it is
//!   lost, and what it does not use goes back.
//! - `total` grows only through a successful reservation below the size, and shrinks only
//!   when room is given up; the room taken for a checkout is held by a `Lease` until it
//!   becomes a `PooledClient`, so a failed or abandoned checkout gives it back.
//! - No code holds two shard locks at once.
//! - A waiter queues, then looks at the other shards; a return is kept, then looks for
//!   waiters in the other shards (both through `waiting`, sequentially consistent): one of
//!   the two always sees the other.

mod checkout;
mod config;
mod lease;
mod wait;

pub use checkout::Pool;
pub use config::{PoolConfig, PoolMode};
pub use lease::PooledClient;
