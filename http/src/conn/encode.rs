//! Encoding responses: the head (status line, the handler's fields, and the framing and
//! connection fields the server writes), kept per connection in a `HeadCache`; the refusal
//! a connection closes with; and the writers of streamed bodies (sized and chunked).

use std::borrow::Cow;
use std::io::{self, Write};

use super::transport::Transport;
use super::write::Sender;
use crate::response::{Body, reason};
use crate::{Response, Version};

/// How a response's body is delimited on the wire (RFC 9112 §6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum BodyLength {
    /// `Content-Length`: exactly this many bytes.
    Known(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body ends when the connection closes (a stream to an HTTP/1.0 client).
    CloseDelimited,
    /// None at all (204, 304): neither field.
    #[default]
    NoBody,
}

/// What a response head says about the message around it: how the body is delimited, the
/// version it answers, and whether the connection stays open after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Framing {
    pub(super) length: BodyLength,
    pub(super) version: Version,
    pub(super) keep_alive: bool,
}

/// Writes a refusal with `Connection: close`.
pub(super) fn refuse(out: &mut Vec<u8>, status: u16) {
    let body = format!("{status} {}\n", reason(status));
    let resp = Response::new(status).header("Content-Type", "text/plain").body(body.into_bytes());
    let len = match &resp.body {
        Body::Bytes(b) => b.len(),
        _ => 0,
    };
    let framing = Framing { length: BodyLength::Known(len), version: Version::Http11, keep_alive: false };
    HeadCache::default().encode(out, &resp, false, &crate::date::now(), framing);
    if let Body::Bytes(b) = &resp.body {
        out.extend_from_slice(b);
    }
}

/// A response head as encoded for the last response on a connection, with what it was
/// encoded from: an endpoint answered again and again (the common case) costs one copy
/// instead of an encoding (and the date's 29 bytes, once a second). The date comes last.
#[derive(Default)]
pub(super) struct HeadCache {
    valid: bool,
    status: u16,
    /// The framing encoded.
    framing: Framing,
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
    fn holds(&self, resp: &Response, fields_known: bool, framing: Framing) -> bool {
        fields_known && self.status == resp.status && self.framing == framing
    }

    /// Whether `resp` has a final status and the very header fields of the kept head (which
    /// were found valid when it was encoded).
    #[inline]
    pub(super) fn knows_fields(&self, resp: &Response) -> bool {
        self.valid
            && final_status(resp.status)
            && self.key.len() == resp.headers.len()
            && self.key.iter().zip(&resp.headers).all(|(k, h)| Self::key(h) == Some(*k))
    }

    /// Encodes the head of `resp`, and keeps it if its headers are static.
    #[inline(never)]
    fn fill(&mut self, resp: &Response, framing: Framing, date: &[u8; 29]) {
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

    /// Writes the head of `resp` with `framing` into `out` (the status line, its fields and
    /// the server's, the empty line), given whether `resp` has the kept head's fields
    /// (`knows_fields`).
    pub(super) fn encode(
        &mut self,
        out: &mut Vec<u8>,
        resp: &Response,
        fields_known: bool,
        date: &[u8; 29],
        framing: Framing,
    ) {
        self.encode_inline(out, resp, fields_known, date, framing);
    }

    /// `encode`, inlined where responses are usually encoded.
    #[inline(always)]
    pub(super) fn encode_inline(
        &mut self,
        out: &mut Vec<u8>,
        resp: &Response,
        fields_known: bool,
        date: &[u8; 29],
        framing: Framing,
    ) {
        if !self.holds(resp, fields_known, framing) {
            self.fill(resp, framing, date);
        } else if !same_date(&self.date, date) {
            // A new second.
            self.bytes[self.date_at..self.date_at + date.len()].copy_from_slice(date);
            self.date = *date;
        }
        out.extend_from_slice(&self.bytes);
    }
}

/// The status line, the handler's headers, `Server`, the framing and connection fields, and
/// `Date: `.
fn head_start(out: &mut Vec<u8>, resp: &Response, Framing { length, version, keep_alive }: Framing) {
    if resp.status == 200 {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    } else {
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(itoa::Buffer::new().format(resp.status).as_bytes());
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
    match length {
        BodyLength::Known(len) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        BodyLength::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        BodyLength::CloseDelimited | BodyLength::NoBody => {}
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"Date: ");
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
pub(super) fn final_status(status: u16) -> bool {
    (200..=999).contains(&status)
}

/// Whether a handler's response can be sent as it is: a final status, field names that are
/// tokens, field values without control characters other than tab (RFC 9110 §5.1, §5.5).
pub(super) fn valid_head(resp: &Response) -> bool {
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

/// Sends at most the bytes a `Content-Length` announced; refuses more.
pub(super) struct SizedWriter<'a, S> {
    pub(super) sender: Sender<'a, S>,
    pub(super) left: u64,
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
pub(super) struct ChunkWriter<'a, S> {
    pub(super) sender: Sender<'a, S>,
    /// Room for the size line, then the data gathered (empty until the first write).
    pub(super) buf: Vec<u8>,
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
        let framing = |out: &mut Vec<u8>, cache: &mut HeadCache, date: &[u8; 29], keep_alive: bool| {
            out.clear();
            let known = cache.knows_fields(&resp);
            let framing = Framing { length: BodyLength::Known(2), version: Version::Http11, keep_alive };
            cache.encode(out, &resp, known, date, framing);
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

    #[test]
    fn each_framing_writes_its_own_fields() {
        let date = *b"Fri, 27 Nov 2026 08:49:37 GMT";
        let encode = |resp: &Response, length: BodyLength, version: Version, keep_alive: bool| {
            let mut out = Vec::new();
            HeadCache::default().encode(&mut out, resp, false, &date, Framing { length, version, keep_alive });
            String::from_utf8(out).unwrap()
        };
        let ok = Response::text("hello");
        let http11 = Version::Http11;
        let sized = encode(&ok, BodyLength::Known(1234567), http11, true);
        assert!(sized.contains("\r\nContent-Length: 1234567\r\n") && !sized.contains("Transfer-Encoding"), "{sized}");
        assert!(!sized.contains("Connection:"), "{sized}");
        let chunked = encode(&ok, BodyLength::Chunked, http11, true);
        assert!(
            chunked.contains("\r\nTransfer-Encoding: chunked\r\n") && !chunked.contains("Content-Length"),
            "{chunked}"
        );
        for length in [BodyLength::CloseDelimited, BodyLength::NoBody] {
            let text = encode(&ok, length, http11, length == BodyLength::NoBody);
            assert!(!text.contains("Content-Length") && !text.contains("Transfer-Encoding"), "{text}");
        }
        let closing = encode(&ok, BodyLength::CloseDelimited, Version::Http10, false);
        assert!(closing.contains("\r\nConnection: close\r\n"), "{closing}");
        let kept = encode(&ok, BodyLength::Known(5), Version::Http10, true);
        assert!(kept.contains("\r\nConnection: keep-alive\r\n"), "{kept}");
        let other = encode(&Response::new(404), BodyLength::Known(0), http11, true);
        assert!(other.starts_with("HTTP/1.1 404 Not Found\r\n") && other.contains("Content-Length: 0\r\n"), "{other}");
    }
}
