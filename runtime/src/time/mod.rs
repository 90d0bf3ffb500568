//! Timers: each worker keeps a heap of deadlines and sleeps in its parker until the first.

mod heap;

pub(crate) use heap::TimerHeap;
