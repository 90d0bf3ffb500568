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

#[cfg(test)]
mod tests {
    use super::*;

    /// Method, target, path, body and keep-alive.
    type Parsed = (String, String, String, Vec<u8>, bool);

    /// Parses the first request of `raw`, or the refusal.
    fn first(raw: &[u8]) -> Result<Option<Parsed>, Refusal> {
        let mut req = Request::new("", "");
        req.buf = raw.to_vec();
        Ok(match parse(&mut req, 0, raw.len(), &Limits::default())? {
            Parse::Done(used) => {
                assert!(used <= raw.len());
                let keep = req.keep_alive();
                Some((req.method().into(), req.target().into(), req.path().into(), req.body().to_vec(), keep))
            }
            Parse::Need { .. } => None,
        })
    }

    fn status(raw: &[u8]) -> Option<Refusal> {
        first(raw).err()
    }

    #[test]
    fn content_length_values() {
        let body = |raw: &[u8]| first(raw).unwrap().unwrap().3;
        assert_eq!(body(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 003\r\n\r\nabcdef"), b"abc");
        assert_eq!(body(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \t2 \r\n\r\nabc"), b"ab");
        assert_eq!(body(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), b"");
        for bad in [&b"1 2"[..], b"", b"+1", b"-1", b"0x1", b"1,1", b"99999999999999999999"] {
            let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ".to_vec();
            raw.extend_from_slice(bad);
            raw.extend_from_slice(b"\r\n\r\n");
            assert_eq!(status(&raw), Some(400), "{:?}", String::from_utf8_lossy(bad));
        }
        // Larger than the body limit, but a number: 413.
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n"), Some(413));
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 1\r\nCONTENT-LENGTH: 1\r\n\r\na"), Some(400));
    }

    #[test]
    fn transfer_codings() {
        let chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        assert_eq!(first(chunked).unwrap().unwrap().3, b"abc");
        for (fields, want) in [
            (&b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"[..], 400),
            (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 501),
            (b"Transfer-Encoding: gzip\r\n", 501),
            (b"Transfer-Encoding: ,\r\n", 400),
            (b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n", 400),
            (b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n", 400),
        ] {
            let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\n".to_vec();
            raw.extend_from_slice(fields);
            raw.extend_from_slice(b"\r\n0\r\n\r\n");
            assert_eq!(status(&raw), Some(want), "{:?}", String::from_utf8_lossy(fields));
        }
        assert_eq!(status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), Some(400));
    }

    #[test]
    fn host_expect_and_connection() {
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), Some(400));
        assert!(first(b"GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n"), Some(417));
        let mut req = Request::new("", "");
        req.buf = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n".to_vec();
        let end = req.buf.len();
        assert!(matches!(
            parse(&mut req, 0, end, &Limits::default()),
            Ok(Parse::Need { head_done: true, expect_continue: true })
        ));
        let keep = |raw: &[u8]| first(raw).unwrap().unwrap().4;
        assert!(keep(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!keep(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, Close\r\n\r\n"));
        assert!(!keep(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(keep(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn targets() {
        let parts = |raw: &[u8]| {
            let (_, target, path, ..) = first(raw).unwrap().unwrap();
            (target, path)
        };
        assert_eq!(parts(b"GET /a/b?c=d?e HTTP/1.1\r\nHost: x\r\n\r\n"), ("/a/b?c=d?e".into(), "/a/b".into()));
        assert_eq!(parts(b"GET HTTP://Example.com:80/x?y HTTP/1.1\r\nHost: x\r\n\r\n"), ("/x?y".into(), "/x".into()));
        assert_eq!(parts(b"GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n"), (String::new(), String::new()));
        assert_eq!(parts(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), ("*".into(), "*".into()));
        assert_eq!(status(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
        // A long target: its `?` is found past the first sixteen bytes.
        let long = b"GET /0123456789abcdef0123456789/x?q=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(parts(long).1, "/0123456789abcdef0123456789/x");
    }

    #[test]
    fn pipelined_bodies_stay_in_place() {
        let raw = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nde";
        let mut req = Request::new("", "");
        req.buf = raw.to_vec();
        let limits = Limits::default();
        let Ok(Parse::Done(used)) = parse(&mut req, 0, raw.len(), &limits) else { panic!("first request") };
        assert_eq!((req.path(), req.body()), ("/a", &b"abc"[..]));
        let Ok(Parse::Done(more)) = parse(&mut req, used, raw.len(), &limits) else { panic!("second request") };
        assert_eq!((req.path(), req.body()), ("/b", &b"de"[..]));
        assert_eq!(used + more, raw.len());
        // Cut anywhere in the second, it waits for more.
        for cut in used..raw.len() {
            assert!(matches!(parse(&mut req, used, cut, &limits), Ok(Parse::Need { .. })), "cut at {cut}");
        }
    }
}
