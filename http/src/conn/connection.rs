//! A connection's state and its serve loop: read, parse every complete request (pipelining),
//! answer each in order into one buffer, write the batch with one call, repeat.
//!
//! # State
//!
//! - `req.buf[start..end]`: bytes received and not yet answered; the rest of `req.buf` is
//!   room to read into. The buffer is taken from the thread's spares when bytes arrive and
//!   given back once everything received has been answered.
//! - `out`: answers encoded and not yet sent (taken from the spares for a batch).
//! - `phase`: what the connection holds of the request it is receiving (`Phase`), which
//!   decides the time-out of the next wait.
//! - `state` (shared with the server): `IDLE` while the connection may be closed by a
//!   shutdown (nothing received and unanswered), `BUSY` otherwise, `CLOSING` once the server
//!   closes it.
//!
//! # Shutdown
//!
//! 1. Between requests, with its answers sent or handed to the next wait, the connection
//!    turns `BUSY` to `IDLE` (`may_wait_idle`); it closes instead if the server has marked
//!    it `CLOSING` or is stopping.
//! 2. Bytes arriving turn it `IDLE` to `BUSY` before they are taken from the socket
//!    (`claim`): a shutdown sees either the bytes still waiting there or the connection
//!    busy, and never closes it with a request read but unanswered.
//! 3. A response decided after a shutdown began says `Connection: close`.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use oc_net::Exchange;

use super::encode::{HeadCache, refuse};
use super::pool::{recycle_in, recycle_out, spare_in, spare_out};
use super::recv::{Grown, READ_CHUNK};
use super::role::Streamed;
use super::transport::Transport;
use super::write::{SendClock, send};
use super::{BUSY, IDLE};
use crate::parse::{HeadAlone, Parse, Parser};
use crate::server::Shared;
use crate::{Limits, Request};

/// What a connection holds of the request it is receiving, which decides how long it waits
/// for more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing: it waits for a next request, at most the idle time-out.
    Idle,
    /// Part of a head, the first byte received by `since`: the head's time-out runs.
    Head { since: Instant },
    /// A whole head and part of its body, the first byte received by `since`: the body's
    /// time-out runs.
    Body { since: Instant },
}

/// How answering what the buffer holds ended.
enum Batch {
    /// Every request received was answered.
    Drained,
    /// Part of a request is left in the buffer; `head_done`: its head is whole.
    Partial { head_done: bool },
    /// The connection closes once what `out` holds is sent.
    Close,
    /// The connection closes now.
    Gone,
}

/// One connection being served. `STREAMS`: whether the router has streaming routes (the
/// loop is compiled twice; without them, the check for one is not there at all: a flag
/// looked at per request cost the plaintext path about 5% of its instructions).
///
/// The fields drop in order: buffers first, then the count of grown memory, the stream last.
pub(super) struct Connection<'a, S, const STREAMS: bool> {
    pub(super) server: &'a Shared,
    pub(super) limits: &'a Limits,
    /// Shared with the server: `IDLE`, `BUSY` or `CLOSING`.
    state: &'a AtomicU8,
    pub(super) clock: SendClock,
    pub(super) cache: HeadCache,
    /// Answers not yet sent.
    pub(super) out: Vec<u8>,
    /// What parsing keeps from one request to the next (used with `req` only).
    parser: Parser,
    /// The request being answered; `req.buf` is the receive buffer.
    pub(super) req: Request,
    /// `req.buf[start..end]` holds received bytes not yet answered.
    start: usize,
    end: usize,
    /// What the connection holds of the request it is receiving.
    phase: Phase,
    /// Whether `100 Continue` went out for the request being received.
    sent_continue: bool,
    /// Whether the request being received may yet be one whose route takes its body as a
    /// stream (until its route is found to take its body whole).
    stream_check: bool,
    /// The most the receive buffer may grow to.
    max_buf: usize,
    /// The part of the receive buffer beyond the usual size, counted against the server's
    /// `max_body_memory`.
    grown: Grown<'a>,
    pub(super) stream: S,
}

impl<'a, S: Transport, const STREAMS: bool> Connection<'a, S, STREAMS> {
    /// A connection over `stream`, just accepted, with nothing received.
    pub(super) fn new(stream: S, server: &'a Shared, state: &'a AtomicU8) -> Self {
        let _ = stream.tcp().set_nodelay(true);
        let _ = stream.tcp().set_write_timeout(Some(server.limits.write_timeout));
        let mut req = Request::empty();
        req.peer = stream.tcp().peer_addr().ok();
        req.secure = stream.secure();
        req.buf = Vec::new();
        // Bounded so that positions fit a span's `u32`. A chunked body's framing (sizes,
        // extensions, trailers) may add a quarter of the body.
        let limits = &server.limits;
        let max_buf = limits
            .max_head
            .saturating_add(limits.max_body.saturating_add(limits.max_body / 4))
            .saturating_add(READ_CHUNK)
            .min(u32::MAX as usize);
        Connection {
            server,
            limits,
            state,
            clock: SendClock::default(),
            cache: HeadCache::default(),
            out: Vec::new(),
            parser: Parser::default(),
            req,
            start: 0,
            end: 0,
            phase: Phase::Idle,
            sent_continue: false,
            stream_check: STREAMS,
            max_buf,
            grown: Grown::new(&server.body_memory),
            stream,
        }
    }

    /// Serves the connection until the client closes it, a limit or time-out ends it, or
    /// the server shuts down.
    pub(super) fn run(mut self) {
        loop {
            let head_done = match self.answer_received() {
                Batch::Drained => None,
                Batch::Partial { head_done } => Some(head_done),
                Batch::Close => return self.close(),
                Batch::Gone => return,
            };
            // The answers in `out` go out with the next read when that is one step whose
            // write a shutdown does not interrupt (`receive`); otherwise now, while the
            // connection still counts as busy.
            if !self.out.is_empty() && !self.stream.one_step() {
                if send(&mut self.stream, &mut self.clock, self.limits, &self.out).is_err() {
                    return;
                }
                self.out.clear();
            }
            if self.out.is_empty() && self.out.capacity() > 0 {
                recycle_out(std::mem::take(&mut self.out));
            }
            if let Some(head_done) = head_done {
                self.receiving(head_done);
            }
            self.compact();
            if self.end == 0 {
                // Between requests (once the answers are sent): the server may close us now.
                if !self.may_wait_idle() {
                    return self.close();
                }
                // Nothing of a next request received: the buffer goes back to this thread's
                // spares while the connection waits, and one is taken when bytes arrive (an
                // idle connection holds none, and the kernel copies into memory the cache
                // holds).
                recycle_in(std::mem::take(&mut self.req.buf));
                self.grown.set(0, usize::MAX);
            }
            if !self.receive() {
                return;
            }
        }
    }

    /// Answers every complete request in the buffer (one clock reading for the batch).
    #[inline(always)]
    fn answer_received(&mut self) -> Batch {
        let date = crate::date::now();
        if self.start < self.end && self.out.capacity() == 0 {
            self.out = spare_out();
        }
        loop {
            if self.start == self.end {
                return Batch::Drained;
            }
            let streams = STREAMS && self.stream_check;
            match self.parser.parse_streaming(&mut self.req, self.start, self.end, self.limits, streams) {
                Ok(Parse::Done(used)) => {
                    self.start += used;
                    self.request_done();
                    let server = self.server;
                    match self.answer(&date, |req: &mut Request| server.router.dispatch(req)) {
                        // Answers past the limit are written before any further request is
                        // answered: whatever the client sends, a connection holds at most
                        // `max_output` bytes of them (and one response head).
                        Ok(true) if self.out.len() >= self.limits.max_output => {
                            if send(&mut self.stream, &mut self.clock, self.limits, &self.out).is_err() {
                                return Batch::Gone;
                            }
                            self.out.clear();
                        }
                        Ok(true) => {}
                        Ok(false) | Err(_) => return Batch::Close,
                    }
                }
                Ok(Parse::Head) => {
                    let HeadAlone { head_end, expect_continue, framing } = self.parser.head_alone();
                    let Some(handler) = self.server.router.streamed(&mut self.req) else {
                        // Its route takes the body whole: parsed again, as usual.
                        self.stream_check = false;
                        continue;
                    };
                    self.request_done();
                    let body = Streamed { handler, head_end, end: self.end, expect_continue, framing };
                    let Some(fresh) = self.answer_streamed(body) else {
                        return Batch::Gone;
                    };
                    // What the client sent after the body, at the buffer's front.
                    let old = std::mem::replace(&mut self.req.buf, fresh.buf);
                    recycle_in(old);
                    self.grown.set(self.req.buf.len().saturating_sub(READ_CHUNK), usize::MAX);
                    (self.start, self.end) = (0, fresh.len);
                }
                Ok(Parse::Need { head_done, expect_continue }) => {
                    if head_done && expect_continue && !self.sent_continue {
                        self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                        self.sent_continue = true;
                    }
                    return Batch::Partial { head_done };
                }
                Err(status) => {
                    refuse(&mut self.out, status);
                    return Batch::Close;
                }
            }
        }
    }

    /// A request has been taken from the buffer whole (or its head, for a streamed body):
    /// the next one starts afresh.
    #[inline(always)]
    fn request_done(&mut self) {
        self.phase = Phase::Idle;
        self.sent_continue = false;
        self.stream_check = STREAMS;
    }

    /// A partial request waits in the buffer (its head whole or not): its clock starts now
    /// if it has not yet.
    fn receiving(&mut self, head_done: bool) {
        let since = match self.phase {
            Phase::Idle => Instant::now(),
            Phase::Head { since } | Phase::Body { since } => since,
        };
        self.phase = if head_done { Phase::Body { since } } else { Phase::Head { since } };
    }

    /// Keeps only the unanswered bytes, at the buffer's front; a buffer grown for a large
    /// request goes once what is left of it fits in one of the usual size (with none left,
    /// `run` gives it back).
    fn compact(&mut self) {
        let (start, end) = (self.start, self.end);
        if start > 0 {
            self.req.buf.copy_within(start..end, 0);
            self.end -= start;
            self.start = 0;
        }
        let end = self.end;
        if self.req.buf.len() > READ_CHUNK && end > 0 && end <= READ_CHUNK / 2 {
            let mut usual = spare_in();
            usual[..end].copy_from_slice(&self.req.buf[..end]);
            self.req.buf = usual;
            self.grown.set(0, usize::MAX);
        }
    }

    /// Turns the connection from busy to idle; `false` if the server is closing it (or
    /// stopping), and the connection must close.
    #[inline]
    fn may_wait_idle(&self) -> bool {
        self.state.compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok()
            && !self.server.closes_idle()
    }

    /// Whether the connection is idle (it waits for a next request).
    #[inline]
    fn is_idle(&self) -> bool {
        self.state.load(Ordering::Acquire) == IDLE
    }

    /// Turns an idle connection busy; `false` if the server closes it meanwhile.
    #[inline]
    fn claim(&self) -> bool {
        self.state.compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Sends what `out` holds, if it can, before the connection closes.
    fn close(&mut self) {
        let _ = send(&mut self.stream, &mut self.clock, self.limits, &self.out);
    }

    /// Adds a refusal with `status` to `out` and closes.
    fn refuse_and_close(&mut self, status: u16) {
        refuse(&mut self.out, status);
        self.close();
    }

    /// Sends the answers in `out` (with the wait, where the transport does both in one
    /// step) and waits for more bytes of a request, within the time-out of the phase;
    /// `false` when the connection must close (the client closed it, a time-out or limit
    /// ended it, or the server closes it).
    fn receive(&mut self) -> bool {
        let limits = self.limits;
        // The second in which the connection begins to wait (an atomic load, not a clock
        // reading): a wait that ends early goes on for what is left of its time.
        let waiting_from = crate::date::second();
        let mut woken_early = false;
        let read = loop {
            let timeout = match self.phase {
                // Idle: the whole idle time-out from now (the socket reads the clock).
                Phase::Idle if !woken_early => limits.idle_timeout,
                // Idle, after a wait that ended early (rare: the runtime's timer for an
                // earlier wait of this coroutine, due sooner, wakes it): what is left of the
                // time-out, counted from the end of the second the wait began in (so at most
                // a second more), not all of it again, which could make it nearly twice as
                // long.
                Phase::Idle => match limits.idle_timeout.checked_sub(crate::date::since_end_of(waiting_from)) {
                    Some(left) if !left.is_zero() => left,
                    // Its answers went out with the first wait.
                    _ => return false,
                },
                // A request under way: what is left of its time.
                Phase::Head { since } | Phase::Body { since } => {
                    let allowed = if matches!(self.phase, Phase::Body { .. }) {
                        limits.body_timeout
                    } else {
                        limits.header_timeout
                    };
                    match (since + allowed).checked_duration_since(Instant::now()) {
                        Some(left) if !left.is_zero() => left,
                        _ => {
                            self.refuse_and_close(408);
                            return false;
                        }
                    }
                }
            };
            if timeout.is_zero() {
                // An idle time-out of zero: connections close as soon as they are idle.
                self.close();
                return false;
            }
            let _ = self.stream.tcp().set_read_timeout(Some(timeout));
            let waited = if self.out.is_empty() {
                self.stream.write_all_then_wait(&[])
            } else {
                let waited = self.stream.write_all_then_wait(&self.out);
                recycle_out(std::mem::take(&mut self.out));
                waited
            };
            match waited {
                Exchange::Done(()) => {}
                Exchange::ReadFailed(e) => break Err(e),
                // The answers could not be sent: the connection is of no further use.
                Exchange::WriteFailed(_) => return false,
            }
            if !self.make_room() {
                return false;
            }
            // Bytes arrived for an idle connection: it is busy from now, before it takes
            // them from the socket (see `# Shutdown`).
            let claimed = self.stream.waits_for_bytes() && self.is_idle();
            if claimed && !self.claim() {
                return false;
            }
            match self.stream.read_ready(&mut self.req.buf[self.end..]) {
                // The wait ended early: wait again, for what is left of its time (idle
                // again, unless the server is stopping).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    woken_early = true;
                    if claimed && !self.may_wait_idle() {
                        return false;
                    }
                }
                read => break read,
            }
        };
        match read {
            Ok(0) => false,
            Ok(n) => {
                // A request left partial by this read starts its clock once parsed.
                self.end += n;
                // (A transport that waits for bytes was claimed busy before this read.)
                self.stream.waits_for_bytes() || !self.is_idle() || self.claim()
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                if self.phase != Phase::Idle {
                    self.refuse_and_close(408);
                }
                false
            }
            Err(_) => false,
        }
    }

    /// Takes a receive buffer if the connection holds none, and grows it if less than a
    /// quarter of the usual size is left to read into; `false` (with a refusal sent) if the
    /// request under way may not have more.
    fn make_room(&mut self) -> bool {
        let (end, limits) = (self.end, self.limits);
        if self.req.buf.is_empty() {
            self.req.buf = spare_in();
        }
        if self.req.buf.len() - end < READ_CHUNK / 4 {
            if end + READ_CHUNK / 4 > self.max_buf {
                // The request under way is larger than the limits admit, yet not refused by
                // the parser (a chunked body mostly of framing): too large all the same.
                self.refuse_and_close(if matches!(self.phase, Phase::Body { .. }) { 413 } else { 431 });
                return false;
            }
            let size = (self.req.buf.len() * 2).min(self.max_buf).max(end + READ_CHUNK / 4);
            if !self.grown.set(size - READ_CHUNK, limits.max_body_memory) {
                // The server holds as much of large requests as it may: not this one.
                self.refuse_and_close(503);
                return false;
            }
            // Exactly: the buffer's size is what bounds the connection's memory.
            self.req.buf.reserve_exact(size - self.req.buf.len());
            self.req.buf.resize(size, 0);
        }
        true
    }
}
