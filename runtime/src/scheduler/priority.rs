//! The run queue for tasks with a priority other than the default.
//!
//! Most tasks have the default priority and live in the workers' lock-free deques. The rest
//! share one ordered queue, so that on any worker the most urgent ready task runs first.
//! Smaller numbers run first; among equals, first queued runs first.
//!
//! Starvation: a task that has waited longer than [`AGING`] is taken before more urgent ones
//! (one per pop), and workers take such a task ahead of default-priority work too. Priorities
//! order the work; they never keep a ready task waiting forever.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::sync::SpinLock;
use crate::task::TaskRef;

/// How long a ready task may be passed over before it runs regardless of priority.
pub(crate) const AGING: Duration = Duration::from_millis(50);

pub(crate) struct PriorityQueue {
    inner: SpinLock<Inner>,
    len: AtomicUsize,
    /// The most urgent priority queued; `i64::MAX` when empty.
    top: AtomicI64,
}

struct Inner {
    by_priority: BTreeMap<(i64, u64), TaskRef>,
    by_age: BTreeMap<u64, (i64, Instant)>,
    seq: u64,
}

impl PriorityQueue {
    pub(crate) fn new() -> PriorityQueue {
        PriorityQueue {
            inner: SpinLock::new(Inner { by_priority: BTreeMap::new(), by_age: BTreeMap::new(), seq: 0 }),
            len: AtomicUsize::new(0),
            top: AtomicI64::new(i64::MAX),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// The most urgent priority queued, if any.
    pub(crate) fn top(&self) -> Option<i64> {
        if self.len() == 0 { None } else { Some(self.top.load(Ordering::Acquire)) }
    }

    pub(crate) fn push(&self, task: TaskRef) {
        let priority = task.header().priority;
        let now = Instant::now();
        let mut inner = self.inner.lock();
        let seq = inner.seq;
        inner.seq += 1;
        inner.by_priority.insert((priority, seq), task);
        inner.by_age.insert(seq, (priority, now));
        self.publish(&inner);
    }

    /// Takes the most urgent task, or the oldest if it has waited past `AGING`.
    pub(crate) fn pop(&self) -> Option<TaskRef> {
        if self.len() == 0 {
            return None;
        }
        let mut inner = self.inner.lock();
        let key = match inner.by_age.first_key_value() {
            Some((&seq, &(priority, since))) if since.elapsed() >= AGING => (priority, seq),
            _ => *inner.by_priority.first_key_value()?.0,
        };
        let task = Self::remove(&mut inner, key);
        self.publish(&inner);
        task
    }

    /// Takes the oldest task if it has waited past `AGING`.
    pub(crate) fn pop_starved(&self) -> Option<TaskRef> {
        if self.len() == 0 {
            return None;
        }
        let mut inner = self.inner.lock();
        let (&seq, &(priority, since)) = inner.by_age.first_key_value()?;
        if since.elapsed() < AGING {
            return None;
        }
        let task = Self::remove(&mut inner, (priority, seq));
        self.publish(&inner);
        task
    }

    fn remove(inner: &mut Inner, key: (i64, u64)) -> Option<TaskRef> {
        inner.by_age.remove(&key.1);
        inner.by_priority.remove(&key)
    }

    fn publish(&self, inner: &Inner) {
        let top = inner.by_priority.first_key_value().map_or(i64::MAX, |(k, _)| k.0);
        self.top.store(top, Ordering::Release);
        self.len.store(inner.by_priority.len(), Ordering::Release);
    }

    /// Empties the queue (shutdown).
    pub(crate) fn drain(&self) -> Vec<TaskRef> {
        let mut inner = self.inner.lock();
        inner.by_age.clear();
        let tasks = std::mem::take(&mut inner.by_priority).into_values().collect();
        self.publish(&inner);
        tasks
    }
}
