//! The pool and its shards: checking clients out, handing them back, and moving them
//! between shards.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::config::PoolConfig;
use super::lease::{Lease, PooledClient};
use super::wait::{Handoff, Waiter, Wake, fill, pop_waiter, reap};
use crate::client::Client;
use crate::config::Config;
use crate::error::{Error, ErrorKind};

/// A pool of [`Client`]s. Cheap to clone (clones share the connections).
#[derive(Clone)]
pub struct Pool {
    pub(super) inner: Arc<PoolInner>,
}

pub(super) struct PoolInner {
    pub(super) config: Arc<Config>,
    pub(super) shards: Vec<Shard>,
    pub(super) checkout_timeout: Option<Duration>,
    pub(super) check_after_idle: Option<Duration>,
    pub(super) size: usize,
    /// A reaper coroutine is running (see [`reap`]).
    pub(super) reaper: AtomicBool,
    /// Clients alive over all shards (the sum of their `open`, without the transient
    /// double count of a move between shards).
    pub(super) total: AtomicUsize,
}

pub(super) struct Shard {
    pub(super) capacity: usize,
    pub(super) state: Mutex<ShardState>,
    /// `state.waiters.len()`, readable without the lock (a hint for other shards).
    pub(super) waiting: AtomicUsize,
}

pub(super) struct ShardState {
    pub(super) idle: Vec<Idle>,
    pub(super) open: usize,
    pub(super) waiters: VecDeque<Arc<Waiter>>,
}

pub(super) struct Idle {
    pub(super) client: Client,
    pub(super) since: Instant,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The pool's critical sections do not panic; a poisoned lock still holds valid state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    /// A shared pool of at most `size` connections to `url`, with the defaults of
    /// [`PoolConfig::new`].
    pub fn new(url: &str, size: usize) -> Result<Pool, Error> {
        PoolConfig::new(url)?.size(size).build()
    }

    /// The maximum number of connections.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Clients made so far and not failed (idle or in use), over all shards.
    pub fn open(&self) -> usize {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// Idle clients, over all shards.
    pub fn idle(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(&s.state).idle.len()).sum()
    }

    fn shard_index(&self) -> usize {
        let n = self.inner.shards.len();
        if n == 1 {
            return 0;
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            // Read once per checkout: a coroutine that moves to another worker later still
            // returns its client to the shard it took it from.
            static HINT: usize = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        HINT.with(|h| *h) % n
    }

    /// A client, waiting (suspending only the calling coroutine) until one is free, at most
    /// the checkout time-out ([`ErrorKind::Timeout`]). A new connection is made when fewer
    /// than `size` exist; if the server is down that fails at once
    /// ([`ErrorKind::Connect`]).
    pub fn get(&self) -> Result<PooledClient, Error> {
        let index = self.shard_index();
        let n = self.inner.shards.len();
        // The caller's shard first, then the others (per worker): an idle client, or room
        // for a new one. One lock at a time.
        for k in 0..n {
            let j = (index + k) % n;
            let got = self.grab(j, &mut lock(&self.inner.shards[j].state));
            if let Some(h) = got {
                return self.serve(j, h);
            }
        }
        // Everything is in use: wait in the caller's shard (re-checked under its lock).
        let shard = &self.inner.shards[index];
        let mut st = lock(&shard.state);
        if let Some(h) = self.grab(index, &mut st) {
            drop(st);
            return self.serve(index, h);
        }
        let deadline = self.inner.checkout_timeout.and_then(|t| Instant::now().checked_add(t));
        let waiter = Arc::new(Waiter {
            slot: Mutex::new(None),
            timed_out: AtomicBool::new(false),
            deadline,
            wake: Wake::current(),
        });
        st.waiters.push_back(waiter.clone());
        shard.waiting.store(st.waiters.len(), Ordering::SeqCst);
        drop(st);
        // Now that the wait is visible, look at the other shards once more: a client kept
        // there just before would otherwise be missed (`hand_on` looks for waiters after
        // keeping one, this looks for clients after queueing).
        for k in 1..n {
            let j = (index + k) % n;
            let got = self.grab(j, &mut lock(&self.inner.shards[j].state));
            if let Some(h) = got {
                return match self.withdraw(index, &waiter) {
                    // Handed something meanwhile: keep that, pass the other on.
                    Some(mine) => {
                        self.hand_on(j, h);
                        self.serve(index, mine)
                    }
                    None => self.serve(j, h),
                };
            }
        }
        match self.wait(index, &waiter) {
            Some(h) => self.serve(index, h),
            None => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "no free connection in the pool within {:?} (all {} in use)",
                    self.inner.checkout_timeout.unwrap_or_default(),
                    self.inner.size
                ),
            )),
        }
    }

    /// Takes an idle client of shard `j`, or its room for a new one (within the pool's
    /// size), from its locked state.
    fn grab(&self, j: usize, st: &mut ShardState) -> Option<Handoff> {
        if let Some(idle) = st.idle.pop() {
            return Some(Handoff::Client(Box::new(idle)));
        }
        // The shard's share, and the pool's size as the hard bound (a client handed to a
        // waiter of another shard leaves its old shard room that the pool does not have).
        if st.open < self.inner.shards[j].capacity && self.reserve() {
            st.open += 1;
            return Some(Handoff::Open);
        }
        None
    }

    /// Turns what was taken from shard `j` into a checked-out client.
    fn serve(&self, j: usize, h: Handoff) -> Result<PooledClient, Error> {
        match h {
            Handoff::Client(idle) => self.ready(j, *idle),
            Handoff::Open => self.open_new(j),
        }
    }

    fn wait(&self, index: usize, waiter: &Arc<Waiter>) -> Option<Handoff> {
        // If the caller unwinds while queued (its coroutine is cancelled), it leaves the
        // queue, and what it was handed meanwhile goes back.
        struct Queued<'a> {
            pool: &'a Pool,
            index: usize,
            waiter: &'a Arc<Waiter>,
        }
        impl Drop for Queued<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    match self.pool.withdraw(self.index, self.waiter) {
                        Some(Handoff::Client(idle)) => self.pool.give_back(self.index, idle.client),
                        Some(Handoff::Open) => self.pool.release_room(self.index),
                        None => {}
                    }
                }
            }
        }
        let _queued = Queued { pool: self, index, waiter };
        let take = || lock(&waiter.slot).take();
        match &waiter.wake {
            Wake::Coroutine(_) => {
                if waiter.deadline.is_some() && !self.inner.reaper.swap(true, Ordering::SeqCst) {
                    let inner = self.inner.clone();
                    oc_runtime::spawn(move || reap(&inner));
                }
                loop {
                    if let Some(h) = take() {
                        return Some(h);
                    }
                    if waiter.timed_out.load(Ordering::Acquire) {
                        return self.withdraw(index, waiter);
                    }
                    oc_runtime::task::park();
                }
            }
            Wake::Thread(_) => loop {
                if let Some(h) = take() {
                    return Some(h);
                }
                match waiter.deadline {
                    None => std::thread::park(),
                    Some(d) => match d.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => std::thread::park_timeout(left),
                        _ => return self.withdraw(index, waiter),
                    },
                }
            },
        }
    }

    /// A waiter that timed out leaves the queue; what it was handed meanwhile is its.
    fn withdraw(&self, index: usize, waiter: &Arc<Waiter>) -> Option<Handoff> {
        let shard = &self.inner.shards[index];
        let mut st = lock(&shard.state);
        st.waiters.retain(|w| !Arc::ptr_eq(w, waiter));
        shard.waiting.store(st.waiters.len(), Ordering::SeqCst);
        drop(st);
        lock(&waiter.slot).take()
    }

    fn open_new(&self, index: usize) -> Result<PooledClient, Error> {
        // Holds the room taken for the new client until it is made; gives it back if that
        // fails, or if the caller unwinds (is cancelled) while connecting.
        let lease = Lease { pool: self, index, client: None, armed: true };
        let client = Client::connect_shared(self.inner.config.clone())?;
        Ok(lease.into_pooled(client))
    }

    /// Counts one more client if the pool has room for it.
    fn reserve(&self) -> bool {
        self.inner
            .total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| (t < self.inner.size).then_some(t + 1))
            .is_ok()
    }

    /// Gives back the room for one client: to the next waiter, who makes a client in turn,
    /// or to the shard.
    pub(super) fn release_room(&self, index: usize) {
        self.hand_on(index, Handoff::Open);
    }

    /// Hands `h` (a client, or the room for one, counted in shard `index`) to the longest
    /// waiter of that shard, else to a waiter of another shard (the count moves with it),
    /// else keeps it in the shard.
    ///
    /// After keeping it, it looks for waiters elsewhere once more (a waiter queues, then
    /// looks for clients: one of the two sees the other), and if there are, takes it back
    /// and starts over, a few rounds at most.
    fn hand_on(&self, index: usize, mut h: Handoff) {
        let shards = &self.inner.shards;
        let n = shards.len();
        for round in 0..3 {
            let mut st = lock(&shards[index].state);
            if let Some(w) = pop_waiter(&shards[index], &mut st) {
                fill(w, h, st);
                return;
            }
            drop(st);
            if n > 1 {
                match self.hand_across(index, h) {
                    None => return,
                    Some(back) => h = back,
                }
            }
            let mut st = lock(&shards[index].state);
            if let Some(w) = pop_waiter(&shards[index], &mut st) {
                fill(w, h, st);
                return;
            }
            let client = matches!(h, Handoff::Client(_));
            self.keep(&mut st, h);
            drop(st);
            if n == 1 || round == 2 || !self.others_waiting(index) {
                return;
            }
            let mut st = lock(&shards[index].state);
            let back =
                if client { st.idle.pop().map(|i| Handoff::Client(Box::new(i))) } else { self.grab(index, &mut st) };
            match back {
                Some(back) => h = back,
                None => return,
            }
        }
    }

    /// Keeps `h` in a shard: the client goes idle, the room is given up.
    fn keep(&self, st: &mut ShardState, h: Handoff) {
        match h {
            Handoff::Client(idle) => st.idle.push(*idle),
            Handoff::Open => {
                st.open -= 1;
                self.inner.total.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// Hands `h` to a waiter of a shard other than `index`; gives it back if none waits.
    fn hand_across(&self, index: usize, h: Handoff) -> Option<Handoff> {
        let shards = &self.inner.shards;
        let n = shards.len();
        for k in 1..n {
            let j = (index + k) % n;
            if shards[j].waiting.load(Ordering::SeqCst) == 0 {
                continue;
            }
            let mut other = lock(&shards[j].state);
            if let Some(w) = pop_waiter(&shards[j], &mut other) {
                other.open += 1;
                fill(w, h, other);
                lock(&shards[index].state).open -= 1;
                return None;
            }
        }
        Some(h)
    }

    /// Whether a shard other than `index` has waiters.
    fn others_waiting(&self, index: usize) -> bool {
        self.inner.shards.iter().enumerate().any(|(j, s)| j != index && s.waiting.load(Ordering::SeqCst) > 0)
    }

    fn ready(&self, index: usize, idle: Idle) -> Result<PooledClient, Error> {
        let stale = self.inner.check_after_idle.is_some_and(|after| idle.since.elapsed() >= after);
        let mut lease = Lease { pool: self, index, client: Some(idle.client), armed: true };
        if let Some(client) = lease.client.as_mut().filter(|c| stale || !c.is_connected()) {
            // A dead session is dropped by the first check; the second reconnects. On
            // failure the lease gives the client back.
            client.check().or_else(|_| client.check())?;
        }
        let client = lease.client.take().ok_or_else(|| Error::new(ErrorKind::Closed, "no client"))?;
        Ok(lease.into_pooled(client))
    }

    pub(super) fn pooled(&self, index: usize, client: Client) -> PooledClient {
        PooledClient { client: Some(client), pool: self.clone(), shard: index }
    }

    pub(super) fn give_back(&self, index: usize, mut client: Client) {
        if !client.is_idle() {
            // Left inside a transaction block, or in the middle of an exchange (its
            // coroutine was cancelled): the session cannot be handed on as it is.
            client.disconnect();
        }
        self.hand_on(index, Handoff::Client(Box::new(Idle { client, since: Instant::now() })));
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.inner.size)
            .field("shards", &self.inner.shards.len())
            .field("open", &self.open())
            .field("idle", &self.idle())
            .finish()
    }
}
