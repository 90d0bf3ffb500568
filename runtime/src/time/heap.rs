//! A worker's timers: a binary heap of (deadline, waker).
//!
//! Owned by one worker and touched only on its thread. Entries are not removed when their
//! waiter stops caring (an early wake-up, a cancellation): the stale entry fires later and
//! causes at most a spurious wake-up, which every waiter tolerates.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::task::Waker;
use std::time::Instant;

pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

struct Entry {
    deadline: Instant,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

impl TimerHeap {
    pub(crate) fn new() -> TimerHeap {
        TimerHeap { heap: BinaryHeap::new(), seq: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub(crate) fn insert(&mut self, deadline: Instant, waker: Waker) {
        self.seq += 1;
        self.heap.push(Reverse(Entry { deadline, seq: self.seq, waker }));
    }

    /// The earliest deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.0.deadline)
    }

    /// Removes and returns one timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Waker> {
        if self.heap.peek()?.0.deadline <= now { self.heap.pop().map(|e| e.0.waker) } else { None }
    }

    /// Removes and returns any one timer (shutdown fires them all).
    pub(crate) fn pop_any(&mut self) -> Option<Waker> {
        self.heap.pop().map(|e| e.0.waker)
    }
}
