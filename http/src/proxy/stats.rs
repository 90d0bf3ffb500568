//! Counters of a reverse proxy, for metrics: kept as atomics, read as a `ProxyStats` snapshot.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why an exchange with an upstream failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The connection was refused or could not be made.
    Connect,
    /// The upstream took longer than a time-out (connect, read or write).
    Timeout,
    /// The connection failed or closed during the exchange.
    Io,
    /// The upstream's response was not valid HTTP/1.1.
    BadResponse,
}

/// A proxy's counters (all since it was made).
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) connect: AtomicU64,
    pub(crate) timeout: AtomicU64,
    pub(crate) io: AtomicU64,
    pub(crate) bad_response: AtomicU64,
    pub(crate) bad_gateway: AtomicU64,
    pub(crate) gateway_timeout: AtomicU64,
    pub(crate) retries: AtomicU64,
}

impl Counters {
    pub(crate) fn error(&self, kind: ErrorKind) {
        let counter = match kind {
            ErrorKind::Connect => &self.connect,
            ErrorKind::Timeout => &self.timeout,
            ErrorKind::Io => &self.io,
            ErrorKind::BadResponse => &self.bad_response,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One upstream's counters.
#[derive(Default)]
pub(crate) struct UpstreamCounters {
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) reused: AtomicU64,
}

/// A snapshot of a proxy's counters (`ReverseProxy::stats`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Requests the proxy handled.
    pub requests: u64,
    /// Failed exchanges with upstreams, by kind (a request may count several: one per
    /// upstream tried).
    pub errors: UpstreamErrors,
    /// Requests answered `502 Bad Gateway` (no upstream gave a response).
    pub bad_gateway: u64,
    /// Requests answered `504 Gateway Timeout` (an upstream took too long).
    pub gateway_timeout: u64,
    /// Requests sent again on a fresh connection after a pooled one turned out closed.
    pub retries: u64,
    /// Each upstream, in the configured order.
    pub upstreams: Vec<UpstreamStats>,
}

/// Failed exchanges with upstreams, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamErrors {
    /// Connections refused or impossible.
    pub connect: u64,
    /// Connect, read or write time-outs.
    pub timeout: u64,
    /// Connections that failed or closed during an exchange.
    pub io: u64,
    /// Responses that were not valid HTTP/1.1.
    pub bad_response: u64,
}

/// One upstream's counters and state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamStats {
    /// The upstream as configured (`host:port`).
    pub name: String,
    /// The address it was resolved to.
    pub addr: SocketAddr,
    /// Requests sent to it (a retry counts again).
    pub requests: u64,
    /// Failed exchanges with it.
    pub errors: u64,
    /// Connections opened to it.
    pub connections: u64,
    /// Requests sent on a pooled (kept-alive) connection.
    pub reused: u64,
    /// Idle connections in its pool now.
    pub idle: usize,
    /// Whether it is being skipped now after a failure (`ProxyConfig::fail_timeout`).
    pub failed: bool,
}

pub(crate) fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
