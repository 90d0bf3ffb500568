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
    /// Time to receive a request body; past it → 408, close. A body a route takes as a
    /// stream (`Router::streaming`) may take this long plus the time its bytes take at
    /// `min_body_rate`.
    pub body_timeout: Duration,
    /// Slowest pace, in bytes per second, at which a streamed request body must arrive once
    /// `body_timeout` is spent (`0`: no minimum; the body then has `body_timeout` in all).
    /// The time counts from the start of the handler, so a handler that is slow to take
    /// the body (waiting on an upstream) uses it up too.
    pub min_body_rate: u64,
    /// Largest request body a streaming route takes (`Router::streaming`); larger → 413
    /// (a `Content-Length` at once, a chunked body when it gets there). The body is never
    /// held whole, so this bounds time and traffic, not memory.
    pub max_streamed_body: u64,
    /// Time a response write may make no progress; past it the connection is closed.
    pub write_timeout: Duration,
    /// Slowest pace, in bytes per second, at which a client may take what it is sent once
    /// the server has spent `write_timeout` waiting on its writes; slower, the connection is
    /// closed (`0`: no minimum). Counted over the time the connection's writes of large or
    /// queued answers and of streamed bodies wait, so a reader that takes a few bytes now
    /// and then cannot keep a long response, and its connection, alive forever.
    pub min_send_rate: u64,
    /// Most bytes of answers a connection encodes before it writes them: past this, it stops
    /// answering further pipelined requests until what it has is written, and a body that
    /// does not fit is written from where it lies instead of being copied. With
    /// `max_head`, `max_body` and the coroutine's stack, it bounds a connection's memory
    /// (see `docs/caveats.md`).
    pub max_output: usize,
    /// Most bytes the server holds of large requests, all connections together: a request
    /// that needs a connection's receive buffer to grow past its usual 16 KiB (a body or
    /// head that does not fit) reserves the growth here, and past this total it is refused
    /// with `503` and the connection closed. It bounds what `max_body` costs when many
    /// clients send large bodies at once (see `docs/caveats.md`).
    pub max_body_memory: usize,
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
            min_body_rate: 4096,
            max_streamed_body: u64::MAX,
            write_timeout: Duration::from_secs(30),
            min_send_rate: 4096,
            max_output: 64 * 1024,
            max_body_memory: 1024 * 1024 * 1024,
            max_connections: 10_000,
        }
    }
}
