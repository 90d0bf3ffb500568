//! What a server does with a parsed request: call its handler (a panic answers 500), check
//! the response, decide the response's framing and whether the connection stays open, and
//! encode or stream the response; and the same for a request whose handler takes its body
//! as a stream.

use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::connection::Connection;
use super::encode::{BodyLength, ChunkWriter, Framing, SizedWriter, refuse, valid_head};
use super::pool::spare_in;
use super::transport::Transport;
use super::write::{Sender, send, send_beside};
use crate::body::{DRAIN_MAX, Finished, Outcome, RequestBody};
use crate::parse::Framing as BodyFraming;
use crate::response::Body;
use crate::router::StreamHandler;
use crate::{Request, Response, Version};

/// A request whose handler takes its body as a stream: the handler, and where the body's
/// first bytes lie in the connection's buffer (`head_end..end`) and how it is framed.
pub(super) struct Streamed {
    pub(super) handler: std::sync::Arc<dyn StreamHandler>,
    pub(super) head_end: usize,
    pub(super) end: usize,
    pub(super) expect_continue: bool,
    pub(super) framing: BodyFraming,
}

/// A receive buffer whose first `len` bytes are what the client sent after a streamed body.
pub(super) struct Leftover {
    pub(super) buf: Vec<u8>,
    pub(super) len: usize,
}

/// Calls `call`, the handler; a panic other than a cancellation answers 500.
#[inline(always)]
fn call_handler(req: &mut Request, call: impl FnOnce(&mut Request) -> Response) -> Response {
    match catch_unwind(AssertUnwindSafe(|| call(req))) {
        Ok(r) => r,
        Err(payload) => {
            if oc_runtime::task::is_cancellation(&*payload) {
                std::panic::resume_unwind(payload);
            }
            Response::error(500)
        }
    }
}

impl<S: Transport, const STREAMS: bool> Connection<'_, S, STREAMS> {
    /// Answers a request whose handler takes its body as a stream: the answers before it are
    /// sent first (a `100 Continue` goes straight to the client), the handler reads what it
    /// wants of the body, what it left is drained (or the connection closes), and its
    /// response is sent. Returns the receive buffer to go on with, or `None` when the
    /// connection closes.
    #[cold]
    #[inline(never)]
    pub(super) fn answer_streamed(&mut self, body: Streamed) -> Option<Leftover> {
        let limits = self.limits;
        if !self.out.is_empty() {
            send(&mut self.stream, &mut self.clock, limits, &self.out).ok()?;
            self.out.clear();
        }
        if matches!(body.framing, BodyFraming::Length(n) if n > limits.max_streamed_body) {
            refuse(&mut self.out, 413);
            let _ = send(&mut self.stream, &mut self.clock, limits, &self.out);
            return None;
        }
        let received = body.end - body.head_end;
        let mut buf = spare_in();
        if buf.len() < received {
            buf.resize(received, 0);
        }
        buf[..received].copy_from_slice(&self.req.buf[body.head_end..body.end]);
        let mut reader = RequestBody::wire(&mut self.stream, buf, received, body.framing, body.expect_continue, limits);
        let handler = &body.handler;
        let resp = call_handler(&mut self.req, |req: &mut Request| handler.call(req, &mut reader));
        let Finished { mut buf, pos, end, outcome } = reader.finish(DRAIN_MAX);
        match outcome {
            Outcome::Complete => {}
            // The rest of the body is still on its way (or never comes): nothing after it can
            // be read as a request.
            Outcome::Unread => self.req.connection |= crate::request::CLOSE,
            Outcome::Failed(failure) => {
                if let Some(status) = failure.status() {
                    refuse(&mut self.out, status);
                    let _ = send(&mut self.stream, &mut self.clock, limits, &self.out);
                }
                return None;
            }
        }
        let date = crate::date::now();
        let keep = self.answer(&date, |_: &mut Request| resp);
        if !self.out.is_empty() {
            send(&mut self.stream, &mut self.clock, limits, &self.out).ok()?;
            self.out.clear();
        }
        if !matches!(keep, Ok(true)) {
            return None;
        }
        buf.copy_within(pos..end, 0);
        Some(Leftover { buf, len: end - pos })
    }

    /// Calls the handler (`call`) and encodes the response into `out` (or streams it);
    /// returns whether the connection stays open.
    #[inline(always)]
    pub(super) fn answer(&mut self, date: &[u8; 29], call: impl FnOnce(&mut Request) -> Response) -> io::Result<bool> {
        let limits = self.limits;
        let is_head = self.req.is_head();
        let version = self.req.version;
        let mut resp = call_handler(&mut self.req, call);
        // A head this connection has sent before is known to be valid; any other is checked
        // (CR or LF in a value would let a handler's input forge fields or responses).
        let known = self.cache.knows_fields(&resp);
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
        let keep_alive = self.req.keep_alive() && !self.server.stopping();
        // No content in these (a 1xx never gets here, see `valid_head`). A 204 or 304 ends at
        // its head (RFC 9112 §6.3); a 205 must not have content either (RFC 9110 §15.3.6), but
        // its status does not end it, so it says so with `Content-Length: 0`.
        let no_body = matches!(resp.status, 204 | 205 | 304);
        let (stream, clock, out) = (&mut self.stream, &mut self.clock, &mut self.out);
        match resp.body {
            Body::Stream(_) if !no_body => {
                // Chunked to an HTTP/1.1 client; to an HTTP/1.0 one, delimited by the close.
                let chunked = version == Version::Http11;
                let keep_alive = keep_alive && chunked;
                let length = if chunked { BodyLength::Chunked } else { BodyLength::CloseDelimited };
                self.cache.encode(out, &resp, known, date, Framing { length, version, keep_alive });
                send(stream, clock, limits, out)?;
                out.clear();
                if is_head {
                    return Ok(keep_alive);
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
                Ok(keep_alive)
            }
            Body::Sized(len, _) if !no_body => {
                let framing = Framing { length: BodyLength::Known(len as usize), version, keep_alive };
                self.cache.encode(out, &resp, known, date, framing);
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
                let framing = Framing { length: BodyLength::Known(file.len as usize), version, keep_alive };
                self.cache.encode(out, &resp, known, date, framing);
                if is_head {
                    return Ok(keep_alive);
                }
                let Body::File(file) = resp.body else { unreachable!() };
                if !stream.secure() && crate::sendfile::inline_small_file(out, &file, limits.max_output) {
                    // Sent with the connection's other answers.
                    return Ok(keep_alive);
                }
                clock.sent += crate::sendfile::send_file(stream, out, *file, limits, |s, d| send(s, clock, limits, d))?;
                Ok(keep_alive)
            }
            ref body => {
                let bytes: &[u8] = match body {
                    Body::Bytes(b) => b,
                    Body::Static(b) => b,
                    _ => &[],
                };
                let length = match resp.status {
                    204 | 304 => BodyLength::NoBody,
                    205 => BodyLength::Known(0),
                    _ => BodyLength::Known(bytes.len()),
                };
                self.cache.encode_inline(out, &resp, known, date, Framing { length, version, keep_alive });
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
}
