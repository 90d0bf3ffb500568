//! The receive buffers of connections between requests: a pool per thread that keeps as
//! many as the thread recently had out at once, and a depot shared by the threads.
//!
//! A connection takes a buffer when bytes arrive and gives it back once it has answered
//! everything it read, so an idle connection holds none. While requests wait on something
//! slow (a database), hundreds of connections of one thread may each hold one; when they
//! finish, their buffers come back together. A pool of fixed size lets the excess go and then
//! allocates (and zeroes) a fresh buffer for each of the next requests; this one keeps them
//! while they are used and lets go, once a second, half of those that stayed in the pool the
//! whole second before.
//!
//! A coroutine may take its buffer on one thread and give it back on another (it was stolen,
//! or woken by a coroutine of that thread: a database driver answering it). When that flow
//! has a direction, one thread's pool fills up while the other's runs dry: measured on
//! TechEmpower's `/db` with two workers, one pool dropped 17% of what it was given while the
//! other allocated and zeroed a fresh 16 KiB buffer for 16% of its takes. So a full pool
//! passes what it is given to the depot, and an empty one refills from there (a few at once)
//! before it allocates. The depot lets its unused buffers go by the same rule, down to none.
//!
//! # State
//!
//! Per thread (`POOL`): the buffers, all of one length and initialised; the fewest the pool
//! held during the current second (`low`) and that second. Touched only by its own thread,
//! from `take` and `give`. The depot (`DEPOT`) is the same, behind a lock, touched by a thread
//! whose pool is full (giving) or empty (taking).

use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Buffers a thread's pool always keeps, however long unused (what a thread kept before the
/// pool followed its use).
const KEEP: usize = 64;
/// Buffers a pool (or the depot) keeps at most: 8 MiB of 16 KiB buffers.
const MAX: usize = 512;
/// Buffers an empty pool takes from the depot at once.
const REFILL: usize = 32;

struct Pool {
    bufs: Vec<Vec<u8>>,
    /// The fewest buffers held since the start of `second`.
    low: usize,
    second: u64,
    /// Buffers kept however long unused.
    floor: usize,
}

impl Pool {
    const fn new(floor: usize) -> Pool {
        Pool { bufs: Vec::new(), low: 0, second: 0, floor }
    }

    /// A new second: half of the buffers that were not taken during the last one go (the
    /// pool shrinks to what its thread uses within a few seconds), never below `floor`.
    fn tick(&mut self, now: u64) {
        if now == self.second {
            return;
        }
        let unused = self.low.min(self.bufs.len());
        let surplus = self.bufs.len().saturating_sub(self.floor);
        self.bufs.truncate(self.bufs.len() - unused.div_ceil(2).min(surplus));
        self.low = self.bufs.len();
        self.second = now;
    }

    /// A buffer of length `len`: this pool's last, else one from `depot`, else a fresh one.
    fn take(&mut self, now: u64, len: usize, depot: &Mutex<Pool>) -> Vec<u8> {
        self.tick(now);
        if self.bufs.is_empty() {
            lock(depot).lend(now, len, &mut self.bufs);
        }
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

    /// Moves up to `REFILL` buffers of length `len` to `to`.
    fn lend(&mut self, now: u64, len: usize, to: &mut Vec<Vec<u8>>) {
        self.tick(now);
        if self.bufs.first().is_some_and(|b| b.len() == len) {
            let rest = self.bufs.len().saturating_sub(REFILL);
            to.extend(self.bufs.drain(rest..));
            self.low = self.low.min(rest);
        }
    }

    /// Keeps `buf` (or passes it to `depot` if this pool is full).
    fn give(&mut self, now: u64, buf: Vec<u8>, depot: &Mutex<Pool>) {
        if let Some(buf) = self.keep(now, buf) {
            let _ = lock(depot).keep(now, buf);
        }
    }

    /// Keeps `buf` if the pool has room; returns it if the pool is full. (A buffer of
    /// another length than those kept is let go.)
    fn keep(&mut self, now: u64, buf: Vec<u8>) -> Option<Vec<u8>> {
        self.tick(now);
        if self.bufs.first().is_some_and(|b| b.len() != buf.len()) {
            return None;
        }
        if self.bufs.len() < MAX {
            self.bufs.push(buf);
            return None;
        }
        Some(buf)
    }
}

fn lock(depot: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    depot.lock().unwrap_or_else(PoisonError::into_inner)
}

static DEPOT: Mutex<Pool> = Mutex::new(Pool::new(0));

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool::new(KEEP)) };
}

oc_runtime::tls_accessor! {
    /// A receive buffer of `len` initialised bytes, the one this thread was given last if it has
    /// one.
    ///
    /// Never inlined: a coroutine may move to another thread between two calls in one function,
    /// and the compiler must not reuse the thread-local's address across them.
    pub(crate) fn take(len: usize) -> Vec<u8> {
        let now = crate::date::second();
        POOL.try_with(|p| p.borrow_mut().take(now, len, &DEPOT)).unwrap_or_else(|_| vec![0; len])
    }
}

oc_runtime::tls_accessor! {
    /// Keeps `buf` (of the length every `take` asks for, all initialised) for this thread's next
    /// `take` (see `take` on inlining).
    pub(crate) fn give(buf: Vec<u8>) {
        let now = crate::date::second();
        let _ = POOL.try_with(|p| p.borrow_mut().give(now, buf, &DEPOT));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::{KEEP, MAX, Pool, REFILL};

    const LEN: usize = 16;

    /// A depot of the test's own (the process's is shared by every test).
    fn depot() -> Mutex<Pool> {
        Mutex::new(Pool::new(0))
    }

    /// `n` buffers taken at second `now` and all given back.
    fn burst(pool: &mut Pool, depot: &Mutex<Pool>, now: u64, n: usize) {
        let bufs: Vec<Vec<u8>> = (0..n).map(|_| pool.take(now, LEN, depot)).collect();
        for buf in bufs {
            pool.give(now, buf, depot);
        }
    }

    #[test]
    fn keeps_what_a_burst_used() {
        let (mut pool, depot) = (Pool::new(KEEP), depot());
        burst(&mut pool, &depot, 1, 300);
        assert_eq!(pool.bufs.len(), 300);
        // The same burst again within the second allocates nothing: the same buffers return.
        let before: Vec<*const u8> = pool.bufs.iter().map(|b| b.as_ptr()).collect();
        burst(&mut pool, &depot, 1, 300);
        let mut after: Vec<*const u8> = pool.bufs.iter().map(|b| b.as_ptr()).collect();
        let mut before = before;
        before.sort();
        after.sort();
        assert_eq!(before, after);
    }

    #[test]
    fn lets_unused_buffers_go_second_by_second() {
        let (mut pool, depot) = (Pool::new(KEEP), depot());
        burst(&mut pool, &depot, 1, 300);
        // Used every second: kept.
        for now in 2..5 {
            burst(&mut pool, &depot, now, 300);
            assert_eq!(pool.bufs.len(), 300);
        }
        // Then only a few a second: halves of the unused part go, down to KEEP.
        let mut lens = Vec::new();
        for now in 5..20 {
            burst(&mut pool, &depot, now, 4);
            lens.push(pool.bufs.len());
        }
        assert!(lens.windows(2).all(|w| w[1] <= w[0]), "{lens:?}");
        assert!(lens[1] < 300, "{lens:?}");
        assert_eq!(*lens.last().unwrap(), KEEP, "{lens:?}");
    }

    #[test]
    fn holds_at_most_max() {
        let (mut pool, depot) = (Pool::new(KEEP), depot());
        burst(&mut pool, &depot, 1, MAX + 100);
        assert_eq!(pool.bufs.len(), MAX);
        // The rest went to the depot, which holds at most as many.
        assert_eq!(depot.lock().unwrap().bufs.len(), 100);
        let mut other = Pool::new(KEEP);
        burst(&mut other, &depot, 1, MAX * 2);
        assert_eq!(depot.lock().unwrap().bufs.len(), MAX);
    }

    /// Buffers taken on one thread and given back on another (a coroutine woken there): the
    /// giver's pool fills, and then the taker's takes come from the depot, not the allocator.
    #[test]
    fn buffers_that_move_between_threads_come_back_through_the_depot() {
        let depot = depot();
        let (mut taker, mut giver) = (Pool::new(KEEP), Pool::new(KEEP));
        // A buffer handed out before is marked; a fresh one is all zeroes.
        let mut fresh = Vec::new();
        for _ in 0..20 {
            let mut round = 0;
            for _ in 0..100 {
                let mut buf = taker.take(1, LEN, &depot);
                round += usize::from(buf[0] == 0);
                buf[0] = 1;
                giver.give(1, buf, &depot);
            }
            fresh.push(round);
        }
        assert_eq!(giver.bufs.len(), MAX);
        // Fresh ones only until the giver's pool was full: after that, the one buffer in
        // flight goes round through the depot.
        assert_eq!(fresh.iter().sum::<usize>(), MAX + 1, "{fresh:?}");
        assert!(fresh[6..].iter().all(|&n| n == 0), "{fresh:?}");
        // An empty pool takes a few at once.
        (0..100).for_each(|_| giver.give(1, vec![1; LEN], &depot));
        assert_eq!(taker.bufs.len(), 0);
        let before = depot.lock().unwrap().bufs.len();
        let _ = taker.take(1, LEN, &depot);
        assert_eq!(taker.bufs.len(), REFILL - 1);
        assert_eq!(depot.lock().unwrap().bufs.len(), before - REFILL);
    }

    #[test]
    fn the_depot_lets_unused_buffers_go_down_to_none() {
        let depot = depot();
        let mut giver = Pool::new(KEEP);
        burst(&mut giver, &depot, 1, MAX + 100);
        let mut lens = Vec::new();
        for now in 2..12 {
            let mut d = depot.lock().unwrap();
            d.tick(now);
            lens.push(d.bufs.len());
        }
        assert!(lens.windows(2).all(|w| w[1] <= w[0]), "{lens:?}");
        assert_eq!(*lens.last().unwrap(), 0, "{lens:?}");
    }

    #[test]
    fn buffers_of_another_length_are_not_mixed() {
        let (mut pool, depot) = (Pool::new(KEEP), depot());
        burst(&mut pool, &depot, 1, 3);
        pool.give(1, vec![0; LEN * 2], &depot);
        assert_eq!(pool.bufs.len(), 3);
        assert!(pool.bufs.iter().all(|b| b.len() == LEN));
        assert_eq!(pool.take(1, LEN * 2, &depot).len(), LEN * 2);
    }
}
