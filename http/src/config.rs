//! Limits and timeouts, all with safe defaults.

use std::time::Duration;

/// What a server accepts and how long it waits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Longest request line (method, target, version); longer → 414.
    pub max_request_line: usize,
    /// Largest request head (request line and headers); larger → 431.
    pub max_head: usize,
    /// Most header fields; more → 431.
    pub max_headers: usize,
    /// Largest request body (after de-chunking); larger → 413.
    pub max_body: usize,
    /// Time to receive a request's head once its first byte arrived; past it → 408, close.
    /// A TLS connection's handshake has this long from the connection's start, and a TLS
    /// record this long from its first bytes; past either the connection is closed.
    pub header_timeout: Duration,
    /// Time an idle keep-alive connection is kept; past it the connection is closed.
    pub idle_timeout: Duration,
    /// Time to receive a request body; past it → 408, close.
    pub body_timeout: Duration,
    /// Time a response write may make no progress; past it the connection is closed.
    pub write_timeout: Duration,
    /// Most connections served at once, across all of a server's listeners; further ones wait
    /// in the listen backlog (a connection accepted while another listener took the last
    /// slot waits for one, unserved).
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line: 8 * 1024,
            max_head: 64 * 1024,
            max_headers: 100,
            max_body: 8 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(30),
            max_connections: 10_000,
        }
    }
}
