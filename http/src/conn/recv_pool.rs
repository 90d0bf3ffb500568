//! The receive buffers of connections between requests: a pool per thread that keeps as
//! many as the thread recently had out at once.
//!
//! A connection takes a buffer when bytes arrive and gives it back once it has answered
//! everything it read, so an idle connection holds none. While requests wait on something
//! slow (a database), hundreds of connections of one thread may each hold one; when they
//! finish, their buffers come back together. A pool of fixed size lets the excess go and then
//! allocates (and zeroes) a fresh buffer for each of the next requests; this one keeps them
//! while they are used and lets go, once a second, half of those that stayed in the pool the
//! whole second before.
//!
//! # State
//!
//! Per thread (`POOL`): the buffers, all of one length and initialised; the fewest the pool
//! held during the current second (`low`) and that second. Touched only by its own thread,
//! from `take` and `give`.

use std::cell::RefCell;

/// Buffers a pool always keeps, however long unused (what a thread kept before the pool
/// followed its use).
const KEEP: usize = 64;
/// Buffers a pool keeps at most: 8 MiB of 16 KiB buffers.
const MAX: usize = 512;

struct Pool {
    bufs: Vec<Vec<u8>>,
    /// The fewest buffers held since the start of `second`.
    low: usize,
    second: u64,
}

impl Pool {
    const fn new() -> Pool {
        Pool { bufs: Vec::new(), low: 0, second: 0 }
    }

    /// A new second: half of the buffers that were not taken during the last one go (the
    /// pool shrinks to what its thread uses within a few seconds), never below `KEEP`.
    fn tick(&mut self, now: u64) {
        if now == self.second {
            return;
        }
        let unused = self.low.min(self.bufs.len());
        let surplus = self.bufs.len().saturating_sub(KEEP);
        self.bufs.truncate(self.bufs.len() - unused.div_ceil(2).min(surplus));
        self.low = self.bufs.len();
        self.second = now;
    }

    fn take(&mut self, now: u64, len: usize) -> Vec<u8> {
        self.tick(now);
        // Only buffers of the length asked for are kept (`give`), all initialised.
        match self.bufs.pop() {
            Some(buf) if buf.len() == len => {
                self.low = self.low.min(self.bufs.len());
                buf
            }
            _ => {
                self.bufs.clear();
                self.low = 0;
                vec![0; len]
            }
        }
    }

    fn give(&mut self, now: u64, buf: Vec<u8>) {
        self.tick(now);
        if self.bufs.len() < MAX && self.bufs.first().is_none_or(|b| b.len() == buf.len()) {
            self.bufs.push(buf);
        }
    }
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool::new()) };
}

oc_runtime::tls_accessor! {
    /// A receive buffer of `len` initialised bytes, the one this thread was given last if it has
    /// one.
    ///
    /// Never inlined: a coroutine may move to another thread between two calls in one function,
    /// and the compiler must not reuse the thread-local's address across them.
    pub(crate) fn take(len: usize) -> Vec<u8> {
        let now = crate::date::second();
        POOL.try_with(|p| p.borrow_mut().take(now, len)).unwrap_or_else(|_| vec![0; len])
    }
}

oc_runtime::tls_accessor! {
    /// Keeps `buf` (of the length every `take` asks for, all initialised) for this thread's next
    /// `take` (see `take` on inlining).
    pub(crate) fn give(buf: Vec<u8>) {
        let now = crate::date::second();
        let _ = POOL.try_with(|p| p.borrow_mut().give(now, buf));
    }
}

#[cfg(test)]
mod tests {
    use super::{KEEP, MAX, Pool};

    const LEN: usize = 16;

    /// `n` buffers taken at second `now` and all given back.
    fn burst(pool: &mut Pool, now: u64, n: usize) {
        let bufs: Vec<Vec<u8>> = (0..n).map(|_| pool.take(now, LEN)).collect();
        for buf in bufs {
            pool.give(now, buf);
        }
    }

    #[test]
    fn keeps_what_a_burst_used() {
        let mut pool = Pool::new();
        burst(&mut pool, 1, 300);
        assert_eq!(pool.bufs.len(), 300);
        // The same burst again within the second allocates nothing: the same buffers return.
        let before: Vec<*const u8> = pool.bufs.iter().map(|b| b.as_ptr()).collect();
        burst(&mut pool, 1, 300);
        let mut after: Vec<*const u8> = pool.bufs.iter().map(|b| b.as_ptr()).collect();
        let mut before = before;
        before.sort();
        after.sort();
        assert_eq!(before, after);
    }

    #[test]
    fn lets_unused_buffers_go_second_by_second() {
        let mut pool = Pool::new();
        burst(&mut pool, 1, 300);
        // Used every second: kept.
        for now in 2..5 {
            burst(&mut pool, now, 300);
            assert_eq!(pool.bufs.len(), 300);
        }
        // Then only a few a second: halves of the unused part go, down to KEEP.
        let mut lens = Vec::new();
        for now in 5..20 {
            burst(&mut pool, now, 4);
            lens.push(pool.bufs.len());
        }
        assert!(lens.windows(2).all(|w| w[1] <= w[0]), "{lens:?}");
        assert!(lens[1] < 300, "{lens:?}");
        assert_eq!(*lens.last().unwrap(), KEEP, "{lens:?}");
    }

    #[test]
    fn holds_at_most_max() {
        let mut pool = Pool::new();
        burst(&mut pool, 1, MAX + 100);
        assert_eq!(pool.bufs.len(), MAX);
    }

    #[test]
    fn buffers_of_another_length_are_not_mixed() {
        let mut pool = Pool::new();
        burst(&mut pool, 1, 3);
        pool.give(1, vec![0; LEN * 2]);
        assert_eq!(pool.bufs.len(), 3);
        assert!(pool.bufs.iter().all(|b| b.len() == LEN));
        assert_eq!(pool.take(1, LEN * 2).len(), LEN * 2);
    }
}
