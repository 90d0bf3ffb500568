//! Pool settings, and building a pool from them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::checkout::{Pool, PoolInner, Shard, ShardState};
use crate::config::Config;
use crate::error::Error;

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
