//! Request parsing: the head (see `head`), then the body framing (RFC 9112 §6), with the
//! request-smuggling defences: a message with both `Content-Length` and `Transfer-Encoding`,
//! a duplicate or malformed `Content-Length`, a transfer coding other than a final
//! `chunked`, or an obsolete line folding is refused with `400` (`501` for a coding this
//! server does not decode before a final `chunked`).

use crate::authority::host_len;
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
    /// A whole head whose body may be streamed (asked for with `streams`): the request's
    /// method, target and fields are in the caller's `Request` (its body empty), and where
    /// the body starts and how it is framed in `Parser::head_alone`; nothing of the body
    /// has been looked at. (Kept out of the variant: `Parse` stays two words, as the usual
    /// path moves it.)
    Head,
}

/// Where the body of a request parsed as `Parse::Head` starts (`head_end`), how it is framed,
/// and whether the client waits for `100 Continue`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HeadAlone {
    pub(crate) head_end: usize,
    pub(crate) expect_continue: bool,
    pub(crate) framing: Framing,
}

/// How a request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length`: exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

impl Default for Framing {
    fn default() -> Framing {
        Framing::Length(0)
    }
}

/// A request that must be refused with this status (the connection is closed after it).
pub(crate) type Refusal = u16;

/// What parsing keeps between the requests of one connection: the memo of the last head,
/// where decoding a chunked body stopped for want of bytes, and where the body of a head
/// parsed alone starts. The request data itself stays in the `Request`.
///
/// A parser is used with one `Request` throughout: its memo stands for that request's field
/// positions (`Request::headers`), which only this parser changes.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    /// The last head parsed (see `HeadMemo`).
    memo: HeadMemo,
    /// Where decoding the chunked body of the request being received stopped for want of
    /// bytes (relative to the body's start); `None` between requests.
    dechunk_at: Option<Dechunking>,
    /// Where the body of a request parsed as `Parse::Head` starts, and its framing.
    head_alone: HeadAlone,
}

impl Parser {
    /// The body's start and framing of the request last parsed as `Parse::Head`.
    pub(crate) fn head_alone(&self) -> HeadAlone {
        self.head_alone
    }

    /// Parses the request that starts at `req.buf[start]` (received bytes end at `end`) into
    /// `req`, in place: the request's parts stay where they were received (no copy, and no
    /// allocation per request once the field list has grown).
    #[inline(always)]
    pub(crate) fn parse(
        &mut self,
        req: &mut Request,
        start: usize,
        end: usize,
        limits: &Limits,
    ) -> Result<Parse, Refusal> {
        self.parse_streaming(req, start, end, limits, false)
    }

    /// `parse`, and with `streams` a request with a body that is not whole in the buffer (or
    /// larger than `max_body`), or chunked, is `Parse::Head` instead: its route may take the
    /// body as a stream. (`false` costs nothing on the usual path: it is looked at only where
    /// a body is incomplete, too large or chunked.)
    #[inline(always)]
    pub(crate) fn parse_streaming(
        &mut self,
        req: &mut Request,
        start: usize,
        end: usize,
        limits: &Limits,
        streams: bool,
    ) -> Result<Parse, Refusal> {
        // The same head as the last one parsed on this connection (clients repeat theirs): what
        // it said is known, relative to where it started. Its fields are still in
        // `req.headers`, relative to where a head starts.
        if let Some(head_len) = self.memo.matches(&req.buf[..end], start, limits) {
            req.head_at = start as u32;
            let said = self.memo.said;
            let head_end = start + head_len;
            return self.frame(req, start..head_end, end, said.moved(0, start), limits, streams);
        }
        self.parse_anew(req, start, end, limits, streams)
    }

    /// `parse` for a head not seen last on the connection (kept out of line: the usual case,
    /// above, stays small enough to be inlined into the connection's loop).
    #[inline(never)]
    fn parse_anew(
        &mut self,
        req: &mut Request,
        start: usize,
        end: usize,
        limits: &Limits,
        streams: bool,
    ) -> Result<Parse, Refusal> {
        let buf = &req.buf[..end];
        // A request line (without its CR LF) longer than the limit is a 414 before anything
        // else. Scanned for (within a bounded window) only when the head is not whole; a whole
        // head's parse gives the line's length.
        let long_line = || {
            let max = limits.max_request_line;
            // Empty lines before the request line do not count (RFC 9112 §2.2).
            let from = start + buf[start..end].iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
            let window = &buf[from..end.min(from + max + 2)];
            match window.iter().position(|&b| b == b'\n') {
                Some(at) => at - usize::from(at > 0 && window[at - 1] == b'\r') > max,
                None => end - from > max + 1,
            }
        };
        // `req.headers` is about to change: the memo no longer describes it.
        self.memo.forget();
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
        // Exactly one valid Host in HTTP/1.1, at most one in 1.0 (RFC 9112 §3.2).
        if known.bad_host || known.hosts > 1 || (version == Version::Http11 && known.hosts == 0) {
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
        // The authority of an absolute-form target (none: the Host field's).
        let mut authority = Span::default();
        // A fragment is never sent (RFC 9110 §4.2.5: user agents strip it).
        if buf[target.range()].contains(&b'#') {
            return Err(400);
        }
        // Origin form (the usual) as it is; the absolute form reduced to its path; CONNECT's
        // authority form refused.
        if buf[target.range().start] != b'/' || &buf[method.range()] == b"CONNECT" {
            (target, authority) = normalise_target(&buf[method.range()], &buf[target.range()], target.range().start)?;
            path_len = crate::request::path_len(&buf[target.range()]);
        }

        let said = Said {
            method,
            target,
            authority,
            path_len: path_len as u32,
            version,
            connection: known.connection,
            expect_continue,
            chunked,
            content_length,
        };
        // The fields, relative to the head's start (as a memo's are).
        for (name, value) in &mut req.headers {
            (*name, *value) = (name.moved(start, 0), value.moved(start, 0));
        }
        req.head_at = start as u32;
        self.memo.remember(buf, start, head.end, said, limits);
        self.frame(req, start..head.end, end, said, limits, streams)
    }
}

/// What a head said that the rest of parsing and the handler need (positions in the
/// buffer, or relative to the head's start in a memo).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Said {
    method: Span,
    target: Span,
    /// The authority of an absolute-form target; empty when the target has none.
    authority: Span,
    path_len: u32,
    version: Version,
    connection: u8,
    expect_continue: bool,
    chunked: bool,
    content_length: u64,
}

impl Said {
    fn moved(self, from: usize, to: usize) -> Said {
        let authority = if self.authority.is_empty() { self.authority } else { self.authority.moved(from, to) };
        Said { method: self.method.moved(from, to), target: self.target.moved(from, to), authority, ..self }
    }
}

/// The last head parsed on a connection (when it was accepted and not too long to keep), with
/// what it said relative to its start: a head that repeats it byte for byte says the same, and
/// costs a comparison instead of a parse. Kept only with the limits it was checked against.
/// Its fields are the request's (`Request::headers`, relative to the head's start), which
/// change only when a head is parsed anew, and the memo is forgotten first.
#[derive(Clone, Default)]
pub(crate) struct HeadMemo {
    bytes: Vec<u8>,
    said: Said,
    limits: (usize, usize, usize),
}

impl std::fmt::Debug for HeadMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadMemo").field("len", &self.bytes.len()).finish_non_exhaustive()
    }
}

/// Heads longer than this are not kept (copying them would cost more than it saves).
const MEMO_MAX: usize = 1024;

impl HeadMemo {
    fn key(limits: &Limits) -> (usize, usize, usize) {
        (limits.max_request_line, limits.max_head, limits.max_headers)
    }

    /// The length of the remembered head if `buf[start..]` begins with it.
    #[inline]
    fn matches(&self, buf: &[u8], start: usize, limits: &Limits) -> Option<usize> {
        let n = self.bytes.len();
        (n > 0 && buf.len() - start >= n && buf[start..start + n] == self.bytes[..] && self.limits == Self::key(limits))
            .then_some(n)
    }

    fn forget(&mut self) {
        self.bytes.clear();
    }

    fn remember(&mut self, buf: &[u8], start: usize, end: usize, said: Said, limits: &Limits) {
        self.bytes.clear();
        if end - start > MEMO_MAX {
            return;
        }
        self.bytes.extend_from_slice(&buf[start..end]);
        self.said = said.moved(start, 0);
        self.limits = Self::key(limits);
    }
}

impl Parser {
    /// The body framing of a request whose head (`head`, in the buffer) said `said`: the
    /// request in `req` when its body is complete.
    #[inline(always)]
    fn frame(
        &mut self,
        req: &mut Request,
        head: std::ops::Range<usize>,
        end: usize,
        said: Said,
        limits: &Limits,
        streams: bool,
    ) -> Result<Parse, Refusal> {
        let (start, head_end) = (head.start, head.end);
        let Said { method, target, authority, path_len, version, connection, expect_continue, chunked, content_length } =
            said;
        let body_span;
        let used = if chunked {
            if streams {
                return Ok(self.head_only(req, said, head_end, Framing::Chunked));
            }
            // Decoded where it lies: each chunk's data moves to the end of the data before it,
            // at the body's start, so the body is held once (in the receive buffer) and read
            // through a span like a `Content-Length` body. Where decoding stopped last time is
            // kept relative to the body, so it survives the buffer's compaction; the decoded
            // bytes have overwritten framing, so decoding never starts over.
            let rest = &mut req.buf[head_end..end];
            let resume = self.dechunk_at.take().unwrap_or_default();
            match dechunk(rest, resume, limits.max_body, limits.max_head)? {
                Dechunked::Done { used, len } => {
                    body_span = Some(Span::new(head_end, len));
                    used
                }
                Dechunked::Need(at) => {
                    self.dechunk_at = Some(at);
                    return Ok(Parse::Need { head_done: true, expect_continue });
                }
            }
        } else {
            if content_length > limits.max_body as u64 {
                if streams {
                    return Ok(self.head_only(req, said, head_end, Framing::Length(content_length)));
                }
                return Err(413);
            }
            let len = content_length as usize;
            if end - head_end < len {
                if streams {
                    return Ok(self.head_only(req, said, head_end, Framing::Length(content_length)));
                }
                return Ok(Parse::Need { head_done: true, expect_continue });
            }
            body_span = Some(Span::new(head_end, len));
            len
        };
        req.body_span = body_span;
        req.method = method;
        req.target = target;
        req.authority = authority;
        req.path_len = path_len;
        req.connection = connection;
        req.version = version;
        req.params.clear();
        Ok(Parse::Done(head_end - start + used))
    }

    /// `Parse::Head` for a request whose head (ending at `head_end`) said `said`: the request's
    /// parts in `req`, its body empty.
    #[cold]
    #[inline(never)]
    fn head_only(&mut self, req: &mut Request, said: Said, head_end: usize, framing: Framing) -> Parse {
        req.body_span = Some(Span::new(head_end, 0));
        req.method = said.method;
        req.target = said.target;
        req.authority = said.authority;
        req.path_len = said.path_len;
        req.connection = said.connection;
        req.version = said.version;
        req.params.clear();
        self.head_alone = HeadAlone { head_end, expect_continue: said.expect_continue, framing };
        Parse::Head
    }
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

/// Checks the `Transfer-Encoding` fields (`count` of them, the first at `first`), read as
/// one list: the body is framed only by `chunked`, applied once (RFC 9112 §6.1). A list whose
/// last coding is not `chunked` leaves the body's length unknown: `400` (§6.3, a MUST); so does
/// `chunked` more than once or an empty list. Otherwise a coding before it (which this server
/// does not decode) is `501` (§6.1).
fn transfer_codings(buf: &[u8], fields: &[(Span, Span)], first: Span, count: u8) -> Result<(), Refusal> {
    let mut last_chunked = false;
    let (mut chunked, mut others) = (0usize, 0usize);
    let mut take = |value: &[u8]| {
        for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|c| !c.is_empty()) {
            last_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if last_chunked {
                chunked += 1;
            } else {
                others += 1;
            }
        }
    };
    if count == 1 {
        take(&buf[first.range()]);
    } else {
        for &(name, value) in fields {
            if buf[name.range()].eq_ignore_ascii_case(b"transfer-encoding") {
                take(&buf[value.range()]);
            }
        }
    }
    if !last_chunked || chunked > 1 {
        return Err(400);
    }
    if others > 0 {
        return Err(501);
    }
    Ok(())
}

/// Origin-form targets as they are; absolute-form (`http` and `https`, with a valid authority)
/// reduced to its path and query (an empty path is the root), with its authority as the
/// second span (otherwise empty); `*` only for `OPTIONS`. `at` is where the target starts in
/// the head.
fn normalise_target(method: &[u8], target: &[u8], at: usize) -> Result<(Span, Span), Refusal> {
    // CONNECT asks for a tunnel to `host:port` (RFC 9110 §9.3.6), which this origin server
    // does not implement: 501, as for any method it does not implement (§9.1). Only the
    // authority form is a valid CONNECT target (RFC 9112 §3.2.3).
    if method == b"CONNECT" {
        // A host, then `:` and a port of at least one digit.
        let valid = matches!(host_len(target), Some(n) if n > 0 && target.len() > n + 1);
        return Err(if valid { 501 } else { 400 });
    }
    if target.starts_with(b"/") || (target == b"*" && method == b"OPTIONS") {
        return Ok((Span::new(at, target.len()), Span::default()));
    }
    // The head parser admits only visible ASCII in a target.
    let target = std::str::from_utf8(target).map_err(|_| 400u16)?;
    let lower = target.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://")) {
        let skip = target.len() - rest.len();
        let authority = target[skip..].find(['/', '?']).unwrap_or(rest.len());
        // A host that is not empty (RFC 9110 §4.2.1) and perhaps a port; no user information
        // (§4.2.4: a recipient treats it as an error).
        if matches!(host_len(&target.as_bytes()[skip..skip + authority]), None | Some(0)) {
            return Err(400);
        }
        // The path and query after the authority; an empty path is the root (`path()`).
        return Ok((Span::new(at + skip + authority, rest.len() - authority), Span::new(at + skip, authority)));
    }
    Err(400)
}

/// Longest chunk-size line (the size, its extensions and CR LF); longer → 400. Extensions
/// carry nothing this server uses, so a short line is all a client needs (RFC 9112 §7.1.1
/// asks servers to bound them).
pub(crate) const MAX_CHUNK_LINE: usize = 4096;
/// Most trailer fields; more → 431.
pub(crate) const MAX_TRAILERS: usize = 32;

/// Where decoding a chunked body stopped for want of bytes, relative to the body's start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dechunking {
    /// Where the next chunk-size line (or the trailer section) starts.
    at: usize,
    /// How many bytes of data are decoded, at the body's start.
    len: usize,
}

/// How far decoding a chunked body got.
#[derive(Debug, PartialEq, Eq)]
enum Dechunked {
    /// The whole body: the bytes it used (trailers included) and the data's length, now at
    /// the body's start.
    Done { used: usize, len: usize },
    /// More bytes are needed; decoding resumes here.
    Need(Dechunking),
}

/// Decodes the chunked body at the start of `buf` in place, resuming where the last call for
/// this request stopped: each whole chunk's data is moved to follow the data decoded before
/// it (data never outgrows the framing it came with, so nothing not yet decoded is
/// overwritten). The head's limit bounds the trailer section (`max_head`: its fields and the
/// empty line that ends it) and the body's the data (`max_body`).
fn dechunk(buf: &mut [u8], from: Dechunking, max_body: usize, max_head: usize) -> Result<Dechunked, Refusal> {
    let Dechunking { at: mut pos, mut len } = from;
    loop {
        let Some((line, size)) = chunk_line(&buf[pos..])? else {
            return Ok(Dechunked::Need(Dechunking { at: pos, len }));
        };
        if size == 0 {
            // Trailer fields, then the empty line.
            // Only the first `max_head + 1` bytes of the section are read, so the outcome is
            // the same however the section arrives: one that does not end within them is too
            // long, whole or in part.
            let section = &buf[pos + line..];
            let seen = &section[..section.len().min(max_head.saturating_add(1))];
            // Every line of the section ends with CR LF, the empty line that ends it too: a
            // bare LF is refused here as on a chunk-size line (httparse would take it), since a
            // front end that does not end a line there would frame what follows differently.
            // Only the section's own bytes count: what follows its empty line is the next
            // pipelined request's.
            if has_bare_lf(&seen[..section_end(seen).unwrap_or(seen.len())]) {
                return Err(400);
            }
            let mut trailers = [httparse::EMPTY_HEADER; MAX_TRAILERS];
            return match httparse::parse_headers(seen, &mut trailers) {
                Ok(httparse::Status::Complete((n, _))) if n <= max_head => {
                    Ok(Dechunked::Done { used: pos + line + n, len })
                }
                Ok(httparse::Status::Complete(_)) => Err(431),
                Ok(httparse::Status::Partial) if seen.len() > max_head => Err(431),
                Ok(httparse::Status::Partial) => Ok(Dechunked::Need(Dechunking { at: pos, len })),
                Err(httparse::Error::TooManyHeaders) => Err(431),
                Err(_) => Err(400),
            };
        }
        if len as u64 + size > max_body as u64 {
            return Err(413);
        }
        let size = size as usize;
        let data = pos + line;
        if buf.len() < data + size + 2 {
            return Ok(Dechunked::Need(Dechunking { at: pos, len }));
        }
        if &buf[data + size..data + size + 2] != b"\r\n" {
            return Err(400);
        }
        // `len <= pos < data`: the data moves towards the start, over framing only.
        buf.copy_within(data..data + size, len);
        len += size;
        pos = data + size + 2;
    }
}

/// Where a trailer section ends in `section`: just past the CR LF of its first empty line,
/// if that has arrived (lines are counted from LF to LF, so a bare LF also ends a line).
fn section_end(section: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    while let Some(lf) = section[line_start..].iter().position(|&b| b == b'\n') {
        let lf = line_start + lf;
        if lf == line_start + 1 && section[line_start] == b'\r' {
            return Some(lf + 1);
        }
        line_start = lf + 1;
    }
    None
}

/// Whether `section` holds an LF that is not preceded by CR (the section starts after a
/// chunk-size line's CR LF, so an LF at its start is bare).
pub(crate) fn has_bare_lf(section: &[u8]) -> bool {
    section.iter().enumerate().any(|(at, &b)| b == b'\n' && (at == 0 || section[at - 1] != b'\r'))
}

/// A chunk-size line at the start of `buf` (RFC 9112 §7.1): its length with the CR LF and
/// the size; `None` while incomplete. At least one hex digit; extensions (`;name=value`,
/// after optional whitespace) of visible characters, spaces and tabs only; the line ends with
/// CR LF (a bare LF or any other control character is refused: a front end that reads the
/// line differently would frame the body differently).
pub(crate) fn chunk_line(buf: &[u8]) -> Result<Option<(usize, u64)>, Refusal> {
    let digits = buf.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == buf.len() {
        return if digits > MAX_CHUNK_LINE { Err(400) } else { Ok(None) };
    }
    if digits == 0 {
        return Err(400);
    }
    let size = buf[..digits].iter().try_fold(0u64, |n, &d| {
        let d = u64::from((d as char).to_digit(16).expect("a hex digit"));
        n.checked_mul(16).and_then(|n| n.checked_add(d)).ok_or(400u16)
    })?;
    let mut at = digits;
    let mut extension = false;
    loop {
        let Some(&b) = buf.get(at) else {
            return if at > MAX_CHUNK_LINE { Err(400) } else { Ok(None) };
        };
        match b {
            b'\r' => break,
            b';' => extension = true,
            b' ' | b'\t' => {}
            // Extension names and values (tokens, quoted strings): visible characters.
            0x21..=0x7e | 0x80..=0xff if extension => {}
            _ => return Err(400),
        }
        at += 1;
        if at > MAX_CHUNK_LINE {
            return Err(400);
        }
    }
    match buf.get(at + 1) {
        None => Ok(None),
        // The whole line is bounded, however much of it arrived at once (the checks above
        // refuse an incomplete line only once it is too long already).
        Some(b'\n') if at + 2 > MAX_CHUNK_LINE => Err(400),
        Some(b'\n') => Ok(Some((at + 2, size))),
        Some(_) => Err(400),
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
        let mut parser = Parser::default();
        req.buf = raw.to_vec();
        Ok(match parser.parse(&mut req, 0, raw.len(), &Limits::default())? {
            Parse::Done(used) => {
                assert!(used <= raw.len());
                let keep = req.keep_alive();
                Some((req.method().into(), req.target().into(), req.path().into(), req.body().to_vec(), keep))
            }
            Parse::Need { .. } | Parse::Head => None,
        })
    }

    fn status(raw: &[u8]) -> Option<Refusal> {
        first(raw).err()
    }

    #[test]
    fn with_streams_a_body_not_whole_too_large_or_chunked_gives_its_head_alone() {
        let limits = Limits { max_body: 10, ..Default::default() };
        let outcome = |raw: &[u8]| {
            let mut req = Request::new("", "");
            let mut parser = Parser::default();
            req.buf = raw.to_vec();
            let parsed = parser.parse_streaming(&mut req, 0, raw.len(), &limits, true);
            (parsed, req.method().to_owned(), req.target().to_owned(), req.body().len(), parser.head_alone())
        };
        let head = |raw: &[u8], framing: Framing, expect_continue: bool| {
            let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let (parsed, method, target, body, alone) = outcome(raw);
            match parsed {
                Ok(Parse::Head) => {
                    let HeadAlone { head_end: at, expect_continue: e, framing: f } = alone;
                    assert_eq!((at, e, f), (head_end, expect_continue, framing));
                    assert_eq!((method.as_str(), target.as_str(), body), ("POST", "/up?x", 0));
                }
                other => panic!("{other:?} for {}", String::from_utf8_lossy(raw)),
            }
        };
        // Incomplete, too large for `max_body`, chunked (even whole), with `Expect`.
        head(b"POST /up?x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab", Framing::Length(5), false);
        head(b"POST /up?x HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", Framing::Length(11), false);
        head(b"POST /up?x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Framing::Chunked, false);
        head(
            b"POST /up?x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
            Framing::Length(5),
            true,
        );
        // A whole sized body, or none, is parsed as ever; refusals are refusals.
        let (done, ..) = outcome(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab");
        assert!(matches!(done, Ok(Parse::Done(_))), "{done:?}");
        let (done, ..) = outcome(b"GET /up HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(done, Ok(Parse::Done(_))), "{done:?}");
        let (refused, ..) = outcome(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n");
        assert!(matches!(refused, Err(400)), "{refused:?}");
        // Without streams, the same heads are what they always were.
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n".to_vec();
        let end = req.buf.len();
        assert!(matches!(parser.parse(&mut req, 0, end, &limits), Err(413)));
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
            (b"Transfer-Encoding: chunked, chunked\r\n", 400),
            // Not framed by chunked: the length is unknown, whatever the codings.
            (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 400),
            (b"Transfer-Encoding: chunked, gzip\r\n", 400),
            (b"Transfer-Encoding: gzip\r\n", 400),
            (b"Transfer-Encoding: ,\r\n", 400),
            // Framed by chunked, with a coding before it that is not decoded here.
            (b"Transfer-Encoding: gzip, chunked\r\n", 501),
            (b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 501),
            (b"Transfer-Encoding: gzip , Chunked\r\n", 501),
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
        assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n"), Some(400));
        for bad in [&b"a b"[..], b"exa/mple@x", b"x?y", b"a#b", b"\"q\"", b"a:b", b"a:1:2", b"[::1", b"a]b["] {
            let mut raw = b"GET / HTTP/1.1\r\nHost: ".to_vec();
            raw.extend_from_slice(bad);
            raw.extend_from_slice(b"\r\n\r\n");
            assert_eq!(status(&raw), Some(400), "{}", String::from_utf8_lossy(bad));
        }
        for good in [
            "",
            "example.com",
            "example.com:8080",
            "example.com:",
            "[::1]:80",
            "127.0.0.1",
            "xn--bcher-kva.example",
            "a%41b",
        ] {
            let raw = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert!(first(raw.as_bytes()).unwrap().is_some(), "{good}");
        }
        assert!(first(b"GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        assert_eq!(status(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n"), Some(417));
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n".to_vec();
        let end = req.buf.len();
        assert!(matches!(
            parser.parse(&mut req, 0, end, &Limits::default()),
            Ok(Parse::Need { head_done: true, expect_continue: true })
        ));
        let keep = |raw: &[u8]| first(raw).unwrap().unwrap().4;
        assert!(keep(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!keep(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, Close\r\n\r\n"));
        assert!(!keep(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(keep(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn chunk_size_lines_are_strict_and_bounded() {
        let chunked = |body: &[u8]| {
            let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            raw.extend_from_slice(body);
            raw
        };
        let body = |raw: &[u8]| first(raw).map(|r| r.map(|p| p.3));
        assert_eq!(body(&chunked(b"2\r\nab\r\n0\r\n\r\n")), Ok(Some(b"ab".to_vec())));
        assert_eq!(body(&chunked(b"2;a=b;c=\"d e\"\r\nab\r\n0 ;x\r\nT: v\r\n\r\n")), Ok(Some(b"ab".to_vec())));
        assert_eq!(body(&chunked(b"A\r\n0123456789\r\n0\r\n\r\n")), Ok(Some(b"0123456789".to_vec())));
        for bad in [
            &b"2;\nxx\r\nab\r\n0\r\n\r\n"[..], // a bare LF inside an extension
            b"2;a=\x01\r\nab\r\n0\r\n\r\n",    // a control character
            b"2;a=\x7f\r\nab\r\n0\r\n\r\n",
            b"\r\n\r\n", // no digits at all
            b";ext\r\n\r\n",
            b"2 x\r\nab\r\n0\r\n\r\n", // not an extension
            b"2\nab\r\n0\r\n\r\n",     // a bare LF ending the size
            b"2\r\nabc\r\n0\r\n\r\n",  // data longer than its size
            b"-1\r\n",
            b"0x2\r\nab\r\n0\r\n\r\n",
            b"10000000000000000\r\n", // past u64
            // A bare LF in the trailer section: ending it, ending a field, or both.
            b"0\r\n\n",
            b"0\r\nT: v\n\r\n",
            b"0\r\nT: v\r\n\n",
            b"0\r\nT: v\nU: w\r\n\r\n",
        ] {
            assert_eq!(status(&chunked(bad)), Some(400), "{:?}", String::from_utf8_lossy(bad));
        }
        // Extensions are bounded: a long one is refused before it ends.
        let mut long = b"1;".to_vec();
        long.resize(MAX_CHUNK_LINE + 10, b'a');
        assert_eq!(status(&chunked(&long)), Some(400));
        // So are trailers: more than the head may hold, or too many fields.
        let mut trailers = b"0\r\nX: ".to_vec();
        trailers.resize(Limits::default().max_head + 10, b'a');
        assert_eq!(status(&chunked(&trailers)), Some(431));
        let many: Vec<u8> = (0..40).flat_map(|i| format!("T{i}: v\r\n").into_bytes()).collect();
        assert_eq!(status(&chunked(&[&b"0\r\n"[..], &many, b"\r\n"].concat())), Some(431));
    }

    /// The outcome of `raw` parsed whole, and as it is when its bytes arrive one at a time.
    fn whole_and_trickled(raw: &[u8], limits: &Limits) -> (Result<bool, Refusal>, Result<bool, Refusal>) {
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = raw.to_vec();
        let whole = parser.parse(&mut req, 0, raw.len(), limits).map(|p| matches!(p, Parse::Done(_)));
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = raw.to_vec();
        let mut trickled = Ok(false);
        for end in 1..=raw.len() {
            trickled = parser.parse(&mut req, 0, end, limits).map(|p| matches!(p, Parse::Done(_)));
            if trickled != Ok(false) {
                break;
            }
        }
        (whole, trickled)
    }

    #[test]
    fn body_limits_do_not_depend_on_how_the_bytes_arrive() {
        let limits = Limits { max_head: 1024, ..Limits::default() };
        let chunked = |body: &[u8]| {
            let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            raw.extend_from_slice(body);
            raw
        };
        // The trailer section: at most `max_head` bytes, its final empty line included.
        let trailers = |len: usize| {
            let mut body = b"0\r\nX-T: ".to_vec();
            body.resize(3 + len - 4, b't');
            body.extend_from_slice(b"\r\n\r\n");
            chunked(&body)
        };
        assert_eq!(whole_and_trickled(&trailers(1024), &limits), (Ok(true), Ok(true)));
        assert_eq!(whole_and_trickled(&trailers(1025), &limits), (Err(431), Err(431)));
        assert_eq!(whole_and_trickled(&trailers(1507), &limits), (Err(431), Err(431)));
        // A chunk-size line: at most `MAX_CHUNK_LINE` bytes, its CR LF included, however many
        // of them are leading zeros.
        let zeros = |n: usize| chunked(&[&vec![b'0'; n][..], b"5\r\nhello\r\n0\r\n\r\n"].concat());
        assert_eq!(whole_and_trickled(&zeros(MAX_CHUNK_LINE - 3), &limits), (Ok(true), Ok(true)));
        assert_eq!(whole_and_trickled(&zeros(MAX_CHUNK_LINE - 2), &limits), (Err(400), Err(400)));
        assert_eq!(whole_and_trickled(&zeros(5000), &limits), (Err(400), Err(400)));
        let extension = |n: usize| chunked(&[b"5;", &vec![b'e'; n][..], b"\r\nhello\r\n0\r\n\r\n"].concat());
        assert_eq!(whole_and_trickled(&extension(MAX_CHUNK_LINE - 4), &limits), (Ok(true), Ok(true)));
        assert_eq!(whole_and_trickled(&extension(MAX_CHUNK_LINE - 3), &limits), (Err(400), Err(400)));
    }

    #[test]
    fn a_chunked_body_is_decoded_once_across_reads() {
        let raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;e\r\nde\r\n0\r\nT: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n";
        let limits = Limits::default();
        // Bytes arriving one at a time: each call resumes where the last stopped, and the
        // outcome is that of the whole.
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = raw.to_vec();
        let mut used = None;
        for end in 1..=raw.len() {
            match parser.parse(&mut req, 0, end, &limits) {
                Ok(Parse::Done(n)) => {
                    used = Some(n);
                    break;
                }
                Ok(Parse::Need { .. }) => {}
                Ok(Parse::Head) => panic!("a head alone, not asked for, at {end}"),
                Err(status) => panic!("refused with {status} at {end}"),
            }
        }
        let used = used.expect("the request completes");
        assert_eq!((req.body(), parser.dechunk_at), (&b"abcde"[..], None));
        // Decoded where it was received: the body is a span of the buffer, nothing besides.
        assert!(req.body.capacity() == 0 && req.body_span.is_some());
        let Ok(Parse::Done(_)) = parser.parse(&mut req, used, raw.len(), &limits) else { panic!("the next request") };
        assert_eq!((req.path(), req.body()), ("/next", &b""[..]));
    }

    #[test]
    fn targets() {
        let parts = |raw: &[u8]| {
            let (_, target, path, ..) = first(raw).unwrap().unwrap();
            (target, path)
        };
        assert_eq!(parts(b"GET /a/b?c=d?e HTTP/1.1\r\nHost: x\r\n\r\n"), ("/a/b?c=d?e".into(), "/a/b".into()));
        assert_eq!(parts(b"GET HTTP://Example.com:80/x?y HTTP/1.1\r\nHost: x\r\n\r\n"), ("/x?y".into(), "/x".into()));
        assert_eq!(parts(b"GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n"), (String::new(), "/".into()));
        assert_eq!(parts(b"GET http://example.com?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"), ("?q=1".into(), "/".into()));
        assert_eq!(status(b"GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
        // The request line's length does not count empty lines before it.
        let mut late = b"\r\nGET /".to_vec();
        late.resize(late.len() + Limits::default().max_request_line + 10, b'a');
        assert_eq!(status(&late), Some(414));
        assert_eq!(parts(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"), ("*".into(), "*".into()));
        assert_eq!(status(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
        assert_eq!(status(b"GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), Some(400));
        // The authority of the absolute form: a host, not empty, perhaps a port, no user.
        assert_eq!(parts(b"GET http://[::1]:8080/x HTTP/1.1\r\nHost: x\r\n\r\n"), ("/x".into(), "/x".into()));
        assert_eq!(parts(b"GET http://a:/x HTTP/1.1\r\nHost: x\r\n\r\n"), ("/x".into(), "/x".into()));
        for bad in ["http:///x", "http://", "http://?q", "https://:80/", "http://a:b/", "http://u@a/", "http://[::1/"] {
            let raw = format!("GET {bad} HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(status(raw.as_bytes()), Some(400), "{bad}");
        }
        // CONNECT: a tunnel this server does not open (501) to `host:port`; no other target.
        for (target, want) in [
            ("example.com:443", 501),
            ("[::1]:8080", 501),
            ("example.com", 400),
            ("example.com:", 400),
            (":443", 400),
            ("/x", 400),
            ("http://a/", 400),
        ] {
            let raw = format!("CONNECT {target} HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(status(raw.as_bytes()), Some(want), "{target}");
        }
        // A long target: its `?` is found past the first sixteen bytes.
        let long = b"GET /0123456789abcdef0123456789/x?q=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(parts(long).1, "/0123456789abcdef0123456789/x");
    }

    #[test]
    fn repeated_heads_read_their_own_fields() {
        // A, A again (from the memo), B (parsed anew, fewer fields), then A cut short and
        // whole: each request reads its own fields, wherever it sits in the buffer.
        let a = "GET /a HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nX-One: 1\r\n\r\n";
        let b = "GET /b HTTP/1.1\r\nHost: y\r\n\r\n";
        let raw = format!("{a}{a}{b}{a}");
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = raw.clone().into_bytes();
        let limits = Limits::default();
        let mut at = 0;
        for (path, host, one) in [("/a", "x", Some("1")), ("/a", "x", Some("1")), ("/b", "y", None)] {
            let Ok(Parse::Done(used)) = parser.parse(&mut req, at, raw.len(), &limits) else {
                panic!("{path} at {at}")
            };
            assert_eq!((req.path(), req.header("host"), req.header("x-one")), (path, Some(host), one), "at {at}");
            assert_eq!(req.headers().count(), if one.is_some() { 3 } else { 1 });
            // What was answered is gone (as when the connection compacts its buffer).
            req.buf[at..at + used].fill(b'z');
            at += used;
        }
        // The next head, incomplete: parsed anew (not from the memo of B), then whole.
        let cut = at + 20;
        assert!(matches!(parser.parse(&mut req, at, cut, &limits), Ok(Parse::Need { .. })));
        let Ok(Parse::Done(used)) = parser.parse(&mut req, at, raw.len(), &limits) else { panic!("last") };
        assert_eq!((req.path(), req.header("host"), req.header("accept")), ("/a", Some("x"), Some("*/*")));
        assert_eq!(at + used, raw.len());
        // A hand-made request's fields.
        let made = Request::new("GET", "/").with_header("A", "1").with_header("b", "2");
        assert_eq!(made.headers().collect::<Vec<_>>(), [("A", &b"1"[..]), ("b", &b"2"[..])]);
    }

    #[test]
    fn pipelined_bodies_stay_in_place() {
        let raw = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nde";
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = raw.to_vec();
        let limits = Limits::default();
        let Ok(Parse::Done(used)) = parser.parse(&mut req, 0, raw.len(), &limits) else { panic!("first request") };
        assert_eq!((req.path(), req.body()), ("/a", &b"abc"[..]));
        let Ok(Parse::Done(more)) = parser.parse(&mut req, used, raw.len(), &limits) else { panic!("second request") };
        assert_eq!((req.path(), req.body()), ("/b", &b"de"[..]));
        assert_eq!(used + more, raw.len());
        // Cut anywhere in the second, it waits for more.
        for cut in used..raw.len() {
            assert!(matches!(parser.parse(&mut req, used, cut, &limits), Ok(Parse::Need { .. })), "cut at {cut}");
        }
    }

    type Fields = Vec<(String, String)>;

    /// Every request of `raw` in turn, parsed into one `Request` (so later ones may reuse
    /// the memo of earlier ones) or each into a fresh one: what the handler would see.
    fn each(raw: &[u8], reuse: bool, limits: &Limits) -> Vec<Result<(Parsed, Fields), Refusal>> {
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = raw.to_vec();
        let mut seen = Vec::new();
        let mut start = 0;
        while start < raw.len() {
            if !reuse {
                req = Request::new("", "");
                parser = Parser::default();
                req.buf = raw.to_vec();
            }
            match parser.parse(&mut req, start, raw.len(), limits) {
                Ok(Parse::Done(used)) => {
                    let headers = req.headers().map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned()));
                    let keep = req.keep_alive();
                    let parsed =
                        (req.method().into(), req.target().into(), req.path().into(), req.body().to_vec(), keep);
                    seen.push(Ok((parsed, headers.collect())));
                    start += used;
                }
                Ok(Parse::Need { .. } | Parse::Head) => break,
                Err(status) => {
                    seen.push(Err(status));
                    break;
                }
            }
        }
        seen
    }

    #[test]
    fn a_repeated_head_reads_as_the_first() {
        let get = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";
        let post = b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        let mut raw = Vec::new();
        for (head, body) in [(&get[..], &b""[..]), (get, b""), (post, b"abc"), (post, b"xyz"), (get, b"")] {
            raw.extend_from_slice(head);
            raw.extend_from_slice(body);
        }
        // The same head with one byte changed, then the original again.
        let mut changed = get.to_vec();
        changed[5] = b'b';
        raw.extend_from_slice(&changed);
        raw.extend_from_slice(get);
        // Leading empty lines, then the head: not the same bytes.
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(get);
        let limits = Limits::default();
        let reused = each(&raw, true, &limits);
        assert_eq!(reused, each(&raw, false, &limits));
        assert_eq!(reused.len(), 8);
        let path = |i: usize| reused[i].as_ref().map(|r| r.0.2.clone()).unwrap();
        assert_eq!((path(0), path(5), path(6), path(7)), ("/a".into(), "/b".into(), "/a".into(), "/a".into()));
        let body = |i: usize| reused[i].as_ref().map(|r| r.0.3.clone()).unwrap();
        assert_eq!((body(2), body(3)), (b"abc".to_vec(), b"xyz".to_vec()));
        // A repeated head that a stricter limit refuses is refused.
        let mut req = Request::new("", "");
        let mut parser = Parser::default();
        req.buf = raw.clone();
        let Ok(Parse::Done(used)) = parser.parse(&mut req, 0, raw.len(), &limits) else { panic!("first request") };
        let strict = Limits { max_headers: 2, ..Limits::default() };
        assert_eq!(parser.parse(&mut req, used, raw.len(), &strict).err(), Some(431));
    }
}
