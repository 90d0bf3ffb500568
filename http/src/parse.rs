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

/// Parses the request that starts at `req.buf[start]` (received bytes end at `end`) into
/// `req`, in place: the request's parts stay where they were received (no copy, and no
/// allocation per request once the field list has grown).
pub(crate) fn parse(req: &mut Request, start: usize, end: usize, limits: &Limits) -> Result<Parse, Refusal> {
    let buf = &req.buf[..end];
    // A request line (without its CR LF) longer than the limit is a 414 before anything
    // else. Scanned for (within a bounded window) only when the head is not whole; a whole
    // head's parse gives the line's length.
    let long_line = || {
        let max = limits.max_request_line;
        let window = &buf[start..end.min(start + max + 2)];
        match window.iter().position(|&b| b == b'\n') {
            Some(at) => at - usize::from(at > 0 && window[at - 1] == b'\r') > max,
            None => end - start > max + 1,
        }
    };
    let head = match parse_head(buf, start, limits.max_headers, &mut req.headers) {
        Ok(Some(head)) => head,
        Ok(None) => {
            if long_line() {
                return Err(414);
            }
            if end - start > limits.max_head {
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
    if head.line_len > limits.max_request_line {
        return Err(414);
    }
    if head.end - start > limits.max_head {
        return Err(431);
    }
    let version = if head.minor == 0 { Version::Http10 } else { Version::Http11 };
    let known = head.fields;
    if known.expect_other {
        return Err(417);
    }
    let expect_continue = known.expect_continue && version == Version::Http11;
    if version == Version::Http11 && known.hosts != 1 {
        return Err(400);
    }
    let chunked = known.encodings > 0;
    if chunked {
        if version == Version::Http10 {
            return Err(400);
        }
        transfer_codings(buf, &req.headers, known.transfer_encoding, known.encodings)?;
        if known.lengths > 0 {
            return Err(400);
        }
    }
    let content_length = match known.lengths {
        0 => 0,
        1 => content_length(&buf[known.content_length.range()])?,
        _ => return Err(400),
    };
    let (method, mut target, mut path_len) = (head.method, head.target, head.path_len);
    // Origin form (the usual) as it is; the absolute form reduced to its path.
    if buf[target.range().start] != b'/' {
        target = normalise_target(&buf[method.range()], &buf[target.range()], target.range().start)?;
        path_len = crate::request::path_len(&buf[target.range()]);
    }

    let rest = &buf[head.end..];
    req.body.clear();
    let body_span;
    let used = if chunked {
        body_span = None;
        match dechunk(rest, limits.max_body, &mut req.body)? {
            Some(used) => used,
            None => return Ok(Parse::Need { head_done: true, expect_continue }),
        }
    } else {
        if content_length > limits.max_body as u64 {
            return Err(413);
        }
        let len = content_length as usize;
        if rest.len() < len {
            return Ok(Parse::Need { head_done: true, expect_continue });
        }
        body_span = Some(Span::new(head.end, len));
        len
    };
    req.body_span = body_span;
    req.method = method;
    req.target = target;
    req.path_len = path_len as u32;
    req.connection = known.connection;
    req.version = version;
    req.params.clear();
    Ok(Parse::Done(head.end - start + used))
}

/// The value of a `Content-Length` field: digits only (after trimming, which the head parser
/// did), within `u64`.
fn content_length(value: &[u8]) -> Result<u64, Refusal> {
    if value.is_empty() {
        return Err(400);
    }
    value.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return Err(400);
        }
        n.checked_mul(10).and_then(|n| n.checked_add(u64::from(d - b'0'))).ok_or(400)
    })
}

/// Checks the `Transfer-Encoding` fields (`count` of them, the first at `first`): `chunked`
/// once and nothing else (RFC 9112 §6.1). Any other coding is `501`; `chunked` twice or
/// more than one coding is `400`.
fn transfer_codings(buf: &[u8], fields: &[(Span, Span)], first: Span, count: u8) -> Result<(), Refusal> {
    let check = |value: &[u8]| -> Result<usize, Refusal> {
        let value = std::str::from_utf8(value).map_err(|_| 400u16)?;
        let mut codings = 0;
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !coding.eq_ignore_ascii_case("chunked") {
                return Err(501);
            }
            codings += 1;
        }
        Ok(codings)
    };
    if count == 1 {
        return if check(&buf[first.range()])? == 1 { Ok(()) } else { Err(400) };
    }
    // Several fields (refused either way): an unknown coding in any of them is reported as
    // such, as for a single field.
    for &(name, value) in fields {
        if buf[name.range()].eq_ignore_ascii_case(b"transfer-encoding") {
            check(&buf[value.range()])?;
        }
    }
    Err(400)
}

/// Origin-form targets as they are; absolute-form reduced to its path and query (an empty
/// path is the root); `*` only for `OPTIONS`. `at` is where the target starts in the head.
fn normalise_target(method: &[u8], target: &[u8], at: usize) -> Result<Span, Refusal> {
    if target.starts_with(b"/") || (target == b"*" && method == b"OPTIONS") {
        return Ok(Span::new(at, target.len()));
    }
    // The head parser admits only visible ASCII in a target.
    let target = std::str::from_utf8(target).map_err(|_| 400u16)?;
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
