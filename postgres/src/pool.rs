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

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::config::Config;
use crate::error::{Error, ErrorKind};

/// How connections are spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// One set of connections for every caller.
    Shared,
    /// One set per worker thread (the thread a coroutine runs on when it asks): callers on a
    /// worker reuse the connections that worker used last, and workers do not contend on one
    /// lock. `size` is split evenly between the shards; a caller whose shard is fully in use
    /// takes an idle client (or the room for a new one) from another shard before it waits.
    PerWorker,
}

/// Pool settings.
///
/// ```no_run
/// use std::time::Duration;
/// let pool = oc_postgres::PoolConfig::new("postgres://app@127.0.0.1/app")?
///     .size(32)
///     .mode(oc_postgres::PoolMode::PerWorker)
///     .checkout_timeout(Some(Duration::from_secs(2)))
///     .build()?;
/// let mut client = pool.get()?;
/// client.batch_execute("SELECT 1")?;
/// # Ok::<(), oc_postgres::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PoolConfig {
    config: Config,
    size: usize,
    mode: PoolMode,
    shards: Option<usize>,
    checkout_timeout: Option<Duration>,
    check_after_idle: Option<Duration>,
}

impl PoolConfig {
    /// Settings for connections to `url`: 10 connections, shared, a 30 s checkout
    /// time-out, and a health check of clients idle for 10 s or more.
    pub fn new(url: &str) -> Result<PoolConfig, Error> {
        Ok(PoolConfig::from_config(Config::from_url(url)?))
    }

    /// Settings for connections made with `config`.
    pub fn from_config(config: Config) -> PoolConfig {
        PoolConfig {
            config,
            size: 10,
            mode: PoolMode::Shared,
            shards: None,
            checkout_timeout: Some(Duration::from_secs(30)),
            check_after_idle: Some(Duration::from_secs(10)),
        }
    }

    /// The maximum number of connections (at least 1).
    pub fn size(mut self, size: usize) -> PoolConfig {
        self.size = size;
        self
    }

    /// Shared, or per worker.
    pub fn mode(mut self, mode: PoolMode) -> PoolConfig {
        self.mode = mode;
        self
    }

    /// The number of shards in [`PoolMode::PerWorker`] (default: the CPUs this process may
    /// use, which is the runtime's default worker count).
    pub fn shards(mut self, shards: usize) -> PoolConfig {
        self.shards = Some(shards);
        self
    }

    /// How long [`Pool::get`] waits for a free connection; `None` waits forever.
    pub fn checkout_timeout(mut self, timeout: Option<Duration>) -> PoolConfig {
        self.checkout_timeout = timeout;
        self
    }

    /// Checks a client with a round trip before handing it out when it has been idle this
    /// long (`Some(Duration::ZERO)`: always); `None` never checks. A client whose
    /// connection is dead reconnects before it is handed out.
    pub fn health_check_after(mut self, idle: Option<Duration>) -> PoolConfig {
        self.check_after_idle = idle;
        self
    }

    /// Makes the pool. No connection is opened until one is asked for.
    pub fn build(self) -> Result<Pool, Error> {
        if self.size == 0 {
            return Err(Error::config("a pool needs a size of at least 1"));
        }
        let shards = match self.mode {
            PoolMode::Shared => 1,
            PoolMode::PerWorker => self
                .shards
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
                .clamp(1, self.size),
        };
        if self.shards == Some(0) {
            return Err(Error::config("a per-worker pool needs at least 1 shard"));
        }
        let base = self.size / shards;
        let extra = self.size % shards;
        let shards = (0..shards)
            .map(|i| Shard {
                capacity: base + usize::from(i < extra),
                state: Mutex::new(ShardState { idle: Vec::new(), open: 0, waiters: VecDeque::new() }),
                waiting: AtomicUsize::new(0),
            })
            .collect();
        Ok(Pool {
            inner: Arc::new(PoolInner {
                config: Arc::new(self.config),
                shards,
                checkout_timeout: self.checkout_timeout,
                check_after_idle: self.check_after_idle,
                size: self.size,
                reaper: AtomicBool::new(false),
                total: AtomicUsize::new(0),
            }),
        })
    }
}

/// A pool of [`Client`]s. Cheap to clone (clones share the connections).
#[derive(Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    config: Arc<Config>,
    shards: Vec<Shard>,
    checkout_timeout: Option<Duration>,
    check_after_idle: Option<Duration>,
    size: usize,
    /// A reaper coroutine is running (see [`reap`]).
    reaper: AtomicBool,
    /// Clients alive over all shards (the sum of their `open`, without the transient
    /// double count of a move between shards).
    total: AtomicUsize,
}

struct Shard {
    capacity: usize,
    state: Mutex<ShardState>,
    /// `state.waiters.len()`, readable without the lock (a hint for other shards).
    waiting: AtomicUsize,
}

struct ShardState {
    idle: Vec<Idle>,
    open: usize,
    waiters: VecDeque<Arc<Waiter>>,
}

struct Idle {
    client: Client,
    since: Instant,
}

/// A caller waiting for a client.
struct Waiter {
    slot: Mutex<Option<Handoff>>,
    timed_out: AtomicBool,
    deadline: Option<Instant>,
    wake: Wake,
}

enum Handoff {
    /// A client someone returned.
    Client(Box<Idle>),
    /// Leave to make a new client (one failed to connect and gave its place up).
    Open,
}

enum Wake {
    Coroutine(oc_runtime::task::Coroutine),
    Thread(std::thread::Thread),
}

impl Wake {
    fn current() -> Wake {
        match oc_runtime::task::current() {
            Some(co) => Wake::Coroutine(co),
            None => Wake::Thread(std::thread::current()),
        }
    }

    fn wake(&self) {
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
fn reap(inner: &PoolInner) {
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
    fn release_room(&self, index: usize) {
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

    fn pooled(&self, index: usize, client: Client) -> PooledClient {
        PooledClient { client: Some(client), pool: self.clone(), shard: index }
    }

    fn give_back(&self, index: usize, mut client: Client) {
        if !client.is_idle() {
            // Left inside a transaction block, or in the middle of an exchange (its
            // coroutine was cancelled): the session cannot be handed on as it is.
            client.disconnect();
        }
        self.hand_on(index, Handoff::Client(Box::new(Idle { client, since: Instant::now() })));
    }
}

/// Takes the longest waiter of `shard` out of its queue.
fn pop_waiter(shard: &Shard, st: &mut ShardState) -> Option<Arc<Waiter>> {
    let w = st.waiters.pop_front();
    shard.waiting.store(st.waiters.len(), Ordering::SeqCst);
    w
}

/// Hands `h` to `w`, which the caller took out of the queue whose lock is `guard`: the slot
/// is filled before that lock is released (see the invariants), the waiter woken after.
fn fill(w: Arc<Waiter>, h: Handoff, guard: MutexGuard<'_, ShardState>) {
    *lock(&w.slot) = Some(h);
    drop(guard);
    w.wake.wake();
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

/// One unit of a shard's room during a checkout: a client being checked, or the right to
/// make one. Unless turned into a [`PooledClient`], it goes back on drop (also when the
/// caller unwinds), so the pool never loses room.
struct Lease<'a> {
    pool: &'a Pool,
    index: usize,
    client: Option<Client>,
    armed: bool,
}

impl Lease<'_> {
    fn into_pooled(mut self, client: Client) -> PooledClient {
        self.armed = false;
        self.pool.pooled(self.index, client)
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match self.client.take() {
            Some(client) => self.pool.give_back(self.index, client),
            None => self.pool.release_room(self.index),
        }
    }
}

/// A client checked out of a [`Pool`]; it goes back when dropped.
pub struct PooledClient {
    client: Option<Client>,
    pool: Pool,
    shard: usize,
}

impl Deref for PooledClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("a pooled client is present until dropped")
    }
}

impl DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("a pooled client is present until dropped")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.pool.give_back(self.shard, client);
        }
    }
}

impl std::fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledClient").field("client", &self.client).field("shard", &self.shard).finish()
    }
}
