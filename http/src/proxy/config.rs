//! `ProxyConfig`: where a reverse proxy sends requests and how long it waits.

use std::time::Duration;

/// What a `ReverseProxy` forwards to, and its time-outs, pool and health settings.
///
/// Built with `ProxyConfig::new` and adjusted through its fields:
///
/// ```
/// use std::time::Duration;
/// use oc_http::proxy::ProxyConfig;
///
/// let mut config = ProxyConfig::new(["127.0.0.1:9001", "localhost:9002"]);
/// config.read_timeout = Duration::from_secs(5);
/// config.strip_prefix = Some("/api".into());
/// assert_eq!(config.upstreams.len(), 2);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// The upstream servers, each `host:port` (a name is resolved once, when the proxy is
    /// made; its first address is used). Requests go to them in turn (round-robin).
    pub upstreams: Vec<String>,
    /// Time to establish a connection to an upstream; past it the next upstream is tried,
    /// and `504` answered when none is left.
    pub connect_timeout: Duration,
    /// Time an upstream may take to send anything (the response head, then each piece of
    /// its body); past it → `504` (before the head) or the client's connection is closed
    /// (during the body).
    pub read_timeout: Duration,
    /// Time a write to an upstream (the request head or a piece of its body) may make no
    /// progress; past it → `504`.
    pub write_timeout: Duration,
    /// Most idle keep-alive connections kept per upstream (`0`: a connection per request).
    /// Below the number of requests in flight at once to an upstream, connections are
    /// opened and closed all the time (the proxy's CPU per request roughly doubles).
    pub max_idle: usize,
    /// Time an idle pooled connection is kept; older ones are closed, not used.
    pub idle_timeout: Duration,
    /// Time an upstream that failed (refused or timed out a connection, failed an exchange)
    /// is skipped; when every upstream is skipped, they are tried all the same, in turn.
    /// `Duration::ZERO`: never skipped.
    pub fail_timeout: Duration,
    /// A path prefix taken off the request's path before it is forwarded (`/api` makes
    /// `/api/users?x=1` go as `/users?x=1`, and `/api` as `/`). Matched at a segment
    /// boundary (`/apix` keeps its path); a path without it goes as it is.
    pub strip_prefix: Option<String>,
    /// A path prefix put before the (stripped) path (`/v2` makes `/users` go as
    /// `/v2/users`).
    pub add_prefix: Option<String>,
    /// Whether the client's `Host` goes to the upstream (`true`, the default) or the
    /// upstream's own `host:port` as configured. `X-Forwarded-Host` carries the client's
    /// either way.
    pub preserve_host: bool,
    /// Largest response head an upstream may send (and largest trailer section of a
    /// chunked body); larger → `502`.
    pub max_response_head: usize,
}

impl ProxyConfig {
    /// A configuration for `upstreams` (each `host:port`) with the default settings:
    /// connect time-out 5 s, read and write time-outs 60 s, 256 idle connections per
    /// upstream kept 60 s, a failed upstream skipped 10 s, the client's `Host` kept,
    /// response heads up to 64 KiB.
    pub fn new<I, S>(upstreams: I) -> ProxyConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ProxyConfig {
            upstreams: upstreams.into_iter().map(Into::into).collect(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            max_idle: 256,
            idle_timeout: Duration::from_secs(60),
            fail_timeout: Duration::from_secs(10),
            strip_prefix: None,
            add_prefix: None,
            preserve_host: true,
            max_response_head: 64 * 1024,
        }
    }
}
