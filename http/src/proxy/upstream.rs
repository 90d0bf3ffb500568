//! One upstream server: its address, its pool of idle keep-alive connections, and its
//! passive health (skipped for a while after a failure).
//!
//! # Invariants
//!
//! - A pooled connection had a whole response read from it and nothing more received; it
//!   is used by one request at a time (taken out of the pool while in use).
//! - The pool holds at most `max_idle` connections; connections are closed outside its lock.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oc_net::TcpStream;

use super::stats::UpstreamCounters;

/// How long a pooled connection may have been idle and still be reused for a request that
/// may be sent again without first looking whether the upstream closed it (see
/// [`Upstream::take_idle`]).
pub(crate) const UNPROBED_IDLE: Duration = Duration::from_secs(1);

pub(crate) struct Upstream {
    /// As configured (`host:port`).
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) counters: UpstreamCounters,
    idle: Mutex<Vec<(TcpStream, Instant)>>,
    max_idle: usize,
    idle_timeout: Duration,
    /// Until when it is skipped, in nanoseconds since `base` (`0`: it is not).
    failed_until: AtomicU64,
    base: Instant,
}

impl Upstream {
    pub(crate) fn new(
        name: String,
        addr: SocketAddr,
        max_idle: usize,
        idle_timeout: Duration,
        base: Instant,
    ) -> Upstream {
        Upstream {
            name,
            addr,
            counters: UpstreamCounters::default(),
            idle: Mutex::new(Vec::new()),
            max_idle,
            idle_timeout,
            failed_until: AtomicU64::new(0),
            base,
        }
    }

    /// Whether it is being skipped at `now` after a failure.
    pub(crate) fn failed(&self, now: Instant) -> bool {
        let until = self.failed_until.load(Ordering::Relaxed);
        until != 0 && (now.saturating_duration_since(self.base).as_nanos() as u64) < until
    }

    /// Skips it for `fail_timeout` from now.
    pub(crate) fn mark_failed(&self, fail_timeout: Duration) {
        if fail_timeout.is_zero() {
            return;
        }
        let until = (Instant::now() + fail_timeout).saturating_duration_since(self.base).as_nanos() as u64;
        self.failed_until.store(until.max(1), Ordering::Relaxed);
    }

    /// It answered: no longer skipped.
    pub(crate) fn mark_healthy(&self) {
        if self.failed_until.load(Ordering::Relaxed) != 0 {
            self.failed_until.store(0, Ordering::Relaxed);
        }
    }

    /// An idle connection from the pool that has not been idle too long at `now` and that
    /// the upstream has not closed (as far as can be seen without waiting), most recent
    /// first.
    ///
    /// Looking costs a system call (a non-blocking read that must find nothing), so it is
    /// skipped for a `resendable` request on a connection idle for less than
    /// [`UNPROBED_IDLE`]: an upstream closes an idle connection after seconds, and should it
    /// have closed this one, the exchange fails before any byte of a response and the
    /// request is sent again on a fresh connection (`Failed::Stale`).
    pub(crate) fn take_idle(&self, now: Instant, resendable: bool) -> Option<TcpStream> {
        let mut stale = Vec::new();
        let found = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let mut found = None;
            while let Some((conn, since)) = idle.pop() {
                let age = now.saturating_duration_since(since);
                if age < self.idle_timeout {
                    found = Some((conn, age));
                    break;
                }
                stale.push(conn);
            }
            found
        };
        // Closed outside the lock.
        drop(stale);
        let (conn, age) = found?;
        if resendable && age < UNPROBED_IDLE {
            return Some(conn);
        }
        // An idle connection has nothing to read: end of stream (the upstream closed it) or
        // stray bytes make it useless.
        let mut probe = [0u8; 1];
        match conn.try_read(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some(conn),
            _ => self.take_idle(now, resendable),
        }
    }

    /// Keeps `conn` for the next request, unless the pool is full.
    pub(crate) fn put_idle(&self, conn: TcpStream) {
        if self.max_idle == 0 {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push((conn, Instant::now()));
            return;
        }
        drop(idle);
        drop(conn);
    }

    /// Idle connections in the pool now.
    pub(crate) fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A new connection, with the time-outs set.
    pub(crate) fn connect(&self, connect: Duration, read: Duration, write: Duration) -> io::Result<TcpStream> {
        let conn = TcpStream::connect_timeout(&self.addr, connect)?;
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        conn.set_nodelay(true)?;
        conn.set_read_timeout(Some(read))?;
        conn.set_write_timeout(Some(write))?;
        Ok(conn)
    }
}
