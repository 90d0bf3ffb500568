//! `Barrier`: `n` parties wait until all have arrived, then all go on.

use std::fmt;

use super::SpinLock;
use super::wait::{self, Arm, Deadline};
use super::waiter::{WaitList, Waiter, WaiterCell};

/// A reusable barrier for coroutines and threads.
///
/// A coroutine cancelled while it waits leaves the barrier as if it had never arrived, so
/// the others still need `n` arrivals.
///
/// ```
/// use std::sync::Arc;
/// use oc_runtime::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(3));
/// let handles: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = barrier.clone();
///         oc_runtime::spawn(move || barrier.wait().is_leader())
///     })
///     .collect();
/// let leaders = handles.into_iter().map(|h| h.join().unwrap()).filter(|&l| l).count();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    n: usize,
    inner: SpinLock<Inner>,
}

struct Inner {
    arrived: usize,
    generation: u64,
    waiters: WaitList,
}

/// What [`Barrier::wait`] returns: whether this party was the one that opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// Exactly one party of each round is the leader (the last to arrive).
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` parties (`0` behaves as `1`: nobody waits).
    pub const fn new(n: usize) -> Barrier {
        Barrier { n, inner: SpinLock::new(Inner { arrived: 0, generation: 0, waiters: WaitList::new() }) }
    }

    /// Arrives and waits for the other parties. Waiting is a cancellation point.
    pub fn wait(&self) -> BarrierWaitResult {
        let mut arm = BarrierArm { barrier: self, generation: None, leader: false, done: false };
        wait::wait_arm(&mut arm, Deadline::Never);
        BarrierWaitResult(arm.leader)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish_non_exhaustive()
    }
}

struct BarrierArm<'a> {
    barrier: &'a Barrier,
    /// The round this party arrived in, once it has.
    generation: Option<u64>,
    leader: bool,
    done: bool,
}

impl Arm for BarrierArm<'_> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        let mut inner = self.barrier.inner.lock();
        match self.generation {
            Some(generation) if generation != inner.generation => {
                self.done = true;
                return true;
            }
            Some(_) => {}
            None => {
                inner.arrived += 1;
                if inner.arrived >= self.barrier.n {
                    inner.arrived = 0;
                    inner.generation = inner.generation.wrapping_add(1);
                    let woken = inner.waiters.claim_all();
                    drop(inner);
                    woken.wake_all();
                    self.leader = true;
                    self.done = true;
                    return true;
                }
                self.generation = Some(inner.generation);
            }
        }
        if let Some((waiter, token)) = register {
            inner.waiters.push(waiter.register(), token);
        }
        false
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        self.barrier.inner.lock().waiters.remove(waiter);
    }

    fn pass_on(&mut self) {}

    fn withdraw_claimed(&mut self, _waiter: &Waiter) {
        // Its claimer popped the entry it claimed.
    }
}

impl Drop for BarrierArm<'_> {
    fn drop(&mut self) {
        // A party that leaves before its round opened (cancelled) takes its arrival back.
        if let (false, Some(generation)) = (self.done, self.generation) {
            let mut inner = self.barrier.inner.lock();
            if inner.generation == generation {
                inner.arrived -= 1;
            }
        }
    }
}
