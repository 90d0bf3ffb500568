//! One connection: read, parse every complete request (pipelining), answer each in order
//! into one buffer, write the batch with one call, repeat.

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use oc_net::TcpStream;

use crate::body::{DRAIN_MAX, Finished, Outcome, RequestBody};
use crate::parse::{Framing, Parse, parse_streaming};
use crate::response::{Body, Spares, reason};
use crate::router::StreamHandler;
use crate::server::Shared;
use crate::{Limits, Request, Response, Version};

/// A connection waits for its next request (the server may close it to shut down).
pub(crate) const IDLE: u8 = 0;
/// A connection is reading or answering a request.
pub(crate) const BUSY: u8 = 1;
/// The server is closing the connection.
pub(crate) const CLOSING: u8 = 2;

const READ_CHUNK: usize = 16 * 1024;

/// What a connection runs over: a TCP stream, or TLS on one.
pub(crate) trait Transport: Read + Write {
    /// The TCP stream underneath (for time-outs and addresses).
    fn tcp(&self) -> &TcpStream;

    /// Whether the connection is encrypted (TLS).
    fn secure(&self) -> bool {
        false
    }

    /// Whether `write_all_then_wait` is one step whose write finishes even if the coroutine
    /// is cancelled meanwhile (so the connection may count as idle during it).
    fn one_step(&self) -> bool {
        false
    }

    /// Writes all of `out`, then waits until `read_ready` may find something to read; the
    /// outer result is the write's. This default does not wait (`read_ready` blocks instead):
    /// right for a transport that may hold received bytes of its own (TLS).
    fn write_all_then_wait(&mut self, out: &[u8]) -> io::Result<io::Result<()>> {
        self.write_all(out)?;
        Ok(Ok(()))
    }

    /// Reads after `write_all_then_wait`: `WouldBlock` if nothing has arrived after all.
    fn read_ready(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }

    /// Whether `write_all_then_wait` waits until bytes have arrived (so that `read_ready`
    /// does not wait).
    fn waits_for_bytes(&self) -> bool {
        false
    }
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }

    fn one_step(&self) -> bool {
        oc_runtime::io::one_step_exchange()
    }

    fn write_all_then_wait(&mut self, out: &[u8]) -> io::Result<io::Result<()>> {
        // In one step (on io_uring, no system call of its own); with nothing to write, a wait.
        self.write_all_then_readable(out)
    }

    fn read_ready(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read(buf)
    }

    fn waits_for_bytes(&self) -> bool {
        true
    }
}

/// Serves `stream` until the client closes it, a limit or time-out ends it, or the server
/// shuts down.
pub(crate) fn serve<S: Transport>(stream: S, server: &Shared, state: &Arc<AtomicU8>) {
    // Two copies of the loop: one for routers with streaming routes, and one without, in
    // which the check for them is not there at all (a flag looked at per request cost the
    // plaintext path about 5% of its instructions).
    if server.router.streams() {
        serve_with::<S, true>(stream, server, state)
    } else {
        serve_with::<S, false>(stream, server, state)
    }
}

/// `serve`; `STREAMS`: whether the router has streaming routes.
fn serve_with<S: Transport, const STREAMS: bool>(mut stream: S, server: &Shared, state: &Arc<AtomicU8>) {
    let _ = stream.tcp().set_nodelay(true);
    let _ = stream.tcp().set_write_timeout(Some(server.limits.write_timeout));
    // The part of the receive buffer beyond the usual size, counted against the server's
    // `max_body_memory` (made before the request, so that it goes after the buffer).
    let mut grown = Grown { total: &server.body_memory, bytes: 0 };
    // Reused for every request of the connection. Requests are parsed and read where they
    // were received, in `req.buf`: `req.buf[start..end]` holds received bytes not yet
    // answered; the rest is room to read into (zeroed once when a buffer is made or grows,
    // never per read). The buffer is taken from this thread's spares when bytes arrive and
    // given back once everything received has been answered.
    let mut req = Request::empty();
    req.peer = stream.tcp().peer_addr().ok();
    req.secure = stream.secure();
    req.buf = Vec::new();
    let mut end = 0usize;
    // Taken from this thread's spares for each batch of answers and given back once sent.
    let mut out: Vec<u8> = Vec::new();
    let mut start = 0usize;
    // When the first byte of the request being received arrived.
    let mut request_started: Option<Instant> = None;
    let mut sent_continue = false;
    let mut cache = HeadCache::default();
    let mut clock = SendClock::default();
    // Whether a route takes its body as a stream; then, whether the request being received
    // may yet be one of them (until its route is found to take its body whole).
    let mut stream_check = STREAMS;
    // Bounded so that positions fit a span's `u32`. A chunked body's framing (sizes,
    // extensions, trailers) may add a quarter of the body.
    let limits = &server.limits;
    let max_buf = limits
        .max_head
        .saturating_add(limits.max_body.saturating_add(limits.max_body / 4))
        .saturating_add(READ_CHUNK)
        .min(u32::MAX as usize);
    loop {
        // Answer every complete request in the buffer (one clock reading for the batch).
        let mut close = false;
        // Whether the partial request left in the buffer has its whole head (its deadline is
        // then the body's).
        let mut head_done = false;
        let date = crate::date::now();
        if start < end && out.capacity() == 0 {
            out = spare_out();
        }
        loop {
            if start == end {
                break;
            }
            match parse_streaming(&mut req, start, end, &server.limits, STREAMS && stream_check) {
                Ok(Parse::Done(used)) => {
                    start += used;
                    request_started = None;
                    sent_continue = false;
                    stream_check = STREAMS;
                    let dispatch = |req: &mut Request| server.router.dispatch(req);
                    match answer(server, &mut req, &date, &mut out, &mut cache, &mut stream, &mut clock, dispatch) {
                        // Answers past the limit are written before any further request is
                        // answered: whatever the client sends, a connection holds at most
                        // `max_output` bytes of them (and one response head).
                        Ok(true) if out.len() >= limits.max_output => {
                            if send(&mut stream, &mut clock, limits, &out).is_err() {
                                return;
                            }
                            out.clear();
                        }
                        Ok(true) => {}
                        Ok(false) | Err(_) => {
                            close = true;
                            break;
                        }
                    }
                }
                Ok(Parse::Head) => {
                    let crate::parse::HeadAlone { head_end, expect_continue, framing } = req.head_alone;
                    let Some(handler) = server.router.streamed(&mut req) else {
                        // Its route takes the body whole: parsed again, as usual.
                        stream_check = false;
                        continue;
                    };
                    request_started = None;
                    sent_continue = false;
                    let body = Streamed { handler, head_end, end, expect_continue, framing };
                    match answer_streamed(server, &mut req, body, &mut out, &mut cache, &mut stream, &mut clock) {
                        Some(fresh) => {
                            // What the client sent after the body, at the buffer's front.
                            let old = std::mem::replace(&mut req.buf, fresh.buf);
                            recycle_in(old);
                            grown.set(req.buf.len().saturating_sub(READ_CHUNK), usize::MAX);
                            (start, end) = (0, fresh.len);
                        }
                        None => return,
                    }
                }
                Ok(Parse::Need { head_done: whole_head, expect_continue }) => {
                    head_done = whole_head;
                    if head_done && expect_continue && !sent_continue {
                        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        sent_continue = true;
                    }
                    break;
                }
                Err(status) => {
                    refuse(&mut out, status);
                    close = true;
                    break;
                }
            }
        }
        // The answers in `out` go out with the next read when that is one step whose write
        // a shutdown does not interrupt (below); otherwise now, while the connection still
        // counts as busy.
        if close {
            let _ = send(&mut stream, &mut clock, limits, &out);
            return;
        }
        if !out.is_empty() && !stream.one_step() {
            if send(&mut stream, &mut clock, limits, &out).is_err() {
                return;
            }
            out.clear();
        }
        if out.is_empty() && out.capacity() > 0 {
            recycle_out(std::mem::take(&mut out));
        }
        // A partial request waits in the buffer: its clock starts now if it has not yet.
        if start < end && request_started.is_none() {
            request_started = Some(Instant::now());
        }
        // Keep only the unparsed bytes, at the front.
        if start > 0 {
            req.buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
        }
        // A buffer grown for a large request goes once what is left of it fits in one of the
        // usual size (with none left, below).
        if req.buf.len() > READ_CHUNK && end > 0 && end <= READ_CHUNK / 2 {
            let mut usual = spare_in();
            usual[..end].copy_from_slice(&req.buf[..end]);
            req.buf = usual;
            grown.set(0, usize::MAX);
        }
        if end == 0 {
            // Between requests (once the answers are sent): the server may close us now.
            if state.compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire).is_err() || server.closes_idle()
            {
                let _ = send(&mut stream, &mut clock, limits, &out);
                return;
            }
        }
        // Nothing of a next request received: the buffer goes back to this thread's spares
        // while the connection waits, and one is taken when bytes arrive (an idle connection
        // holds none, and the kernel copies into memory the cache holds).
        if end == 0 {
            recycle_in(std::mem::take(&mut req.buf));
            grown.set(0, usize::MAX);
        }
        // The second in which the connection begins to wait (an atomic load, not a clock
        // reading): a wait that ends early goes on for what is left of its time.
        let waiting_from = crate::date::second();
        let mut woken_early = false;
        let read = loop {
            let timeout = match request_started {
                // Idle: the whole idle time-out from now (the socket reads the clock).
                None if !woken_early => limits.idle_timeout,
                // Idle, after a wait that ended early (rare: the runtime's timer for an earlier
                // wait of this coroutine, due sooner, wakes it): what is left of the time-out,
                // counted from the end of the second the wait began in (so at most a second
                // more), not all of it again, which could make it nearly twice as long.
                None => match limits.idle_timeout.checked_sub(crate::date::since_end_of(waiting_from)) {
                    Some(left) if !left.is_zero() => left,
                    // Its answers went out with the first wait.
                    _ => return,
                },
                // A request under way: what is left of its time.
                Some(t) => {
                    let deadline = t + if head_done { limits.body_timeout } else { limits.header_timeout };
                    match deadline.checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => left,
                        _ => {
                            refuse(&mut out, 408);
                            let _ = send(&mut stream, &mut clock, limits, &out);
                            return;
                        }
                    }
                }
            };
            if timeout.is_zero() {
                // An idle time-out of zero: connections close as soon as they are idle.
                let _ = send(&mut stream, &mut clock, limits, &out);
                return;
            }
            let _ = stream.tcp().set_read_timeout(Some(timeout));
            let waited = if out.is_empty() {
                stream.write_all_then_wait(&[])
            } else {
                let waited = stream.write_all_then_wait(&out);
                recycle_out(std::mem::take(&mut out));
                waited
            };
            match waited {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break Err(e),
                // The answers could not be sent: the connection is of no further use.
                Err(_) => return,
            }
            if req.buf.is_empty() {
                req.buf = spare_in();
            }
            if req.buf.len() - end < READ_CHUNK / 4 {
                if end + READ_CHUNK / 4 > max_buf {
                    // The request under way is larger than the limits admit, yet not refused
                    // by the parser (a chunked body mostly of framing): too large all the same.
                    refuse(&mut out, if head_done { 413 } else { 431 });
                    let _ = send(&mut stream, &mut clock, limits, &out);
                    return;
                }
                let size = (req.buf.len() * 2).min(max_buf).max(end + READ_CHUNK / 4);
                if !grown.set(size - READ_CHUNK, limits.max_body_memory) {
                    // The server holds as much of large requests as it may: not this one.
                    refuse(&mut out, 503);
                    let _ = send(&mut stream, &mut clock, limits, &out);
                    return;
                }
                // Exactly: the buffer's size is what bounds the connection's memory.
                req.buf.reserve_exact(size - req.buf.len());
                req.buf.resize(size, 0);
            }
            // Bytes arrived for an idle connection: it is busy from now, before it takes them
            // from the socket, so that a shutdown sees either the bytes still waiting there
            // or the connection busy, and never closes it with a request read but unanswered.
            let claimed = stream.waits_for_bytes() && state.load(Ordering::Acquire) == IDLE;
            if claimed && state.compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire).is_err() {
                return;
            }
            match stream.read_ready(&mut req.buf[end..]) {
                // The wait ended early: wait again, for what is left of its time (idle again,
                // unless the server is stopping).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    woken_early = true;
                    if claimed
                        && (state.compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire).is_err()
                            || server.closes_idle())
                    {
                        return;
                    }
                }
                read => break read,
            }
        };
        match read {
            Ok(0) => return,
            Ok(n) => {
                // A request left partial by this read starts its clock once parsed (above).
                end += n;
                // (A transport that waits for bytes was claimed busy before this read.)
                if !stream.waits_for_bytes()
                    && state.load(Ordering::Acquire) == IDLE
                    && state.compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire).is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                if request_started.is_some() {
                    refuse(&mut out, 408);
                    let _ = send(&mut stream, &mut clock, limits, &out);
                }
                return;
            }
            Err(_) => return,
        }
    }
}

thread_local! {
    /// Send buffers of connections between batches (at most 64, of at most 64 KiB), the
    /// last given back on top: a batch is encoded into memory the cache still holds, and an
    /// idle connection holds none.
    static SPARE_OUT: Spares = const { Spares::new(64, 64 * 1024) };
}

/// An empty send buffer, the one this thread used last if it has one.
///
/// Never inlined: a coroutine may move to another thread between two calls in one function,
/// and the compiler must not reuse the thread-local's address across them.
#[inline(never)]
fn spare_out() -> Vec<u8> {
    SPARE_OUT.try_with(Spares::take).ok().flatten().unwrap_or_else(|| Vec::with_capacity(READ_CHUNK))
}

thread_local! {
    /// Receive buffers of idle connections (at most 64, each of `READ_CHUNK` bytes,
    /// initialised), the last given back on top: bytes are received into memory the cache
    /// still holds, and an idle connection holds none.
    static SPARE_IN: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A receive buffer of `READ_CHUNK` initialised bytes, the one this thread used last if it
/// has one (see `spare_out` on why it is never inlined).
#[inline(never)]
fn spare_in() -> Vec<u8> {
    SPARE_IN.try_with(|s| s.borrow_mut().pop()).ok().flatten().unwrap_or_else(|| vec![0; READ_CHUNK])
}

/// Gives back a connection's receive buffer when nothing in it is still needed (one grown
/// for a large request is let go).
#[inline(never)]
fn recycle_in(buf: Vec<u8>) {
    if buf.len() == READ_CHUNK {
        let _ = SPARE_IN.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < 64 {
                s.push(buf);
            }
        });
    }
}

/// Gives back a send buffer whose bytes have been sent (see `spare_out`).
#[inline(never)]
fn recycle_out(out: Vec<u8>) {
    let _ = SPARE_OUT.try_with(|s| s.give(out));
}

/// Writes a refusal with `Connection: close`.
fn refuse(out: &mut Vec<u8>, status: u16) {
    let body = format!("{status} {}\n", reason(status));
    let resp = Response::new(status).header("Content-Type", "text/plain").body(body.into_bytes());
    let len = match &resp.body {
        Body::Bytes(b) => b.len(),
        _ => 0,
    };
    head(out, &mut HeadCache::default(), (&resp, false), &crate::date::now(), Version::Http11, false, Some(len), false);
    if let Body::Bytes(b) = &resp.body {
        out.extend_from_slice(b);
    }
}

/// A request whose body its handler takes as a stream: the handler, and where the body's
/// first bytes lie in the connection's buffer (`head_end..end`) and how it is framed.
struct Streamed {
    handler: std::sync::Arc<dyn StreamHandler>,
    head_end: usize,
    end: usize,
    expect_continue: bool,
    framing: Framing,
}

/// A receive buffer whose first `len` bytes are what the client sent after a streamed body.
struct Leftover {
    buf: Vec<u8>,
    len: usize,
}

/// Answers a request whose handler takes its body as a stream: the answers before it are
/// sent first (a `100 Continue` goes straight to the client), the handler reads what it
/// wants of the body, what it left is drained (or the connection closes), and its response
/// is sent. Returns the receive buffer to go on with, or `None` when the connection closes.
#[cold]
#[inline(never)]
fn answer_streamed<S: Transport>(
    server: &Shared,
    req: &mut Request,
    body: Streamed,
    out: &mut Vec<u8>,
    cache: &mut HeadCache,
    stream: &mut S,
    clock: &mut SendClock,
) -> Option<Leftover> {
    let limits = &server.limits;
    if !out.is_empty() {
        send(stream, clock, limits, out).ok()?;
        out.clear();
    }
    if matches!(body.framing, Framing::Length(n) if n > limits.max_streamed_body) {
        refuse(out, 413);
        let _ = send(stream, clock, limits, out);
        return None;
    }
    let received = body.end - body.head_end;
    let mut buf = spare_in();
    if buf.len() < received {
        buf.resize(received, 0);
    }
    buf[..received].copy_from_slice(&req.buf[body.head_end..body.end]);
    let mut reader = RequestBody::wire(stream, buf, received, body.framing, body.expect_continue, limits);
    let handler = &body.handler;
    let resp = match catch_unwind(AssertUnwindSafe(|| handler.call(req, &mut reader))) {
        Ok(r) => r,
        Err(payload) => {
            if oc_runtime::task::is_cancellation(&*payload) {
                std::panic::resume_unwind(payload);
            }
            Response::error(500)
        }
    };
    let Finished { mut buf, pos, end, outcome } = reader.finish(DRAIN_MAX);
    match outcome {
        Outcome::Complete => {}
        // The rest of the body is still on its way (or never comes): nothing after it can
        // be read as a request.
        Outcome::Unread => req.connection |= crate::request::CLOSE,
        Outcome::Failed(failure) => {
            if let Some(status) = failure.status() {
                refuse(out, status);
                let _ = send(stream, clock, limits, out);
            }
            return None;
        }
    }
    let date = crate::date::now();
    let keep = answer(server, req, &date, out, cache, stream, clock, |_: &mut Request| resp);
    if !out.is_empty() {
        send(stream, clock, limits, out).ok()?;
        out.clear();
    }
    if !matches!(keep, Ok(true)) {
        return None;
    }
    buf.copy_within(pos..end, 0);
    Some(Leftover { buf, len: end - pos })
}

/// Calls the handler (`call`) and encodes the response into `out` (or streams it); returns
/// whether the connection stays open.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn answer<S: Transport>(
    server: &Shared,
    req: &mut Request,
    date: &[u8; 29],
    out: &mut Vec<u8>,
    cache: &mut HeadCache,
    stream: &mut S,
    clock: &mut SendClock,
    call: impl FnOnce(&mut Request) -> Response,
) -> io::Result<bool> {
    let limits = &server.limits;
    let is_head = req.is_head();
    let version = req.version;
    let mut resp = match catch_unwind(AssertUnwindSafe(|| call(req))) {
        Ok(r) => r,
        Err(payload) => {
            if oc_runtime::task::is_cancellation(&*payload) {
                std::panic::resume_unwind(payload);
            }
            Response::error(500)
        }
    };
    // A head this connection has sent before is known to be valid; any other is checked
    // (CR or LF in a value would let a handler's input forge fields or responses).
    let known = cache.knows_fields(&resp);
    if !known && !valid_head(&resp) {
        static INVALID: crate::log::Limited = crate::log::Limited::new();
        crate::log::warn_limited!(
            INVALID,
            status = resp.status,
            "oc-http: a handler answered with a 1xx or invalid status or header field; sending 500 instead"
        );
        resp = Response::error(500);
    }
    // Decided after the handler: a shutdown that began meanwhile closes the connection.
    let keep_alive = req.keep_alive() && !server.stopping();
    // No content in these (a 1xx never gets here, see `valid_head`). A 204 or 304 ends at
    // its head (RFC 9112 §6.3); a 205 must not have content either (RFC 9110 §15.3.6), but
    // its status does not end it, so it says so with `Content-Length: 0`.
    let no_body = matches!(resp.status, 204 | 205 | 304);
    match resp.body {
        Body::Stream(_) if !no_body => {
            let chunked = version == Version::Http11;
            let keep = keep_alive && chunked;
            head(out, cache, (&resp, known), date, version, keep, None, chunked);
            send(stream, clock, limits, out)?;
            out.clear();
            if is_head {
                return Ok(keep);
            }
            let Body::Stream(f) = resp.body else { unreachable!() };
            let mut sender = Sender { stream, clock, limits };
            if chunked {
                let mut writer = ChunkWriter { sender, buf: Vec::new() };
                f(&mut writer)?;
                writer.flush()?;
                writer.sender.send(b"0\r\n\r\n")?;
            } else {
                f(&mut sender)?;
            }
            Ok(keep)
        }
        Body::Sized(len, _) if !no_body => {
            head(out, cache, (&resp, known), date, version, keep_alive, Some(len as usize), false);
            send(stream, clock, limits, out)?;
            out.clear();
            if is_head {
                return Ok(keep_alive);
            }
            let Body::Sized(len, f) = resp.body else { unreachable!() };
            let mut writer = SizedWriter { sender: Sender { stream, clock, limits }, left: len };
            f(&mut writer)?;
            // Short of what the head announced: the connection cannot carry another message.
            Ok(keep_alive && writer.left == 0)
        }
        Body::File(ref file) if !no_body => {
            head(out, cache, (&resp, known), date, version, keep_alive, Some(file.len as usize), false);
            if is_head {
                return Ok(keep_alive);
            }
            let Body::File(file) = resp.body else { unreachable!() };
            clock.sent += crate::sendfile::send_file(stream, out, file, limits, |s, d| send(s, clock, limits, d))?;
            Ok(keep_alive)
        }
        ref body => {
            let bytes: &[u8] = match body {
                Body::Bytes(b) => b,
                Body::Static(b) => b,
                _ => &[],
            };
            let len = match resp.status {
                204 | 304 => None,
                205 => Some(0),
                _ => Some(bytes.len()),
            };
            head_inline(out, cache, (&resp, known), date, version, keep_alive, len, false);
            if !is_head && !no_body {
                if out.len() + bytes.len() <= limits.max_output {
                    out.extend_from_slice(bytes);
                } else {
                    send_beside(stream, clock, limits, out, bytes)?;
                }
            }
            if let Body::Bytes(b) = resp.body {
                crate::response::recycle_body(b);
            }
            Ok(keep_alive)
        }
    }
}

/// A response head as encoded for the last response on a connection, with what it was
/// encoded from: an endpoint answered again and again (the common case) costs one copy
/// instead of an encoding (and the date's 29 bytes, once a second). The date comes last.
#[derive(Default)]
struct HeadCache {
    valid: bool,
    status: u16,
    /// Body length (`None`: none sent), keep-alive, version and chunked, as encoded.
    framing: (Option<usize>, bool, Version, bool),
    /// Address and length of each header name and value. Only responses whose headers are
    /// all static strings are cached: a `&'static str` at the same address with the same
    /// length is the same text.
    key: Vec<(usize, usize, usize, usize)>,
    /// The whole head, its empty line included.
    bytes: Vec<u8>,
    /// The date in `bytes`, and where it is.
    date: [u8; 29],
    date_at: usize,
}

impl HeadCache {
    fn key(header: &(Cow<'static, str>, Cow<'static, str>)) -> Option<(usize, usize, usize, usize)> {
        match header {
            (Cow::Borrowed(n), Cow::Borrowed(v)) => Some((n.as_ptr() as usize, n.len(), v.as_ptr() as usize, v.len())),
            _ => None,
        }
    }

    /// Whether the kept head is `resp`'s with `framing`, given whether `resp` has the kept
    /// head's fields (`knows_fields`, which the caller has asked already).
    #[inline]
    fn holds(&self, resp: &Response, fields_known: bool, framing: (Option<usize>, bool, Version, bool)) -> bool {
        fields_known && self.status == resp.status && self.framing == framing
    }

    /// Whether `resp` has a final status and the very header fields of the kept head (which
    /// were found valid when it was encoded).
    #[inline]
    fn knows_fields(&self, resp: &Response) -> bool {
        self.valid
            && final_status(resp.status)
            && self.key.len() == resp.headers.len()
            && self.key.iter().zip(&resp.headers).all(|(k, h)| Self::key(h) == Some(*k))
    }

    /// Encodes the head of `resp`, and keeps it if its headers are static.
    #[inline(never)]
    fn fill(&mut self, resp: &Response, framing: (Option<usize>, bool, Version, bool), date: &[u8; 29]) {
        self.bytes.clear();
        head_start(&mut self.bytes, resp, framing);
        self.date_at = self.bytes.len();
        self.bytes.extend_from_slice(date);
        self.bytes.extend_from_slice(b"\r\n\r\n");
        self.date = *date;
        self.key.clear();
        self.valid = resp.headers.iter().all(|h| match Self::key(h) {
            Some(k) => {
                self.key.push(k);
                true
            }
            None => false,
        });
        self.status = resp.status;
        self.framing = framing;
    }
}

/// The status line, the handler's headers, `Server`, the framing and connection fields, and
/// `Date: `.
fn head_start(
    out: &mut Vec<u8>,
    resp: &Response,
    (len, keep_alive, version, chunked): (Option<usize>, bool, Version, bool),
) {
    if resp.status == 200 {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(itoa(resp.status as u64).as_bytes());
        out.push(b' ');
        out.extend_from_slice(reason(resp.status).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let mut has_server = false;
    for (name, value) in &resp.headers {
        match Managed::of(name) {
            Some(Managed::Server) => has_server = true,
            Some(Managed::ByServer) => continue,
            None => {}
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_server {
        out.extend_from_slice(b"Server: oc\r\n");
    }
    if let Some(len) = len {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa(len as u64).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"Date: ");
}

/// The status line and headers.
#[allow(clippy::too_many_arguments)]
fn head(
    out: &mut Vec<u8>,
    cache: &mut HeadCache,
    resp: (&Response, bool),
    date: &[u8; 29],
    version: Version,
    keep_alive: bool,
    len: Option<usize>,
    chunked: bool,
) {
    head_inline(out, cache, resp, date, version, keep_alive, len, chunked);
}

/// `head`, inlined where responses are usually encoded.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn head_inline(
    out: &mut Vec<u8>,
    cache: &mut HeadCache,
    (resp, fields_known): (&Response, bool),
    date: &[u8; 29],
    version: Version,
    keep_alive: bool,
    len: Option<usize>,
    chunked: bool,
) {
    let framing = (len, keep_alive, version, chunked);
    if !cache.holds(resp, fields_known, framing) {
        cache.fill(resp, framing, date);
    } else if !same_date(&cache.date, date) {
        // A new second.
        cache.bytes[cache.date_at..cache.date_at + date.len()].copy_from_slice(date);
        cache.date = *date;
    }
    out.extend_from_slice(&cache.bytes);
}

/// Whether two dates are the same, compared as four words (a slice comparison would call
/// `memcmp`).
#[inline]
fn same_date(a: &[u8; 29], b: &[u8; 29]) -> bool {
    let word = |d: &[u8; 29], at: usize| u64::from_le_bytes(d[at..at + 8].try_into().expect("eight bytes"));
    [0, 8, 16, 21].iter().all(|&at| word(a, at) == word(b, at))
}

/// Whether `status` can end an exchange: three digits, not 1xx (an interim response, RFC 9110
/// §15.2; sent as the answer, it would leave the client waiting for the final one).
#[inline]
fn final_status(status: u16) -> bool {
    (200..=999).contains(&status)
}

/// Whether a handler's response can be sent as it is: a final status, field names that are
/// tokens, field values without control characters other than tab (RFC 9110 §5.1, §5.5).
fn valid_head(resp: &Response) -> bool {
    final_status(resp.status)
        && resp.headers.iter().all(|(name, value)| {
            !name.is_empty()
                && name.bytes().all(|b| crate::head::TOKEN[b as usize])
                && value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        })
}

/// Response header fields the server treats specially.
enum Managed {
    /// `Server`: the handler's replaces the default.
    Server,
    /// `Content-Length`, `Transfer-Encoding`, `Date`, `Connection`: the server writes them.
    ByServer,
}

impl Managed {
    fn of(name: &str) -> Option<Managed> {
        // The length first: most names are none of these.
        let (managed, known) = match name.len() {
            4 => (Managed::ByServer, "date"),
            6 => (Managed::Server, "server"),
            10 => (Managed::ByServer, "connection"),
            14 => (Managed::ByServer, "content-length"),
            17 => (Managed::ByServer, "transfer-encoding"),
            _ => return None,
        };
        name.eq_ignore_ascii_case(known).then_some(managed)
    }
}

/// Decimal digits of `n` without allocating.
fn itoa(n: u64) -> Digits {
    let mut d = Digits { buf: [0; 20], at: 20 };
    let mut n = n;
    loop {
        d.at -= 1;
        d.buf[d.at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

struct Digits {
    buf: [u8; 20],
    at: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.at..]
    }
}

/// A receive buffer grown by at least this much gives its memory back to the kernel when
/// it goes.
const GIVE_BACK: usize = 1024 * 1024;

/// The bytes of a connection's receive buffer beyond the usual `READ_CHUNK`, counted in the
/// server's total (`Limits::max_body_memory`) while the connection holds them.
struct Grown<'a> {
    total: &'a std::sync::atomic::AtomicUsize,
    bytes: usize,
}

impl Grown<'_> {
    /// Counts `bytes` instead of what was counted; refuses (and counts what it did) if the
    /// total would exceed `max`.
    #[inline]
    fn set(&mut self, bytes: usize, max: usize) -> bool {
        if bytes == self.bytes {
            return true;
        }
        if bytes < self.bytes {
            self.total.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            if self.bytes >= GIVE_BACK {
                // The buffer has gone: its memory goes back to the kernel now rather than
                // stay with the allocator (which would keep a few such buffers' worth).
                crate::sys::release_free_memory();
            }
        } else {
            let more = bytes - self.bytes;
            let before = self.total.fetch_add(more, Ordering::AcqRel);
            if before.saturating_add(more) > max {
                self.total.fetch_sub(more, Ordering::AcqRel);
                return false;
            }
        }
        self.bytes = bytes;
        true
    }
}

impl Drop for Grown<'_> {
    fn drop(&mut self) {
        self.set(0, usize::MAX);
    }
}

/// The time a connection's writes have waited, and what they sent, for the minimum send
/// rate (`Limits::min_send_rate`). Only writes through `send` count: on io_uring the usual
/// batch (at most `max_output` bytes) goes out with the next read, under the write time-out
/// alone. Time is counted in the `Date` ticker's seconds (an atomic load, no clock reading):
/// a rate allowed `write_timeout` of grace is not hurt by a second more or less.
#[derive(Default)]
struct SendClock {
    /// Time spent in `send`, in whole seconds of the ticker.
    spent: u64,
    /// Bytes given to `send`.
    sent: u64,
    /// Bytes given to `send` since it last let other coroutines run.
    unyielded: u64,
}

/// A connection that has written this much without a pause lets the other coroutines of its
/// worker run (the kernel's buffers may take many MiB at once on a fast link: without it, a
/// thousand clients asking for large files would each fill theirs before anyone else is
/// answered).
const YIELD_EVERY: u64 = 256 * 1024;

/// Writes all of `data` (and flushes it, for TLS), each wait at most the write time-out, and
/// the whole no later than the minimum send rate allows: the connection's writes may have
/// waited `write_timeout` plus the time its bytes take at `min_send_rate`, in all. (Out of
/// line: the connection's loop stays small.)
#[inline(never)]
fn send<S: Transport>(stream: &mut S, clock: &mut SendClock, limits: &Limits, mut data: &[u8]) -> io::Result<()> {
    let began = crate::date::second();
    let len = data.len() as u64;
    clock.sent += len;
    let sent = clock.sent;
    let spent = clock.spent;
    // Each write waits at most the write time-out, and not past what the writes may still
    // wait in all (whole seconds); the socket's time-out is changed only when that is shorter.
    let mut shortened = false;
    let mut wait = |stream: &mut S| -> io::Result<()> {
        if limits.min_send_rate == 0 {
            return Ok(());
        }
        let grace = limits.write_timeout.as_secs() + u64::from(limits.write_timeout.subsec_nanos() > 0);
        let allowed = (grace + sent / limits.min_send_rate).saturating_sub(spent);
        let left = allowed.saturating_sub(crate::date::second().saturating_sub(began));
        if left == 0 {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the client takes its answers too slowly"));
        }
        let left = Duration::from_secs(left);
        if left < limits.write_timeout {
            let _ = stream.tcp().set_write_timeout(Some(left));
            shortened = true;
        }
        Ok(())
    };
    let result = (|| {
        // Before any wait was counted, the first write cannot need a shorter time-out.
        let mut first = spent == 0;
        while !data.is_empty() {
            if !std::mem::take(&mut first) {
                wait(stream)?;
            }
            match stream.write(data) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // TLS: the records still buffered (a plain socket has none).
        if spent > 0 {
            wait(stream)?;
        }
        stream.flush()
    })();
    if shortened {
        let _ = stream.tcp().set_write_timeout(Some(limits.write_timeout));
    }
    clock.spent += crate::date::second().saturating_sub(began);
    clock.unyielded += len;
    if clock.unyielded >= YIELD_EVERY && result.is_ok() {
        clock.unyielded = 0;
        oc_runtime::yield_now();
    }
    result
}

/// Writes `out` and then `body`, which does not fit in `max_output` with it: the body goes
/// from where it lies rather than be copied.
#[cold]
#[inline(never)]
fn send_beside<S: Transport>(
    stream: &mut S,
    clock: &mut SendClock,
    limits: &Limits,
    out: &mut Vec<u8>,
    body: &[u8],
) -> io::Result<()> {
    send(stream, clock, limits, out)?;
    out.clear();
    send(stream, clock, limits, body)
}

/// What a streamed body is written through: `send` with the connection's clock.
struct Sender<'a, S> {
    stream: &'a mut S,
    clock: &'a mut SendClock,
    limits: &'a Limits,
}

impl<S: Transport> Sender<'_, S> {
    fn send(&mut self, data: &[u8]) -> io::Result<()> {
        send(self.stream, self.clock, self.limits, data)
    }
}

impl<S: Transport> Write for Sender<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.send(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends at most the bytes a `Content-Length` announced; refuses more.
struct SizedWriter<'a, S> {
    sender: Sender<'a, S>,
    left: u64,
}

impl<S: Transport> Write for SizedWriter<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.len() as u64 > self.left {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "more bytes than the response's Content-Length"));
        }
        self.sender.send(data)?;
        self.left -= data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Chunks of a streamed body are gathered up to this size.
const CHUNK: usize = 8192;
/// Room for a chunk's size line before its data (16 hex digits and CR LF).
const SIZE_LINE: usize = 18;

/// Sends what it is given as chunks of the chunked transfer coding: small writes gathered
/// into chunks of up to `CHUNK` bytes, larger ones each a chunk of its own, sent from where
/// it lies.
struct ChunkWriter<'a, S> {
    sender: Sender<'a, S>,
    /// Room for the size line, then the data gathered (empty until the first write).
    buf: Vec<u8>,
}

impl<S: Transport> ChunkWriter<'_, S> {
    /// The size line of a chunk of `len` bytes, right-aligned in `line`; where it starts.
    fn size_line(line: &mut [u8; SIZE_LINE], len: usize) -> usize {
        let mut at = SIZE_LINE - 2;
        line[at..].copy_from_slice(b"\r\n");
        let mut n = len;
        loop {
            at -= 1;
            line[at] = b"0123456789abcdef"[n & 15];
            n >>= 4;
            if n == 0 {
                return at;
            }
        }
    }
}

impl<S: Transport> Write for ChunkWriter<'_, S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.len() >= CHUNK {
            self.flush()?;
            let mut line = [0; SIZE_LINE];
            let at = Self::size_line(&mut line, data.len());
            self.sender.send(&line[at..])?;
            self.sender.send(data)?;
            self.sender.send(b"\r\n")?;
            return Ok(data.len());
        }
        if self.buf.is_empty() {
            self.buf.reserve_exact(SIZE_LINE + CHUNK + 2);
            self.buf.resize(SIZE_LINE, 0);
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() - SIZE_LINE >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let len = self.buf.len().saturating_sub(SIZE_LINE);
        if len == 0 {
            return Ok(());
        }
        let mut line = [0; SIZE_LINE];
        let at = Self::size_line(&mut line, len);
        self.buf[at..SIZE_LINE].copy_from_slice(&line[at..]);
        self.buf.extend_from_slice(b"\r\n");
        let result = self.sender.send(&self.buf[at..]);
        self.buf.truncate(SIZE_LINE);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_head_takes_each_new_date_and_nothing_else_changes() {
        let mut cache = HeadCache::default();
        let resp = Response::text("hi");
        let first = *b"Fri, 27 Nov 2026 08:49:37 GMT";
        let framing = |out: &mut Vec<u8>, cache: &mut HeadCache, date: &[u8; 29], keep: bool| {
            out.clear();
            let known = cache.knows_fields(&resp);
            head(out, cache, (&resp, known), date, Version::Http11, keep, Some(2), false);
        };
        let mut out = Vec::new();
        framing(&mut out, &mut cache, &first, true);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("Date: Fri, 27 Nov 2026 08:49:37 GMT\r\n\r\n"),
            "{text}"
        );
        // The same head from the cache, then with each part of the date changed in turn.
        let mut again = Vec::new();
        framing(&mut again, &mut cache, &first, true);
        assert_eq!(again, out);
        for later in
            [*b"Fri, 27 Nov 2026 08:49:38 GMT", *b"Sat, 28 Nov 2026 08:49:38 GMT", *b"Sat, 28 Nov 2027 08:49:38 GMT"]
        {
            framing(&mut again, &mut cache, &later, true);
            let want = [&out[..out.len() - 33], &later[..], b"\r\n\r\n"].concat();
            assert_eq!(String::from_utf8_lossy(&again), String::from_utf8_lossy(&want));
        }
        // Other framing: encoded anew, with the date given.
        framing(&mut again, &mut cache, &first, false);
        let text = String::from_utf8(again.clone()).unwrap();
        assert!(text.contains("Connection: close\r\n") && text.ends_with("08:49:37 GMT\r\n\r\n"), "{text}");
        assert_eq!(text.matches("Date: ").count(), 1);
    }
}
