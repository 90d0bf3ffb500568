//! A pool of clients for many coroutines: shared, or split per worker thread.
//!
//! # State
//!
//! Each shard holds, under one short-lived lock, its idle clients (most recently used
//! last), the number of clients it has made (`open`, at most its capacity) and a queue of
//! waiters. A returned client goes straight to the oldest waiter if there is one, else to
//! the idle list. A waiter is a slot plus a handle to wake its coroutine (or thread).
//!
//! # Invariants
//!
//! - A waiter's slot is filled only while its shard's lock is held, and only by the one who
//!   removed the waiter from the queue; a waiter that times out removes itself under the
//!   same lock, then looks at its slot: no client is ever lost between the two.
//! - `open` counts clients alive (idle, checked out, or being connected); it drops only
//!   when making a client fails.

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
    /// worker reuse the connections that worker used last, and workers never contend on one
    /// lock. `size` is split evenly between the shards.
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
            })
            .collect();
        Ok(Pool {
            inner: Arc::new(PoolInner {
                config: Arc::new(self.config),
                shards,
                checkout_timeout: self.checkout_timeout,
                check_after_idle: self.check_after_idle,
                size: self.size,
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
}

struct Shard {
    capacity: usize,
    state: Mutex<ShardState>,
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
    wake: Wake,
}

enum Handoff {
    /// A client someone returned.
    Client(Idle),
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
        self.inner.shards.iter().map(|s| lock(&s.state).open).sum()
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
        let shard = &self.inner.shards[index];
        let deadline = self.inner.checkout_timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = lock(&shard.state);
        if let Some(idle) = st.idle.pop() {
            drop(st);
            return self.ready(index, idle);
        }
        if st.open < shard.capacity {
            st.open += 1;
            drop(st);
            return self.open_new(index);
        }
        let waiter =
            Arc::new(Waiter { slot: Mutex::new(None), timed_out: AtomicBool::new(false), wake: Wake::current() });
        st.waiters.push_back(waiter.clone());
        drop(st);
        match self.wait(index, &waiter, deadline) {
            Some(Handoff::Client(idle)) => self.ready(index, idle),
            Some(Handoff::Open) => self.open_new(index),
            None => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "no free connection in the pool within {:?} ({} in use)",
                    self.inner.checkout_timeout.unwrap_or_default(),
                    shard.capacity
                ),
            )),
        }
    }

    fn wait(&self, index: usize, waiter: &Arc<Waiter>, deadline: Option<Instant>) -> Option<Handoff> {
        let take = || lock(&waiter.slot).take();
        match &waiter.wake {
            Wake::Coroutine(_) => {
                let timer = deadline.map(|d| {
                    let w = waiter.clone();
                    oc_runtime::spawn(move || {
                        oc_runtime::sleep_until(d);
                        w.timed_out.store(true, Ordering::Release);
                        w.wake.wake();
                    })
                });
                let got = loop {
                    if let Some(h) = take() {
                        break Some(h);
                    }
                    if waiter.timed_out.load(Ordering::Acquire) {
                        break None;
                    }
                    oc_runtime::task::park();
                };
                if let Some(t) = timer {
                    t.cancel();
                }
                got.or_else(|| self.withdraw(index, waiter))
            }
            Wake::Thread(_) => loop {
                if let Some(h) = take() {
                    return Some(h);
                }
                match deadline {
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
        let mut st = lock(&self.inner.shards[index].state);
        st.waiters.retain(|w| !Arc::ptr_eq(w, waiter));
        drop(st);
        lock(&waiter.slot).take()
    }

    fn open_new(&self, index: usize) -> Result<PooledClient, Error> {
        match Client::connect_shared(self.inner.config.clone()) {
            Ok(client) => Ok(self.pooled(index, client)),
            Err(e) => {
                let shard = &self.inner.shards[index];
                let mut st = lock(&shard.state);
                match st.waiters.pop_front() {
                    // Its place goes to the next waiter, who tries in turn.
                    Some(w) => {
                        *lock(&w.slot) = Some(Handoff::Open);
                        drop(st);
                        w.wake.wake();
                    }
                    None => st.open -= 1,
                }
                Err(e)
            }
        }
    }

    fn ready(&self, index: usize, mut idle: Idle) -> Result<PooledClient, Error> {
        let stale = self.inner.check_after_idle.is_some_and(|after| idle.since.elapsed() >= after);
        if stale || !idle.client.is_connected() {
            // A dead session is dropped by the first check; the second reconnects.
            if let Err(e) = idle.client.check().or_else(|_| idle.client.check()) {
                self.give_back(index, idle.client);
                return Err(e);
            }
        }
        Ok(self.pooled(index, idle.client))
    }

    fn pooled(&self, index: usize, client: Client) -> PooledClient {
        PooledClient { client: Some(client), pool: self.clone(), shard: index }
    }

    fn give_back(&self, index: usize, mut client: Client) {
        if !client.is_idle() {
            // Left inside a transaction block: the session cannot be handed on as it is.
            client.disconnect();
        }
        let idle = Idle { client, since: Instant::now() };
        let mut st = lock(&self.inner.shards[index].state);
        match st.waiters.pop_front() {
            Some(w) => {
                *lock(&w.slot) = Some(Handoff::Client(idle));
                drop(st);
                w.wake.wake();
            }
            None => st.idle.push(idle),
        }
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
