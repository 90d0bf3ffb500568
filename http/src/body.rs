//! Request bodies taken as a stream (`RequestBody`): what a streaming route
//! (`Router::streaming`) reads its request's body through, decoded from its framing
//! (`Content-Length` or chunked) as the handler asks for it, never held whole.
//!
//! # State
//!
//! A body read from the connection owns a receive buffer (`buf[pos..end]`: received bytes
//! not yet taken, which may run past the body into the next pipelined request) and walks
//! the framing: `Length` (bytes left), or for chunked `Size` → `Data` → `DataEnd` → `Size`
//! ... → `Trailers` → `Done`. The first read that needs bytes from the client sends
//! `100 Continue` if the client asked for it. Every read from the client waits at most what
//! is left of `Limits::body_timeout` plus the time the bytes received so far take at
//! `Limits::min_body_rate`.
//!
//! # Invariants
//!
//! - No byte past the body's end is ever handed to the handler: reads are bounded by what is
//!   left of the body (or the chunk), and what lies beyond stays in `buf` for the connection.
//! - The first failure (malformed framing, time-out, too large, the client gone) sticks:
//!   every later read returns the same error, and the connection answers for it (`408`,
//!   `400`, `413`, `431`) or closes, whatever the handler returned.
//!
//! # Shutdown
//!
//! 1. The handler returns (having read all, some or none of the body).
//! 2. `finish` drains up to `DRAIN_MAX` unread bytes so the connection can carry the next
//!    request; a body with more left, or one whose client still waits for `100 Continue`,
//!    makes the connection close after the response.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use crate::Limits;
use crate::conn::Transport;
use crate::parse::{Framing, MAX_TRAILERS, chunk_line, has_bare_lf};

/// Unread body bytes a connection reads and discards after the handler to stay open; a body
/// with more left closes the connection instead.
pub(crate) const DRAIN_MAX: u64 = 256 * 1024;

/// A handler's read into a buffer at least this large takes body bytes straight from the
/// socket when none are waiting in the body's own buffer (no copy).
const DIRECT: usize = 4096;

/// The body of a request, read as it arrives: `impl Read`.
///
/// A streaming route's handler (`Router::streaming`) gets one; reading it takes the body
/// from the client piece by piece, in bounded memory, with the framing (`Content-Length` or
/// chunked, trailers read and dropped) removed. `read` returns `Ok(0)` at the body's end and
/// an error if the body cannot be had (time-out: `TimedOut`; the client closed:
/// `UnexpectedEof`; malformed or too large: `InvalidData`); after an error the server
/// answers the request itself (`408`, `400`, `413`) or closes the connection, whatever the
/// handler returns.
///
/// A handler that does not read it all is fine: the server reads and drops up to 256 KiB of
/// what is left so the connection stays open, and closes the connection after the response
/// when more is left (or when the client waits for `100 Continue` and the handler never
/// read, so never asked for the body).
///
/// ```
/// use std::io::Read;
/// use oc_http::{Request, RequestBody, Response, Router};
///
/// let router = Router::new().streaming(Some("POST"), "/count", |_: &Request, body: &mut RequestBody<'_>| {
///     let mut n = 0u64;
///     let mut buf = [0u8; 8192];
///     loop {
///         match body.read(&mut buf) {
///             Ok(0) => return Response::text(format!("{n} bytes")),
///             Ok(k) => n += k as u64,
///             Err(e) => return Response::new(400).body(e.to_string()),
///         }
///     }
/// });
/// // A body already in memory (as when dispatching by hand) reads the same way.
/// let resp = router.dispatch(&mut Request::new("POST", "/count").with_body("hello"));
/// assert_eq!(resp.status_code(), 200);
/// ```
pub struct RequestBody<'a> {
    source: Source<'a>,
    /// Received bytes: `buf[pos..end]` not yet taken (a body from the connection only).
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    state: State,
    /// Body bytes handed out so far.
    taken: u64,
    failure: Option<Failure>,
}

impl std::fmt::Debug for RequestBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBody")
            .field("content_length", &self.content_length())
            .field("chunked", &self.is_chunked())
            .field("taken", &self.taken)
            .field("finished", &self.is_finished())
            .finish()
    }
}

enum Source<'a> {
    /// A body already received whole: the bytes not yet taken.
    Memory { rest: &'a [u8], len: u64 },
    /// A body still arriving on the connection.
    Wire(Wire<'a>),
}

/// The connection a body arrives on, and how long it may take.
struct Wire<'a> {
    io: &'a mut dyn Transport,
    framing: Framing,
    /// The client waits for `100 Continue` before it sends the body, which has not been
    /// sent yet.
    owe_continue: bool,
    /// When the handler began (the body's clock).
    started: Instant,
    timeout: Duration,
    /// `timeout` bounds each read rather than the whole body.
    per_read: bool,
    min_rate: u64,
    max_len: u64,
    max_trailers: usize,
    /// Bytes read from the client for this body (framing included).
    read: u64,
}

/// Where decoding the framing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `Content-Length`: this many bytes left.
    Length { left: u64 },
    /// Chunked: a chunk-size line is next.
    Size,
    /// Chunked: this many bytes of the current chunk are left.
    Data { left: u64 },
    /// Chunked: the CR LF after a chunk's data is next.
    DataEnd,
    /// Chunked: the trailer section (and the empty line that ends it) is next.
    Trailers,
    /// The whole body has been taken.
    Done,
}

/// Why a body could not be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// It did not arrive in time.
    TimedOut,
    /// Its framing is malformed.
    Malformed,
    /// It is larger than `Limits::max_streamed_body`.
    TooLarge,
    /// Its trailer section is larger than `Limits::max_head`, or has too many fields.
    TrailersTooLarge,
    /// The client closed the connection, or it failed.
    Gone,
}

impl Failure {
    /// The status the server answers with (`None`: it closes the connection unanswered).
    pub(crate) fn status(self) -> Option<u16> {
        match self {
            Failure::TimedOut => Some(408),
            Failure::Malformed => Some(400),
            Failure::TooLarge => Some(413),
            Failure::TrailersTooLarge => Some(431),
            Failure::Gone => None,
        }
    }

    fn error(self) -> io::Error {
        match self {
            Failure::TimedOut => io::Error::new(io::ErrorKind::TimedOut, "the request body did not arrive in time"),
            Failure::Malformed => io::Error::new(io::ErrorKind::InvalidData, "the request body's framing is malformed"),
            Failure::TooLarge => io::Error::new(io::ErrorKind::InvalidData, "the request body is larger than allowed"),
            Failure::TrailersTooLarge => {
                io::Error::new(io::ErrorKind::InvalidData, "the request body's trailer section is too large")
            }
            Failure::Gone => io::Error::new(io::ErrorKind::UnexpectedEof, "the client closed before the body's end"),
        }
    }
}

/// What is left of a body from the connection once its handler is done with it.
pub(crate) struct Finished {
    /// The body's receive buffer: `buf[pos..end]` is what the client sent after the body.
    pub(crate) buf: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) end: usize,
    pub(crate) outcome: Outcome,
}

/// How a body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Read to its end: the connection may carry another request.
    Complete,
    /// Not read to its end: the connection closes after the response.
    Unread,
    /// It could not be had.
    Failed(Failure),
}

impl<'a> RequestBody<'a> {
    /// A body already in memory (for testing a streaming handler, or calling it with a
    /// buffered request).
    pub fn from_slice(data: &'a [u8]) -> RequestBody<'a> {
        RequestBody {
            source: Source::Memory { rest: data, len: data.len() as u64 },
            buf: Vec::new(),
            pos: 0,
            end: 0,
            state: State::Length { left: data.len() as u64 },
            taken: 0,
            failure: None,
        }
    }

    /// A body arriving on `io` with `framing`, whose first bytes are `buf[..received]`.
    pub(crate) fn wire(
        io: &'a mut dyn Transport,
        buf: Vec<u8>,
        received: usize,
        framing: Framing,
        expect_continue: bool,
        limits: &Limits,
    ) -> RequestBody<'a> {
        let state = match framing {
            Framing::Length(n) => State::Length { left: n },
            Framing::Chunked => State::Size,
        };
        RequestBody {
            source: Source::Wire(Wire {
                io,
                framing,
                owe_continue: expect_continue,
                started: Instant::now(),
                timeout: limits.body_timeout,
                per_read: false,
                min_rate: limits.min_body_rate,
                max_len: limits.max_streamed_body,
                max_trailers: limits.max_head,
                read: 0,
            }),
            buf,
            pos: 0,
            end: received,
            state,
            taken: 0,
            failure: None,
        }
    }

    /// A response body arriving from an upstream server on `io` (`proxy`), whose first
    /// bytes are `buf[..received]`: each read waits at most `read_timeout`; a trailer
    /// section may take `max_trailers` bytes.
    pub(crate) fn upstream(
        io: &'a mut dyn Transport,
        buf: Vec<u8>,
        received: usize,
        framing: Framing,
        read_timeout: Duration,
        max_trailers: usize,
    ) -> RequestBody<'a> {
        let limits = Limits {
            body_timeout: read_timeout,
            max_streamed_body: u64::MAX,
            max_head: max_trailers,
            ..Default::default()
        };
        let mut body = RequestBody::wire(io, buf, received, framing, false, &limits);
        if let Source::Wire(w) = &mut body.source {
            w.per_read = true;
        }
        body
    }

    /// The body's length if it is known before it is read (`Content-Length`, or a body in
    /// memory); `None` for a chunked body.
    pub fn content_length(&self) -> Option<u64> {
        match &self.source {
            Source::Memory { len, .. } => Some(*len),
            Source::Wire(w) => match w.framing {
                Framing::Length(n) => Some(n),
                Framing::Chunked => None,
            },
        }
    }

    /// Whether the body arrives with the chunked transfer coding.
    pub fn is_chunked(&self) -> bool {
        matches!(&self.source, Source::Wire(w) if w.framing == Framing::Chunked)
    }

    /// Whether the whole body has been read.
    pub fn is_finished(&self) -> bool {
        match self.state {
            State::Done => true,
            State::Length { left } => left == 0,
            _ => false,
        }
    }

    /// Body bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.taken
    }

    /// Reads up to `max` unread bytes and drops them, then gives back the receive buffer and
    /// says how the body ended (see the module's `# Shutdown`).
    pub(crate) fn finish(mut self, max: u64) -> Finished {
        let outcome = self.drain(max);
        Finished { buf: std::mem::take(&mut self.buf), pos: self.pos, end: self.end, outcome }
    }

    fn drain(&mut self, max: u64) -> Outcome {
        if let Some(failure) = self.failure {
            return Outcome::Failed(failure);
        }
        if self.is_finished() {
            return Outcome::Complete;
        }
        // The client waits for our word before it sends the body, and the handler never
        // asked for it: the body never comes, and the connection cannot carry another request.
        if matches!(&self.source, Source::Wire(w) if w.owe_continue) {
            return Outcome::Unread;
        }
        let mut scratch = [0u8; 4096];
        let mut drained = 0u64;
        while drained <= max {
            match self.take(&mut scratch) {
                Ok(0) => return Outcome::Complete,
                Ok(n) => drained += n as u64,
                Err(failure) => {
                    self.failure = Some(failure);
                    return Outcome::Failed(failure);
                }
            }
        }
        Outcome::Unread
    }

    /// The next body bytes into `out` (`0`: the body's end).
    fn take(&mut self, out: &mut [u8]) -> Result<usize, Failure> {
        loop {
            match self.state {
                State::Done => return Ok(0),
                State::Length { left: 0 } => {
                    self.state = State::Done;
                }
                State::Data { left: 0 } => {
                    self.state = State::DataEnd;
                }
                State::Length { left } | State::Data { left } => {
                    let want = (out.len() as u64).min(left) as usize;
                    let n = if let Source::Memory { rest, .. } = &mut self.source {
                        out[..want].copy_from_slice(&rest[..want]);
                        *rest = &rest[want..];
                        want
                    } else if self.pos < self.end {
                        let n = want.min(self.end - self.pos);
                        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                        self.pos += n;
                        n
                    } else if want >= DIRECT {
                        self.on_wire()?.read(&mut out[..want])?
                    } else {
                        self.fill()?;
                        continue;
                    };
                    self.state = match self.state {
                        State::Length { left } => State::Length { left: left - n as u64 },
                        _ => State::Data { left: left - n as u64 },
                    };
                    self.taken += n as u64;
                    return Ok(n);
                }
                State::Size => match chunk_line(&self.buf[self.pos..self.end]) {
                    Err(_) => return Err(Failure::Malformed),
                    Ok(None) => self.fill()?,
                    Ok(Some((line, 0))) => {
                        self.pos += line;
                        self.state = State::Trailers;
                    }
                    Ok(Some((line, size))) => {
                        self.pos += line;
                        if self.taken.saturating_add(size) > self.on_wire()?.max_len {
                            return Err(Failure::TooLarge);
                        }
                        self.state = State::Data { left: size };
                    }
                },
                State::DataEnd => {
                    if self.end - self.pos < 2 {
                        self.fill()?;
                        continue;
                    }
                    if &self.buf[self.pos..self.pos + 2] != b"\r\n" {
                        return Err(Failure::Malformed);
                    }
                    self.pos += 2;
                    self.state = State::Size;
                }
                State::Trailers => {
                    let max = self.on_wire()?.max_trailers;
                    let section = &self.buf[self.pos..self.end];
                    // As the buffered parser reads them (`parse::dechunk`): only the first
                    // `max + 1` bytes, every line ending with CR LF.
                    let seen = &section[..section.len().min(max.saturating_add(1))];
                    if has_bare_lf(seen) {
                        return Err(Failure::Malformed);
                    }
                    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
                    match httparse::parse_headers(seen, &mut fields) {
                        Ok(httparse::Status::Complete((n, _))) if n <= max => {
                            self.pos += n;
                            self.state = State::Done;
                        }
                        Ok(httparse::Status::Complete(_)) => return Err(Failure::TrailersTooLarge),
                        Ok(httparse::Status::Partial) if seen.len() > max => return Err(Failure::TrailersTooLarge),
                        Ok(httparse::Status::Partial) => self.fill()?,
                        Err(httparse::Error::TooManyHeaders) => return Err(Failure::TrailersTooLarge),
                        Err(_) => return Err(Failure::Malformed),
                    }
                }
            }
        }
    }

    fn on_wire(&mut self) -> Result<&mut Wire<'a>, Failure> {
        match &mut self.source {
            Source::Wire(w) => Ok(w),
            // A body in memory is read through `State::Length` alone.
            Source::Memory { .. } => Err(Failure::Malformed),
        }
    }

    /// Reads more of what the client sent into `buf` (room made by moving what is left to
    /// the front, or by growing the buffer for a long trailer section).
    fn fill(&mut self) -> Result<(), Failure> {
        if self.pos == self.end {
            (self.pos, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            } else {
                // A line longer than the buffer: only the trailer section may be (a
                // chunk-size line is refused past `MAX_CHUNK_LINE`), up to `max_head`.
                let size = (self.buf.len() * 2).max(4096);
                self.buf.resize(size, 0);
            }
        }
        let Source::Wire(wire) = &mut self.source else {
            return Err(Failure::Gone);
        };
        let n = wire.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(())
    }
}

impl Wire<'_> {
    /// Reads what the client sent into `into` (at least a byte; none is `Gone`), sending
    /// `100 Continue` first if it is owed, within what is left of the body's time.
    fn read(&mut self, into: &mut [u8]) -> Result<usize, Failure> {
        if self.owe_continue {
            self.owe_continue = false;
            self.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").map_err(|_| Failure::Gone)?;
            self.io.flush().map_err(|_| Failure::Gone)?;
        }
        let allowed = if self.per_read {
            self.started = Instant::now();
            self.timeout
        } else if self.min_rate == 0 {
            self.timeout
        } else {
            self.timeout.saturating_add(Duration::from_secs_f64(self.read as f64 / self.min_rate as f64))
        };
        let left = match (self.started + allowed).checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => left,
            _ => return Err(Failure::TimedOut),
        };
        let _ = self.io.tcp().set_read_timeout(Some(left));
        loop {
            return match self.io.read(into) {
                Ok(0) => Err(Failure::Gone),
                Ok(n) => {
                    self.read += n as u64;
                    Ok(n)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => {
                    Err(Failure::TimedOut)
                }
                Err(_) => Err(Failure::Gone),
            };
        }
    }
}

impl Read for RequestBody<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(failure) = self.failure {
            return Err(failure.error());
        }
        if out.is_empty() {
            return Ok(0);
        }
        self.take(out).map_err(|failure| {
            self.failure = Some(failure);
            failure.error()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_in_memory_reads_whole_and_then_ends() {
        let mut body = RequestBody::from_slice(b"hello world");
        assert_eq!(body.content_length(), Some(11));
        assert!(!body.is_chunked() && !body.is_finished());
        let mut first = [0u8; 5];
        assert_eq!(body.read(&mut first).unwrap(), 5);
        assert_eq!(&first, b"hello");
        let mut rest = Vec::new();
        body.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b" world");
        assert!(body.is_finished());
        assert_eq!(body.bytes_read(), 11);
        assert_eq!(body.read(&mut first).unwrap(), 0);
    }
}
