//! Waiting for a client: waiters, what they are handed, how they are woken, and the
//! reaper that times them out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::checkout::{Idle, PoolInner, Shard, ShardState, lock};

/// A caller waiting for a client.
pub(super) struct Waiter {
    pub(super) slot: Mutex<Option<Handoff>>,
    pub(super) timed_out: AtomicBool,
    pub(super) deadline: Option<Instant>,
    pub(super) wake: Wake,
}

pub(super) enum Handoff {
    /// A client someone returned.
    Client(Box<Idle>),
    /// Leave to make a new client (one failed to connect and gave its place up).
    Open,
}

pub(super) enum Wake {
    Coroutine(oc_runtime::task::Coroutine),
    Thread(std::thread::Thread),
}

impl Wake {
    pub(super) fn current() -> Wake {
        match oc_runtime::task::current() {
            Some(co) => Wake::Coroutine(co),
            None => Wake::Thread(std::thread::current()),
        }
    }

    pub(super) fn wake(&self) {
        match self {
            Wake::Coroutine(co) => co.unpark(),
            Wake::Thread(t) => t.unpark(),
        }
    }
}

/// The pool's reaper: times out waiting coroutines, so that a wait costs no timer of its
/// own. One runs while coroutines wait with a deadline; it sleeps until the earliest
/// deadline (the front of a shard's queue: all waits have the same time-out, so queues are
/// in deadline order), wakes the waiters that are past it, and ends when none is left.
pub(super) fn reap(inner: &PoolInner) {
    /// Clears the running flag however the reaper ends (also when its runtime shuts down
    /// and cancels it), so the next waiter starts a new one.
    struct Running<'a>(&'a AtomicBool);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }
    let mut running = Some(Running(&inner.reaper));
    loop {
        let next =
            inner.shards.iter().filter_map(|s| lock(&s.state).waiters.iter().filter_map(|w| w.deadline).min()).min();
        let Some(next) = next else {
            // Nothing to watch: stop, unless a waiter came between the scan and the flag.
            drop(running.take());
            let waiting = inner.shards.iter().any(|s| lock(&s.state).waiters.iter().any(|w| w.deadline.is_some()));
            if waiting && !inner.reaper.swap(true, Ordering::SeqCst) {
                running = Some(Running(&inner.reaper));
                continue;
            }
            return;
        };
        oc_runtime::sleep_until(next);
        let now = Instant::now();
        for shard in &inner.shards {
            let mut st = lock(&shard.state);
            let mut expired = Vec::new();
            st.waiters.retain(|w| {
                let late = w.deadline.is_some_and(|d| d <= now);
                if late {
                    expired.push(w.clone());
                }
                !late
            });
            shard.waiting.store(st.waiters.len(), Ordering::SeqCst);
            drop(st);
            for w in expired {
                w.timed_out.store(true, Ordering::Release);
                w.wake.wake();
            }
        }
    }
}

/// Takes the longest waiter of `shard` out of its queue.
pub(super) fn pop_waiter(shard: &Shard, st: &mut ShardState) -> Option<Arc<Waiter>> {
    let w = st.waiters.pop_front();
    shard.waiting.store(st.waiters.len(), Ordering::SeqCst);
    w
}

/// Hands `h` to `w`, which the caller took out of the queue whose lock is `guard`: the slot
/// is filled before that lock is released (see the invariants), the waiter woken after.
pub(super) fn fill(w: Arc<Waiter>, h: Handoff, guard: MutexGuard<'_, ShardState>) {
    *lock(&w.slot) = Some(h);
    drop(guard);
    w.wake.wake();
}
