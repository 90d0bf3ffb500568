//! Request parsing: the head (see `head`), then the body framing (RFC 9112 §6), with the
//! request-smuggling defences: a message with both `Content-Length` and `Transfer-Encoding`,
//! a duplicate or malformed `Content-Length`, a transfer coding other than a final
//! `chunked`, or an obsolete line folding is refused with `400` (or `501` for an unknown
//! coding).

use crate::config::Limits;
use crate::head::{HeadError, parse_head};
use crate::request::{Request, Span, Version};

/// The outcome of looking at the bytes received so far.
#[derive(Debug)]
pub(crate) enum Parse {
    /// A whole request, now in the caller's `Request`, and how many bytes it took.
    Done(usize),
    /// More bytes are needed. `head_done`: the head is complete (the body is being
    /// received); `expect_continue`: the client waits for `100 Continue` before sending it.
    Need { head_done: bool, expect_continue: bool },
}

/// A request that must be refused with this status (the connection is closed after it).
pub(crate) type Refusal = u16;

/// Parses the request at the start of `buf` into `into`, reusing its buffers (no allocation
/// per request once they have grown).
pub(crate) fn parse(buf: &[u8], limits: &Limits, into: &mut Request) -> Result<Parse, Refusal> {
    // A request line (without its CR LF) longer than the limit is a 414 before anything
    // else. Scanned for (within a bounded window) only when the head is not whole; a whole
    // head's parse gives the line's length.
    let long_line = || {
        let max = limits.max_request_line;
        let window = &buf[..buf.len().min(max + 2)];
        match window.iter().position(|&b| b == b'\n') {
            Some(end) => end - usize::from(end > 0 && buf[end - 1] == b'\r') > max,
            None => buf.len() > max + 1,
        }
    };
    let head = match parse_head(buf, limits.max_headers, &mut into.headers) {
        Ok(Some(head)) => head,
        Ok(None) => {
            if long_line() {
                return Err(414);
            }
            if buf.len() > limits.max_head {
                return Err(431);
            }
            return Ok(Parse::Need { head_done: false, expect_continue: false });
        }
        Err(e) => {
            if long_line() {
                return Err(414);
            }
            return Err(match e {
                HeadError::TooManyFields => 431,
                HeadError::Version => 505,
                HeadError::Bad => 400,
            });
        }
    };
    let head_len = head.len;
    if head.line_len > limits.max_request_line {
        return Err(414);
    }
    if head_len > limits.max_head {
        return Err(431);
    }
    let version = if head.minor == 0 { Version::Http10 } else { Version::Http11 };
    let text = |span: Span| {
        // SAFETY: the head parser admits only ASCII in the method (a token) and the target.
        unsafe { std::str::from_utf8_unchecked(&buf[span.range()]) }
    };
    let method_span = head.method;
    let target_span = normalise_target(text(head.method), text(head.target), head.target.range().start)?;

    let mut host = 0;
    let mut content_length: Option<u64> = None;
    let mut lengths = 0;
    let mut chunked = false;
    let mut transfer_encoding = false;
    let mut expect_continue = false;
    let mut connection = 0;
    for &(name, value) in &into.headers {
        let value = &buf[value.range()];
        match Known::of(&buf[name.range()]) {
            Some(Known::Host) => host += 1,
            Some(Known::ContentLength) => {
                lengths += 1;
                let value = std::str::from_utf8(value).map_err(|_| 400u16)?.trim();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(400);
                }
                content_length = Some(value.parse().map_err(|_| 400u16)?);
            }
            Some(Known::TransferEncoding) => {
                transfer_encoding = true;
                let value = std::str::from_utf8(value).map_err(|_| 400u16)?;
                let codings: Vec<String> =
                    value.split(',').map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()).collect();
                if codings.iter().any(|c| c != "chunked") {
                    return Err(501);
                }
                if codings.len() != 1 || chunked {
                    // chunked twice, or chunked applied more than once: malformed.
                    return Err(400);
                }
                chunked = true;
            }
            Some(Known::Connection) => connection |= crate::request::connection_options(value),
            Some(Known::Expect) => {
                if value.eq_ignore_ascii_case(b"100-continue") {
                    expect_continue = version == Version::Http11;
                } else {
                    return Err(417);
                }
            }
            None => {}
        }
    }
    if version == Version::Http11 && host != 1 {
        return Err(400);
    }
    if lengths > 1 || (transfer_encoding && lengths > 0) {
        return Err(400);
    }
    if transfer_encoding && version == Version::Http10 {
        return Err(400);
    }

    let rest = &buf[head_len..];
    into.body.clear();
    let used = if chunked {
        match dechunk(rest, limits.max_body, &mut into.body)? {
            Some(used) => used,
            None => return Ok(Parse::Need { head_done: true, expect_continue }),
        }
    } else {
        let len = content_length.unwrap_or(0);
        if len > limits.max_body as u64 {
            return Err(413);
        }
        let len = len as usize;
        if rest.len() < len {
            return Ok(Parse::Need { head_done: true, expect_continue });
        }
        into.body.extend_from_slice(&rest[..len]);
        len
    };
    into.head.clear();
    into.head.extend_from_slice(&buf[..head_len]);
    into.method = method_span;
    into.target = target_span;
    into.path_len = crate::request::path_len(&buf[target_span.range()]) as u32;
    into.connection = connection;
    into.version = version;
    into.params.clear();
    Ok(Parse::Done(head_len + used))
}

/// The request header fields the parser acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
}

impl Known {
    /// Which known field `name` is (case-insensitive). Ruled out by length first: most
    /// fields are none of these.
    fn of(name: &[u8]) -> Option<Known> {
        let (known, lower): (Known, &[u8]) = match name.len() {
            4 => (Known::Host, b"host"),
            6 => (Known::Expect, b"expect"),
            10 => (Known::Connection, b"connection"),
            14 => (Known::ContentLength, b"content-length"),
            17 => (Known::TransferEncoding, b"transfer-encoding"),
            _ => return None,
        };
        // The head parser admits only token bytes in a name, so this is exact here.
        crate::request::eq_folded(name, lower).then_some(known)
    }
}

/// Origin-form targets as they are; absolute-form reduced to its path and query (an empty
/// path is the root); `*` only for `OPTIONS`. `at` is where the target starts in the head.
fn normalise_target(method: &str, target: &str, at: usize) -> Result<Span, Refusal> {
    if target.starts_with('/') || (target == "*" && method == "OPTIONS") {
        return Ok(Span::new(at, target.len()));
    }
    let lower = target.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://")) {
        let skip = target.len() - rest.len();
        return Ok(match target[skip..].find('/') {
            Some(i) => Span::new(at + skip + i, target.len() - skip - i),
            None => Span::new(at, 0),
        });
    }
    Err(400)
}

/// Decodes a chunked body; `None` while incomplete. Returns the body and the bytes used,
/// trailers included.
fn dechunk(buf: &[u8], max_body: usize, body: &mut Vec<u8>) -> Result<Option<usize>, Refusal> {
    let mut pos = 0;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(400),
        };
        pos += used;
        if size == 0 {
            // Trailer fields, then the empty line.
            let mut trailers = [httparse::EMPTY_HEADER; 32];
            return match httparse::parse_headers(&buf[pos..], &mut trailers) {
                Ok(httparse::Status::Complete((n, _))) => Ok(Some(pos + n)),
                Ok(httparse::Status::Partial) => Ok(None),
                Err(_) => Err(400),
            };
        }
        if body.len() as u64 + size > max_body as u64 {
            return Err(413);
        }
        let size = size as usize;
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[pos..pos + size]);
        pos += size;
        if &buf[pos..pos + 2] != b"\r\n" {
            return Err(400);
        }
        pos += 2;
    }
}
