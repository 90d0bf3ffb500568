//! `ReverseProxy`: a streaming handler that forwards each request to an upstream in turn
//! and streams the upstream's response back.
//!
//! # State
//!
//! Shared by every connection that uses the proxy (`Arc<Inner>`): the upstreams (each with
//! its pool and health), the round-robin position, the counters. A request holds an upstream
//! connection alone from the moment it is taken (from the pool or new) until its response's
//! body has been read whole, when the connection goes back to the pool if both sides may keep
//! it.

use std::io::{self, Read, Write};
use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use oc_net::{Exchange, TcpStream};

use super::ProxyConfig;
use super::head::{
    BodyFraming, Forwarding, connection_options, forwarded_response_field, request_head, rewrite_target,
};
use super::stats::{Counters, ErrorKind, ProxyStats, UpstreamErrors, UpstreamStats, load};
use super::upstream::Upstream;
use crate::body::Outcome;
use crate::parse::Framing;
use crate::response::Spares;
use crate::{Request, RequestBody, Response, StreamHandler};

/// Bytes copied at a time, each way.
const COPY: usize = 64 * 1024;
/// Room first made for an upstream's response head (grown up to `max_response_head`).
const HEAD_BUF: usize = 4 * 1024;
/// Most fields in an upstream's response head.
const MAX_FIELDS: usize = 100;
/// Response fields a head is first parsed with room for: the array is initialised for each
/// parse, and most heads have far fewer (one with more is parsed again with `MAX_FIELDS`).
const USUAL_FIELDS: usize = 24;
/// A response body up to this size that came whole with its head goes to the client as
/// bytes, with the head, in one write (no copying closure, no second write).
const INLINE_BODY: u64 = 16 * 1024;

thread_local! {
    /// Request heads sent upstream, emptied for reuse: a proxied request allocates none.
    static SPARE_HEADS: Spares = const { Spares::new(16, 16 * 1024) };
    /// Buffers upstream response heads were read into, kept with their (stale) bytes: a
    /// proxied request neither allocates nor zeroes one.
    static SPARE_READS: Spares = const { Spares::for_reading(16, 16 * 1024) };
}

oc_runtime::tls_accessor! {
    /// A buffer of `len` initialised bytes to read into (their values are stale), this
    /// thread's last given back if it has one. One that grew for a larger head is cut back
    /// to `len` (no byte is zeroed for that), so that a reader's limit counts from there.
    ///
    /// Never inlined, as `spare`.
    fn read_buffer(len: usize) -> Vec<u8> {
        let mut buf = SPARE_READS.try_with(Spares::take).ok().flatten().unwrap_or_default();
        buf.resize(len, 0);
        buf
    }
}

oc_runtime::tls_accessor! {
    /// Gives back a buffer of `read_buffer`.
    fn recycle_read(buf: Vec<u8>) {
        let _ = SPARE_READS.try_with(|s| s.give(buf));
    }
}

oc_runtime::tls_accessor! {
    /// An empty buffer, this thread's last given back if it has one.
    ///
    /// Never inlined: a coroutine may move to another thread between two calls in one function,
    /// and the compiler must not reuse the thread-local's address across them.
    fn spare(capacity: usize) -> Vec<u8> {
        SPARE_HEADS.try_with(Spares::take).ok().flatten().unwrap_or_else(|| Vec::with_capacity(capacity))
    }
}

oc_runtime::tls_accessor! {
    /// Gives back a buffer of `spare` (see there on why it is never inlined).
    fn recycle(buf: Vec<u8>) {
        let _ = SPARE_HEADS.try_with(|s| s.give(buf));
    }
}

/// Common response field names, as the static text a response keeps without a copy.
const KNOWN_NAMES: [&str; 12] = [
    "Content-Type",
    "Server",
    "Cache-Control",
    "ETag",
    "Last-Modified",
    "Vary",
    "Expires",
    "Content-Encoding",
    "Set-Cookie",
    "Location",
    "Accept-Ranges",
    "Access-Control-Allow-Origin",
];

/// `name` as a response field name: the static spelling of a common one (any case), else a
/// copy.
fn field_name(name: &str) -> std::borrow::Cow<'static, str> {
    match KNOWN_NAMES.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        Some(known) => std::borrow::Cow::Borrowed(known),
        None => std::borrow::Cow::Owned(name.to_owned()),
    }
}

/// A reverse proxy to one or more HTTP/1.1 upstreams: a `StreamHandler`, mounted with
/// `Router::streaming` so that request bodies stream through as they arrive. Cheap to
/// clone (clones share the upstreams, pools and counters): keep one to read `stats`.
///
/// See the module documentation for what it does to requests and responses.
#[derive(Clone)]
pub struct ReverseProxy {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ReverseProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<_> = self.inner.upstreams.iter().map(|u| u.addr).collect();
        f.debug_struct("ReverseProxy").field("upstreams", &addrs).finish_non_exhaustive()
    }
}

struct Inner {
    config: ProxyConfig,
    upstreams: Vec<Upstream>,
    /// The round-robin position.
    next: AtomicUsize,
    counters: Counters,
}

/// Why one attempt at an exchange failed.
enum Failed {
    /// A pooled connection the upstream had closed: nothing was received, and the request
    /// may be sent again on a fresh connection.
    Stale,
    /// The client's body could not be read (the server answers for it).
    Client,
    /// The upstream failed; `retry`: nothing of the request's body was used, so another
    /// upstream may be tried (for an idempotent request).
    Upstream { kind: ErrorKind, retry: bool },
}

impl ReverseProxy {
    /// A proxy with `config`: every upstream name is resolved now. An empty upstream list,
    /// an upstream that is not `host:port` or does not resolve, or a prefix that does not
    /// start with `/` is an `InvalidInput` error naming it.
    pub fn new(config: ProxyConfig) -> io::Result<ReverseProxy> {
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        if config.upstreams.is_empty() {
            return Err(invalid("a reverse proxy needs at least one upstream".into()));
        }
        for (what, prefix) in [("strip_prefix", &config.strip_prefix), ("add_prefix", &config.add_prefix)] {
            if let Some(p) = prefix
                && !p.starts_with('/')
            {
                return Err(invalid(format!("{what} {p:?} must start with '/'")));
            }
        }
        let base = Instant::now();
        let mut upstreams = Vec::with_capacity(config.upstreams.len());
        for name in &config.upstreams {
            let addr = name
                .to_socket_addrs()
                .map_err(|e| invalid(format!("upstream {name:?} is not a reachable host:port: {e}")))?
                .next()
                .ok_or_else(|| invalid(format!("upstream {name:?} resolves to no address")))?;
            upstreams.push(Upstream::new(name.clone(), addr, config.max_idle, config.idle_timeout, base));
        }
        Ok(ReverseProxy {
            inner: Arc::new(Inner { config, upstreams, next: AtomicUsize::new(0), counters: Counters::default() }),
        })
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &ProxyConfig {
        &self.inner.config
    }

    /// A snapshot of its counters.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.inner.counters;
        let now = Instant::now();
        ProxyStats {
            requests: load(&c.requests),
            errors: UpstreamErrors {
                connect: load(&c.connect),
                timeout: load(&c.timeout),
                io: load(&c.io),
                bad_response: load(&c.bad_response),
            },
            bad_gateway: load(&c.bad_gateway),
            gateway_timeout: load(&c.gateway_timeout),
            retries: load(&c.retries),
            upstreams: self
                .inner
                .upstreams
                .iter()
                .map(|u| UpstreamStats {
                    name: u.name.clone(),
                    addr: u.addr,
                    requests: load(&u.counters.requests),
                    errors: load(&u.counters.errors),
                    connections: load(&u.counters.connections),
                    reused: load(&u.counters.reused),
                    idle: u.idle_count(),
                    failed: u.failed(now),
                })
                .collect(),
        }
    }
}

impl StreamHandler for ReverseProxy {
    fn call(&self, req: &Request, body: &mut RequestBody<'_>) -> Response {
        forward(&self.inner, req, body)
    }
}

/// Whether a request with `method` may be sent twice (RFC 9110 §9.2.2).
fn idempotent(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE")
}

/// Forwards `req` and its body: to the upstreams in turn from the next round-robin
/// position, those being skipped after a failure last; a connection that cannot be made
/// moves on to the next upstream, as does any failure before the request's body was used
/// (for an idempotent request); a pooled connection found closed is replaced once.
fn forward(inner: &Arc<Inner>, req: &Request, body: &mut RequestBody<'_>) -> Response {
    let config = &inner.config;
    inner.counters.requests.fetch_add(1, Ordering::Relaxed);
    let target = rewrite_target(req.target(), config.strip_prefix.as_deref(), config.add_prefix.as_deref());
    let framing = if body.is_chunked() {
        BodyFraming::Chunked
    } else {
        match body.content_length() {
            Some(n) if n > 0 || req.header_bytes("content-length").is_some() => BodyFraming::Length(n),
            _ => BodyFraming::None,
        }
    };
    let proto = if req.is_secure() { "https" } else { "http" };
    let n = inner.upstreams.len();
    let first = inner.next.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    // Decided before any is tried (a failure below marks its upstream as skipped).
    let mut order: smallvec::SmallVec<[usize; 8]> = (0..n).map(|i| (first + i) % n).collect();
    order.sort_by_key(|&i| inner.upstreams[i].failed(now));
    let mut head = spare(512);
    let plan = Plan { order: &order, target: &target, proto, framing, now };
    let resp = forward_to(inner, req, body, &plan, &mut head);
    recycle(head);
    resp
}

/// How `forward` sends a request on: what `forward_to` needs beyond the request.
struct Plan<'a> {
    /// The upstreams to try, in turn.
    order: &'a [usize],
    /// The path and query to send (rewritten).
    target: &'a str,
    /// `http` or `https`, for `X-Forwarded-Proto`.
    proto: &'a str,
    framing: BodyFraming,
    /// When the request was taken up.
    now: Instant,
}

/// `forward` to the upstreams in the plan's order, each request head written into `head`.
fn forward_to(
    inner: &Arc<Inner>,
    req: &Request,
    body: &mut RequestBody<'_>,
    plan: &Plan<'_>,
    head: &mut Vec<u8>,
) -> Response {
    let Plan { order, target, proto, framing, now } = *plan;
    let config = &inner.config;
    let may_resend = idempotent(req.method());
    let mut timed_out = false;
    for &index in order {
        let upstream = &inner.upstreams[index];
        let host = match req.authority() {
            Some(host) if config.preserve_host => host,
            _ => upstream.name.as_str(),
        };
        head.clear();
        request_head(head, req, &Forwarding { target, host, proto, body: framing });
        let mut fresh_only = false;
        let outcome = loop {
            let pooled =
                if fresh_only { None } else { upstream.take_idle(now, may_resend && framing == BodyFraming::None) };
            let reused = pooled.is_some();
            let conn = match pooled {
                Some(conn) => conn,
                None => match upstream.connect(config.connect_timeout, config.read_timeout, config.write_timeout) {
                    Ok(conn) => conn,
                    Err(e) => {
                        let kind =
                            if e.kind() == io::ErrorKind::TimedOut { ErrorKind::Timeout } else { ErrorKind::Connect };
                        break Err(Failed::Upstream { kind, retry: true });
                    }
                },
            };
            upstream.counters.requests.fetch_add(1, Ordering::Relaxed);
            if reused {
                upstream.counters.reused.fetch_add(1, Ordering::Relaxed);
            }
            match exchange(inner, index, conn, reused, head, req.is_head(), body, framing) {
                Err(Failed::Stale) if may_resend && body.bytes_read() == 0 && !fresh_only => {
                    inner.counters.retries.fetch_add(1, Ordering::Relaxed);
                    fresh_only = true;
                }
                // Stale on a fresh connection cannot happen (`exchange` says `Io`); a stale
                // pooled one that may not be sent again is the upstream's failure.
                Err(Failed::Stale) => break Err(Failed::Upstream { kind: ErrorKind::Io, retry: false }),
                other => break other,
            }
        };
        match outcome {
            Ok(resp) => {
                upstream.mark_healthy();
                return resp;
            }
            Err(Failed::Client) => return Response::error(400),
            Err(Failed::Stale) => unreachable!("a stale connection is retried or counted as a failure above"),
            Err(Failed::Upstream { kind, retry }) => {
                inner.counters.error(kind);
                upstream.counters.errors.fetch_add(1, Ordering::Relaxed);
                upstream.mark_failed(config.fail_timeout);
                timed_out |= kind == ErrorKind::Timeout;
                // Another upstream only if nothing reached this one that it may have acted
                // on: a connection never made, or an idempotent request whose body (if any)
                // is still unread. A timed-out exchange is not sent again (it may be under way).
                let connected = kind != ErrorKind::Connect && !(kind == ErrorKind::Timeout && retry);
                let resend =
                    retry && (!connected || (may_resend && body.bytes_read() == 0 && kind != ErrorKind::Timeout));
                if !resend {
                    break;
                }
            }
        }
    }
    if timed_out {
        inner.counters.gateway_timeout.fetch_add(1, Ordering::Relaxed);
        Response::error(504)
    } else {
        inner.counters.bad_gateway.fetch_add(1, Ordering::Relaxed);
        Response::error(502)
    }
}

/// The kind of an upstream IO error.
fn kind_of(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
        io::ErrorKind::InvalidData => ErrorKind::BadResponse,
        _ => ErrorKind::Io,
    }
}

/// Sends the request head and body on `conn` and reads the response head: the response to
/// give the client, its body streamed from `conn` as the client takes it.
#[allow(clippy::too_many_arguments)]
fn exchange(
    inner: &Arc<Inner>,
    index: usize,
    mut conn: TcpStream,
    reused: bool,
    head: &[u8],
    is_head: bool,
    body: &mut RequestBody<'_>,
    framing: BodyFraming,
) -> Result<Response, Failed> {
    // Before any response byte: a reused connection that fails was closed by the upstream
    // while idle (`Stale`); a fresh one, an upstream failure that a retry may avoid.
    let early = |e: &io::Error| match kind_of(e) {
        ErrorKind::Io if reused => Failed::Stale,
        kind => Failed::Upstream { kind, retry: true },
    };
    let config = &inner.config;
    let mut buf = read_buffer(HEAD_BUF);
    let mut end = 0;
    // A request without a body goes out and its response's first bytes come back in one step
    // (on io_uring, the send is queued with the worker's other sends: no system call of its
    // own); with a body, the head and the body are written, then the response read.
    let mut first_read = None;
    if framing == BodyFraming::None {
        match conn.write_all_then_read(head, &mut buf) {
            Exchange::Done(n) => first_read = Some(Ok(n)),
            Exchange::ReadFailed(e) => first_read = Some(Err(e)),
            Exchange::WriteFailed(e) => return Err(early(&e)),
        }
    } else {
        conn.write_all(head).map_err(|e| early(&e))?;
        send_body(&mut conn, body, framing == BodyFraming::Chunked).map_err(|failed| match failed {
            SendFailed::Client => Failed::Client,
            SendFailed::Upstream(e) if body.bytes_read() == 0 => early(&e),
            SendFailed::Upstream(e) => Failed::Upstream { kind: kind_of(&e), retry: false },
        })?;
    }
    // Interim (1xx) responses are read past.
    let (status, fields, head_len, version_1_1) = loop {
        match parse_response_head(&buf[..end]) {
            Ok(Some((status, fields, len, version_1_1))) => {
                if (100..200).contains(&status) {
                    if status == 101 {
                        // The proxy never forwards `Upgrade`: a switch it did not ask for.
                        return Err(Failed::Upstream { kind: ErrorKind::BadResponse, retry: false });
                    }
                    buf.copy_within(len..end, 0);
                    end -= len;
                    continue;
                }
                break (status, fields, len, version_1_1);
            }
            Ok(None) => {}
            Err(_) => return Err(Failed::Upstream { kind: ErrorKind::BadResponse, retry: false }),
        }
        if end == buf.len() {
            if buf.len() >= config.max_response_head {
                return Err(Failed::Upstream { kind: ErrorKind::BadResponse, retry: false });
            }
            buf.resize((buf.len() * 2).min(config.max_response_head), 0);
        }
        let read = match first_read.take() {
            Some(read) => read,
            None => conn.read(&mut buf[end..]),
        };
        match read {
            Ok(0) if end == 0 && reused => return Err(Failed::Stale),
            Ok(0) => return Err(Failed::Upstream { kind: ErrorKind::Io, retry: end == 0 }),
            Ok(n) => end += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if end == 0 => return Err(early(&e)),
            Err(e) => return Err(Failed::Upstream { kind: kind_of(&e), retry: false }),
        }
    };
    if !(200..=999).contains(&status) {
        return Err(Failed::Upstream { kind: ErrorKind::BadResponse, retry: false });
    }
    // The framing of the response's body (RFC 9112 §6.3). Names are tokens (httparse checks
    // them), so UTF-8.
    let name_of = |f: &Field| std::str::from_utf8(&buf[f.name.0..f.name.0 + f.name.1]).unwrap_or("");
    let value_of = |f: &Field| &buf[f.value.0..f.value.0 + f.value.1];
    let named =
        connection_options(fields.iter().filter(|f| name_of(f).eq_ignore_ascii_case("connection")).map(&value_of));
    let mut keep = version_1_1 && !named.iter().any(|o| o == "close");
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for field in &fields {
        let (name, value) = (name_of(field), value_of(field));
        if name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(|&b| b == b',').next().unwrap_or(b"").trim_ascii();
            chunked = Some(last.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or(Failed::Upstream { kind: ErrorKind::BadResponse, retry: false })?;
            if length.is_some_and(|l| l != n) {
                return Err(Failed::Upstream { kind: ErrorKind::BadResponse, retry: false });
            }
            length = Some(n);
        }
    }
    let mut resp = Response::new(status);
    for field in &fields {
        let name = name_of(field);
        if forwarded_response_field(name, &named) {
            let value = value_of(field);
            // Almost always UTF-8 (checked at once); any other byte becomes U+FFFD.
            let value =
                std::str::from_utf8(value).map_or_else(|_| String::from_utf8_lossy(value).into_owned(), str::to_owned);
            resp = resp.header(field_name(name), value);
        }
    }
    let upstream = Upstream::handle(inner, index);
    let no_body = is_head || matches!(status, 204 | 304);
    let rest = end - head_len;
    if no_body {
        if keep && rest == 0 {
            upstream.get().put_idle(conn);
        }
        recycle_read(buf);
        return Ok(match (is_head, chunked, length) {
            (true, None, Some(n)) => Response::stream_sized(n, |_| Ok(())).with_fields(resp),
            (true, _, _) => Response::stream(|_| Ok(())).with_fields(resp),
            _ => resp,
        });
    }
    // A small body that came whole with the head (and nothing after it): bytes, the
    // connection back in the pool at once.
    if chunked.is_none()
        && let Some(n) = length.filter(|&n| n <= INLINE_BODY && n == rest as u64)
    {
        let mut bytes = crate::response::spare_body();
        bytes.extend_from_slice(&buf[head_len..head_len + n as usize]);
        if keep {
            upstream.get().put_idle(conn);
        }
        recycle_read(buf);
        return Ok(resp.body(bytes));
    }
    buf.copy_within(head_len..end, 0);
    let read_timeout = config.read_timeout;
    let max_trailers = config.max_response_head;
    let framing = match (chunked, length) {
        (Some(true), _) => Some(Framing::Chunked),
        (Some(false), _) | (None, None) => {
            // Delimited by the connection's close: not kept.
            keep = false;
            None
        }
        (None, Some(n)) => Some(Framing::Length(n)),
    };
    let copy = move |w: &mut dyn Write| -> io::Result<()> {
        let mut conn = conn;
        // No larger than the body when its length is known (a small body needs no 64 KiB
        // of zeroes per request).
        let size = match framing {
            Some(Framing::Length(n)) => (n as usize).clamp(1, COPY),
            _ => COPY,
        };
        let mut chunk = vec![0u8; size];
        let Some(framing) = framing else {
            w.write_all(&buf[..rest])?;
            loop {
                match conn.read(&mut chunk) {
                    Ok(0) => return Ok(()),
                    Ok(n) => w.write_all(&chunk[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(upstream.failed(e)),
                }
            }
        };
        let mut body = RequestBody::upstream(&mut conn, buf, rest, framing, read_timeout, max_trailers);
        loop {
            let n = body.read(&mut chunk).map_err(|e| upstream.failed(e))?;
            if n == 0 || body.is_finished() {
                // The connection goes back to the pool before the client has the body's end:
                // the client's next request finds it there.
                let finished = body.finish(0);
                if keep && finished.outcome == Outcome::Complete && finished.pos == finished.end {
                    upstream.get().put_idle(conn);
                }
                return w.write_all(&chunk[..n]);
            }
            w.write_all(&chunk[..n])?;
        }
    };
    Ok(match framing {
        Some(Framing::Length(n)) => Response::stream_sized(n, copy),
        _ => Response::stream(copy),
    }
    .with_fields(resp))
}

/// Where a field of an upstream's response head lies in the buffer it was read into: the
/// name's and the value's offset and length.
struct Field {
    name: (usize, usize),
    value: (usize, usize),
}

/// How sending a request body failed.
enum SendFailed {
    /// Reading it from the client.
    Client,
    /// Writing it to the upstream.
    Upstream(io::Error),
}

/// Copies the client's body to the upstream, re-chunked if `chunked`.
fn send_body(conn: &mut TcpStream, body: &mut RequestBody<'_>, chunked: bool) -> Result<(), SendFailed> {
    // Room for a chunk's size line before its data and CR LF after it.
    const LINE: usize = 18;
    let size = body.content_length().map_or(COPY, |n| (n as usize).clamp(1, COPY));
    let mut buf = vec![0u8; LINE + size + 2];
    loop {
        let n = match body.read(&mut buf[LINE..LINE + size]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(SendFailed::Client),
        };
        let piece = if !chunked {
            if n == 0 {
                return Ok(());
            }
            &buf[LINE..LINE + n]
        } else if n == 0 {
            &b"0\r\n\r\n"[..]
        } else {
            let line = format!("{n:x}\r\n");
            let at = LINE - line.len();
            buf[at..LINE].copy_from_slice(line.as_bytes());
            buf[LINE + n..LINE + n + 2].copy_from_slice(b"\r\n");
            &buf[at..LINE + n + 2]
        };
        conn.write_all(piece).map_err(SendFailed::Upstream)?;
        if n == 0 {
            return Ok(());
        }
    }
}

/// An upstream of a proxy, held by a response body that outlives the handler's call.
struct UpstreamHandle {
    inner: Arc<Inner>,
    index: usize,
}

impl Upstream {
    fn handle(inner: &Arc<Inner>, index: usize) -> UpstreamHandle {
        UpstreamHandle { inner: inner.clone(), index }
    }
}

impl UpstreamHandle {
    fn get(&self) -> &Upstream {
        &self.inner.upstreams[self.index]
    }

    /// Counts a failure while the response body was being read, and gives `e` back.
    fn failed(&self, e: io::Error) -> io::Error {
        let kind = kind_of(&e);
        self.inner.counters.error(kind);
        self.get().counters.errors.fetch_add(1, Ordering::Relaxed);
        e
    }
}

impl Response {
    /// This response's body with `fields`' status and header fields.
    fn with_fields(mut self, fields: Response) -> Response {
        self.status = fields.status;
        self.headers = fields.headers;
        self
    }
}

/// A parsed response head: its status, where each field's name and value lie in the buffer
/// (no copies), its length, and whether it is HTTP/1.1.
type ResponseHead = (u16, smallvec::SmallVec<[Field; 16]>, usize, bool);

/// Parses the response head at the start of `buf`; `Ok(None)` while it is incomplete.
fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>, httparse::Error> {
    let mut usual = [httparse::EMPTY_HEADER; USUAL_FIELDS];
    match parse_response_head_into(buf, &mut usual) {
        Err(httparse::Error::TooManyHeaders) => {
            let mut all = [httparse::EMPTY_HEADER; MAX_FIELDS];
            parse_response_head_into(buf, &mut all)
        }
        parsed => parsed,
    }
}

fn parse_response_head_into<'b>(
    buf: &'b [u8],
    raw: &mut [httparse::Header<'b>],
) -> Result<Option<ResponseHead>, httparse::Error> {
    let mut parsed = httparse::Response::new(raw);
    let httparse::Status::Complete(len) = parsed.parse(buf)? else {
        return Ok(None);
    };
    let at = |part: &[u8]| part.as_ptr() as usize - buf.as_ptr() as usize;
    let fields = parsed
        .headers
        .iter()
        .map(|h| Field { name: (at(h.name.as_bytes()), h.name.len()), value: (at(h.value), h.value.len()) })
        .collect();
    Ok(Some((parsed.code.unwrap_or(0), fields, len, parsed.version == Some(1))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_with(fields: usize) -> Vec<u8> {
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..fields {
            head.extend_from_slice(format!("X-Field-{i}: value {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\nbody");
        head
    }

    #[test]
    fn response_heads_parse_up_to_the_field_limit_whatever_the_first_try_holds() {
        for fields in [0, 1, USUAL_FIELDS - 1, USUAL_FIELDS, USUAL_FIELDS + 1, MAX_FIELDS] {
            let head = head_with(fields);
            let (status, parsed, len, version_1_1) = parse_response_head(&head).unwrap().expect("complete");
            assert_eq!((status, len, version_1_1), (200, head.len() - 4, true), "{fields} fields");
            assert_eq!(parsed.len(), fields);
            if let Some(last) = parsed.last() {
                let name = &head[last.name.0..last.name.0 + last.name.1];
                let value = &head[last.value.0..last.value.0 + last.value.1];
                assert_eq!(name, format!("X-Field-{}", fields - 1).as_bytes());
                assert_eq!(value, format!("value {}", fields - 1).as_bytes());
            }
        }
        assert!(matches!(parse_response_head(&head_with(MAX_FIELDS + 1)), Err(httparse::Error::TooManyHeaders)));
        // Incomplete, with more fields than the first try holds: not an error yet.
        let head = head_with(USUAL_FIELDS + 5);
        assert!(parse_response_head(&head[..head.len() - 8]).unwrap().is_none());
    }
}
