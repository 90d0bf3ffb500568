//! A reverse proxy to HTTP/1.1 upstreams: `ReverseProxy`, configured by `ProxyConfig`.
//!
//! Mounted as a streaming route (`Router::streaming`), it forwards each request to its
//! upstreams in turn (round-robin) and streams the response back:
//!
//! - **Connections**: a keep-alive pool per upstream (at most `max_idle` idle connections,
//!   each kept `idle_timeout`). Before a pooled connection is reused, a non-blocking read
//!   looks whether the upstream closed it (or sent stray bytes), except for an idempotent
//!   request without a body on a connection idle for under a second: that one is sent at
//!   once (a system call saved per request), and if the connection turns out closed before
//!   any byte of a response, the request is sent again once on a fresh connection, as any
//!   idempotent request is. Connect, read and write time-outs.
//! - **Failures**: an upstream that refuses or times out a connection, or fails an exchange,
//!   is skipped for `fail_timeout` (passive health); a request whose connection could not be
//!   made goes to the next upstream (as does an idempotent request whose body was not yet
//!   used, when the exchange fails). `502 Bad Gateway` when no upstream gives a response,
//!   `504 Gateway Timeout` when one took too long.
//! - **Heads**: hop-by-hop fields (`Connection`, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade` and those a `Connection` field names) are removed both
//!   ways; `X-Forwarded-For` gets the client's address appended, `X-Forwarded-Proto` and
//!   `X-Forwarded-Host` are set; `Host` is the client's (or the upstream's, see
//!   `preserve_host`); a path prefix may be stripped and another added.
//! - **Bodies**: streamed both ways in bounded memory (about 100 KiB per request in flight,
//!   whatever the body's size); a `Content-Length` is kept when known, chunked otherwise.
//! - **Counters**: `ReverseProxy::stats` (requests, upstream errors by kind, 502s and 504s,
//!   per upstream requests, errors, connections opened and reused).
//!
//! ```
//! use std::io::{Read, Write};
//! use oc_http::proxy::{ProxyConfig, ReverseProxy};
//! use oc_http::{Request, Response, Router, Server};
//!
//! let rt = oc_runtime::Runtime::builder().workers(2).build()?;
//! rt.block_on(|| -> std::io::Result<()> {
//!     // An upstream, and a front server that proxies `/api/...` to it as `/...`.
//!     let upstream = Server::new(Router::new().get("/hello", |r: &Request| {
//!         Response::text(format!("hello via {}", r.header("x-forwarded-proto").unwrap_or("?")))
//!     }))
//!     .bind("127.0.0.1:0")?
//!     .start();
//!     let mut config = ProxyConfig::new([upstream.local_addrs()[0].to_string()]);
//!     config.strip_prefix = Some("/api".into());
//!     let proxy = ReverseProxy::new(config)?;
//!     let front = Server::new(Router::new().streaming(None, "/api/*rest", proxy.clone())).bind("127.0.0.1:0")?.start();
//!
//!     let mut c = oc_net::TcpStream::connect(front.local_addrs()[0])?;
//!     c.write_all(b"GET /api/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//!     let mut resp = String::new();
//!     c.read_to_string(&mut resp)?;
//!     assert!(resp.starts_with("HTTP/1.1 200 OK") && resp.ends_with("hello via http"), "{resp}");
//!     assert_eq!(proxy.stats().requests, 1);
//!     front.shutdown(std::time::Duration::from_secs(1));
//!     upstream.shutdown(std::time::Duration::from_secs(1));
//!     Ok(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod config;
mod head;
mod reverse;
mod stats;
mod upstream;

pub use config::ProxyConfig;
pub use reverse::ReverseProxy;
pub use stats::{ProxyStats, UpstreamErrors, UpstreamStats};
