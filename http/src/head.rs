//! The request head parser: request line and header fields (RFC 9112 §2-§5), strict, with
//! no copy and no allocation once the field list has grown.
//!
//! What it admits:
//! - empty lines before the request line (ignored, RFC 9112 §2.2);
//! - `method SP request-target SP HTTP/1.x` with a token method, a target of visible ASCII
//!   (RFC 3986 characters and the few that clients leave unescaped; no control, space or
//!   non-ASCII byte) and any 1.x version (RFC 9112 §2.3; 1.0 is HTTP/1.0, the rest HTTP/1.1);
//! - header fields `token ":" OWS value OWS`, the value of visible ASCII, spaces, tabs and
//!   obs-text bytes;
//! - CR LF line ends.
//!
//! What it refuses: whitespace between a field name and its colon (RFC 9112 §5.1), obsolete
//! line folding (§5.2: a line that starts with whitespace), a CR not followed by LF, a bare
//! LF (§2.2 lets a recipient take one as a line end, but a front end that does not would read
//! a different head: a field hidden in another's value, such as a `Content-Length` that
//! desynchronises the connection), control characters anywhere, a version other than 1.x
//! (`Version`), more fields than allowed.
//!
//! Scanning goes sixteen bytes at a time (SSE2) over targets, values and the usual names and
//! methods (letters, digits, `-`); other token bytes go through a table one by one. The
//! fields the server acts on (`Host`, `Content-Length`, `Transfer-Encoding`, `Connection`,
//! `Expect`) are noted in the same pass.

use crate::authority::host_len;
use crate::request::{Span, connection_options, eq_folded};

/// Where the parts of a complete head lie in the buffer, and what its framing and connection
/// fields say (gathered in the same pass, so nothing walks the fields a second time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) method: Span,
    pub(crate) target: Span,
    /// Length of the path part of the target (up to its first `?`).
    pub(crate) path_len: usize,
    /// The minor version of HTTP/1.x.
    pub(crate) minor: u8,
    /// Length of the request line without its line end.
    pub(crate) line_len: usize,
    /// Where the head ends (after its final empty line), in the buffer.
    pub(crate) end: usize,
    pub(crate) fields: Known,
}

/// What the fields the server acts on say. Counts saturate at 255.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Known {
    /// `Host` fields, and whether one holds something other than a host and port
    /// (`authority::host_len`).
    pub(crate) hosts: u8,
    pub(crate) bad_host: bool,
    /// `Content-Length` fields, and the value of the first.
    pub(crate) lengths: u8,
    pub(crate) content_length: Span,
    /// `Transfer-Encoding` fields, and the value of the first.
    pub(crate) encodings: u8,
    pub(crate) transfer_encoding: Span,
    /// The `Connection` options sent (`request::CLOSE`, `request::KEEP_ALIVE`).
    pub(crate) connection: u8,
    /// An `Expect: 100-continue` was sent; another expectation was sent.
    pub(crate) expect_continue: bool,
    pub(crate) expect_other: bool,
}

/// Why a head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Malformed.
    Bad,
    /// More header fields than allowed.
    TooManyFields,
    /// A well-formed version other than HTTP/1.x.
    Version,
}

/// `tchar` of RFC 9110 §5.6.2.
const fn token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~');
        b += 1;
    }
    t
}

pub(crate) static TOKEN: [bool; 256] = token_table();

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is below `n` (n <= 128). The lowest flagged byte is
/// always a true one (a borrow only starts at a byte below `n`), which is all we use.
#[inline(always)]
fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * n as u64) & !x & HIGHS
}

/// High bit set in each byte of `x` that equals `b` (the lowest flagged byte is a true one).
#[inline(always)]
fn equal(x: u64, b: u8) -> u64 {
    let y = x ^ (ONES * b as u64);
    y.wrapping_sub(ONES) & !y & HIGHS
}

#[inline(always)]
fn word(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().expect("eight bytes"))
}

/// What a sixteen-byte scan stops at.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum Stop {
    /// Anything but `!`..=`~`.
    NotVisible,
    /// A control character or DEL (a HTAB among them is sorted out byte by byte).
    Control,
    /// Anything but a letter, a digit or `-`: the bytes of the usual field names and methods
    /// (the other token characters are sorted out byte by byte).
    NotName,
}

/// Sixteen bytes at a time with SSE2: the mask of the bytes of `buf[at..at + 16]` that
/// `stop` names.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn mask16(buf: &[u8], at: usize, stop: Stop) -> u32 {
    use std::arch::x86_64::*;
    let bytes: &[u8; 16] = buf[at..at + 16].try_into().expect("sixteen bytes");
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics are always available;
    // the load reads the sixteen bytes of `bytes` (unaligned loads have no other
    // requirement).
    unsafe { stops(_mm_loadu_si128(bytes.as_ptr().cast()), stop) }
}

/// The mask of the bytes of `x` that `stop` names.
///
/// # Safety
///
/// None beyond SSE2, which every x86_64 processor has (the function is `unsafe` only because
/// the intrinsics are).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn stops(x: std::arch::x86_64::__m128i, stop: Stop) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of the x86_64 baseline.
    unsafe {
        let set = |b: u8| _mm_set1_epi8(b as i8);
        // Compared as signed bytes, 0x80 and above count as negative.
        let hit = match stop {
            // "Below 0x21" takes the negative ones too.
            Stop::NotVisible => _mm_or_si128(_mm_cmplt_epi8(x, set(0x21)), _mm_cmpeq_epi8(x, set(0x7f))),
            // Below 0x20 but not negative (obs-text is allowed in values).
            Stop::Control => {
                _mm_or_si128(_mm_andnot_si128(x, _mm_cmplt_epi8(x, set(0x20))), _mm_cmpeq_epi8(x, set(0x7f)))
            }
            Stop::NotName => {
                // Setting bit 5 lower-cases letters and sends no other byte into a..=z.
                let lower = _mm_or_si128(x, set(0x20));
                let letter = _mm_and_si128(_mm_cmpgt_epi8(lower, set(b'a' - 1)), _mm_cmplt_epi8(lower, set(b'z' + 1)));
                let digit = _mm_and_si128(_mm_cmpgt_epi8(x, set(b'0' - 1)), _mm_cmplt_epi8(x, set(b'9' + 1)));
                let name = _mm_or_si128(_mm_or_si128(letter, digit), _mm_cmpeq_epi8(x, set(b'-')));
                return !(_mm_movemask_epi8(name) as u32) & 0xffff;
            }
        };
        _mm_movemask_epi8(hit) as u32
    }
}

/// The mask of the `?` bytes of `buf[at..at + 16]`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn questions16(buf: &[u8], at: usize) -> u32 {
    use std::arch::x86_64::*;
    let bytes: &[u8; 16] = buf[at..at + 16].try_into().expect("sixteen bytes");
    // SAFETY: as in `mask16`.
    unsafe {
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128(bytes.as_ptr().cast()), _mm_set1_epi8(b'?' as i8))) as u32
    }
}

/// The first byte at or after `at` that cannot be in a request target (anything but
/// `!`..=`~`), or `buf.len()`; and the first `?` before it, or that same end.
#[inline(always)]
fn target_end(buf: &[u8], mut at: usize) -> (usize, usize) {
    let mut question = usize::MAX;
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= buf.len() {
        let stop = mask16(buf, at, Stop::NotVisible);
        if question == usize::MAX {
            // The `?` before the stop, if any (the bits below the lowest stop bit).
            let q = questions16(buf, at) & stop.wrapping_sub(1) & !stop;
            if q != 0 {
                question = at + q.trailing_zeros() as usize;
            }
        }
        if stop != 0 {
            let end = at + stop.trailing_zeros() as usize;
            return (end, question.min(end));
        }
        at += 16;
    }
    while at < buf.len() && matches!(buf[at], 0x21..=0x7e) {
        if buf[at] == b'?' && question == usize::MAX {
            question = at;
        }
        at += 1;
    }
    (at, question.min(at))
}

/// The first byte at or after `at` that cannot be in a field value (a control character
/// other than HTAB, or DEL), or `buf.len()`. The line end is the first such byte of a valid
/// line.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_labels))] // the label serves the SIMD scan
fn value_end(buf: &[u8], mut at: usize) -> usize {
    'scan: loop {
        // Whole blocks while they hold nothing special; then the byte that stopped the scan.
        #[cfg(target_arch = "x86_64")]
        while at + 16 <= buf.len() {
            let stop = mask16(buf, at, Stop::Control);
            if stop != 0 {
                at += stop.trailing_zeros() as usize;
                if buf[at] == b'\t' {
                    at += 1;
                    continue 'scan;
                }
                return at;
            }
            at += 16;
        }
        while at + 8 <= buf.len() {
            let x = word(buf, at);
            let stop = below(x, 0x20) | equal(x, 0x7f);
            if stop != 0 {
                at += (stop.trailing_zeros() / 8) as usize;
                break;
            }
            at += 8;
        }
        // The byte that stopped the scan, or one of the last few.
        match buf.get(at) {
            None | Some(0x00..=0x08 | 0x0a..=0x1f | 0x7f) => return at,
            Some(_) => at += 1,
        }
    }
}

/// The end of the token starting at `at`. Sixteen bytes at a time while they are letters,
/// digits and `-` (the usual names), the table for any other byte and near the buffer's end.
#[inline(always)]
fn token_end(buf: &[u8], mut at: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    while at + 16 <= buf.len() {
        let other = mask16(buf, at, Stop::NotName);
        if other == 0 {
            at += 16;
            continue;
        }
        at += other.trailing_zeros() as usize;
        if !TOKEN[buf[at] as usize] {
            return at;
        }
        at += 1;
    }
    while at < buf.len() && TOKEN[buf[at] as usize] {
        at += 1;
    }
    at
}

/// The part of the head from `start` to `end` (where its scan stopped), which must not be
/// empty and must be followed by `delimiter`: its span, or `Ok(None)` when the buffer ends
/// first.
#[inline(always)]
fn delimited(buf: &[u8], start: usize, end: usize, delimiter: u8) -> Result<Option<Span>, HeadError> {
    match buf.get(end) {
        None => Ok(None),
        Some(&b) if b == delimiter && end > start => Ok(Some(Span::new(start, end - start))),
        Some(_) => Err(HeadError::Bad),
    }
}

/// After a line's content ending at `at`: the start of the next line, `Ok(None)` when the
/// buffer ends first, an error when the line does not end here with CR LF.
#[inline(always)]
fn line_end(buf: &[u8], at: usize) -> Result<Option<usize>, HeadError> {
    match buf.get(at) {
        None => Ok(None),
        Some(b'\r') => match buf.get(at + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(at + 2)),
            Some(_) => Err(HeadError::Bad),
        },
        Some(_) => Err(HeadError::Bad),
    }
}

impl Known {
    /// Takes note of field `name: value` (`span` is where the value lies) if the server acts
    /// on it. Ruled out by the name's length first: most fields are none of these.
    #[inline(always)]
    fn note(&mut self, name: &[u8], value: &[u8], span: Span) {
        // The head parser admits only token bytes in a name and no CR, LF or NUL in a value,
        // as `eq_folded` requires.
        match name.len() {
            4 if eq_folded(name, b"host") => {
                self.hosts = self.hosts.saturating_add(1);
                self.bad_host |= host_len(value).is_none();
            }
            6 if eq_folded(name, b"expect") => {
                if eq_folded(value, b"100-continue") {
                    self.expect_continue = true;
                } else {
                    self.expect_other = true;
                }
            }
            10 if eq_folded(name, b"connection") => self.connection |= connection_options(value),
            14 if eq_folded(name, b"content-length") => {
                if self.lengths == 0 {
                    self.content_length = span;
                }
                self.lengths = self.lengths.saturating_add(1);
            }
            17 if eq_folded(name, b"transfer-encoding") => {
                if self.encodings == 0 {
                    self.transfer_encoding = span;
                }
                self.encodings = self.encodings.saturating_add(1);
            }
            _ => {}
        }
    }
}

/// Parses the head that starts at `buf[from]`; the field positions go into `fields`
/// (cleared first). Every position is an index into `buf`. `Ok(None)`: the head is not
/// complete yet.
pub(crate) fn parse_head(
    buf: &[u8],
    from: usize,
    max_fields: usize,
    fields: &mut Vec<(Span, Span)>,
) -> Result<Option<Head>, HeadError> {
    use HeadError::*;
    fields.clear();
    let mut at = from;
    // Empty lines before the request line.
    loop {
        match buf.get(at) {
            None => return Ok(None),
            Some(b'\r' | b'\n') => match line_end(buf, at)? {
                Some(next) => at = next,
                None => return Ok(None),
            },
            Some(_) => break,
        }
    }
    let line_start = at;

    // method SP request-target SP
    let Some(method) = delimited(buf, at, token_end(buf, at), b' ')? else {
        return Ok(None);
    };
    at = method.range().end + 1;
    let (end, question) = target_end(buf, at);
    let Some(target) = delimited(buf, at, end, b' ')? else {
        return Ok(None);
    };
    let path_len = question - at;
    at = end + 1;

    // HTTP-version: "HTTP/" DIGIT "." DIGIT
    const SHAPE: &[u8; 8] = b"HTTP/0.0";
    match buf.get(at..at + 8) {
        Some(v) if v[..5] == SHAPE[..5] && v[5].is_ascii_digit() && v[6] == b'.' && v[7].is_ascii_digit() => {}
        Some(_) => return Err(Bad),
        None => {
            let fits = |(i, &b): (usize, &u8)| if matches!(i, 5 | 7) { b.is_ascii_digit() } else { b == SHAPE[i] };
            return if buf[at..].iter().enumerate().all(fits) { Ok(None) } else { Err(Bad) };
        }
    }
    if buf[at + 5] != b'1' {
        return Err(Version);
    }
    let minor = buf[at + 7] - b'0';
    at += 8;
    let line_len = at - line_start;
    at = match line_end(buf, at)? {
        Some(next) => next,
        None => return Ok(None),
    };

    let mut known = Known::default();
    let end = field_lines(buf, at, max_fields, fields, &mut known)?;
    Ok(end.map(|end| Head { method, target, path_len, minor, line_len, end, fields: known }))
}

/// Where the parts of a field line lie.
struct Line {
    name_end: usize,
    value_start: usize,
    /// After the value's trailing whitespace.
    value_end: usize,
    /// The start of the next line.
    next: usize,
}

/// The usual field line at `at`, read in a few steps: a name of letters, digits and `-`
/// shorter than sixteen bytes, `:`, at most one space, a value without HTAB, CR LF, all well
/// inside the buffer. `None` for anything else (a field line or not, valid or not): the
/// general code then reads it. What this accepts, the general code would accept the same way.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn usual_line(buf: &[u8], at: usize) -> Option<Line> {
    use std::arch::x86_64::*;
    let len = buf.len();
    if at + 16 > len {
        return None;
    }
    // Sixteen bytes can be loaded at any position up to this one.
    let last = len - 16;
    let base = buf.as_ptr();
    // SAFETY: SSE2 is part of the x86_64 baseline; `at <= last`, so the sixteen bytes loaded
    // lie in `buf`.
    let name_len = unsafe { stops(_mm_loadu_si128(base.add(at).cast()), Stop::NotName) }.trailing_zeros() as usize;
    // Empty (the head's end, a continuation line, anything odd), longer than the block, or
    // ended by anything but the colon.
    if name_len == 0 || name_len == 32 || buf[at + name_len] != b':' {
        return None;
    }
    let name_end = at + name_len;
    let mut value_start = name_end + 1;
    if buf.get(value_start) == Some(&b' ') {
        value_start += 1;
    }
    let mut end = value_start;
    let stop = loop {
        if end > last {
            return None;
        }
        // SAFETY: as above, `end <= last`.
        let stop = unsafe { stops(_mm_loadu_si128(base.add(end).cast()), Stop::Control) };
        if stop != 0 {
            break stop;
        }
        end += 16;
    };
    end += stop.trailing_zeros() as usize;
    // CR LF, and no whitespace left at either end of the value (HTAB stops the scan too).
    if buf[end] != b'\r' || buf.get(end + 1) != Some(&b'\n') || buf[value_start] == b' ' {
        return None;
    }
    let next = end + 2;
    while end > value_start && buf[end - 1] == b' ' {
        end -= 1;
    }
    Some(Line { name_end, value_start, value_end: end, next })
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn usual_line(_: &[u8], _: usize) -> Option<Line> {
    None
}

/// The field lines from `at` to the empty line that ends the head: their positions go into
/// `fields`, what the server acts on into `known`. Returns where the head ends, or
/// `Ok(None)` when it is not complete yet. A function of its own so that its loop keeps its
/// few variables in registers.
#[inline(never)]
fn field_lines(
    buf: &[u8],
    mut at: usize,
    max_fields: usize,
    fields: &mut Vec<(Span, Span)>,
    known: &mut Known,
) -> Result<Option<usize>, HeadError> {
    loop {
        if let Some(line) = usual_line(buf, at) {
            if fields.len() == max_fields {
                return Err(HeadError::TooManyFields);
            }
            let value = Span::new(line.value_start, line.value_end - line.value_start);
            fields.push((Span::new(at, line.name_end - at), value));
            known.note(&buf[at..line.name_end], &buf[line.value_start..line.value_end], value);
            at = line.next;
            continue;
        }
        let Some(&first) = buf.get(at) else {
            return Ok(None);
        };
        if first <= b' ' {
            match first {
                // The empty line that ends the head.
                b'\r' | b'\n' => return line_end(buf, at),
                // Obsolete line folding (or whitespace before the first field).
                b' ' | b'\t' => return Err(HeadError::Bad),
                // A control character: refused below as an empty name.
                _ => {}
            }
        }
        let name_start = at;
        let name_end = token_end(buf, at);
        let Some(name) = delimited(buf, at, name_end, b':')? else {
            return Ok(None);
        };
        at = name_end + 1;
        // Usually one space.
        if buf.get(at) == Some(&b' ') {
            at += 1;
        }
        while let Some(b' ' | b'\t') = buf.get(at) {
            at += 1;
        }
        let value_start = at;
        at = value_end(buf, at);
        let mut end = at;
        at = match line_end(buf, at)? {
            Some(next) => next,
            None => return Ok(None),
        };
        while end > value_start && matches!(buf[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        if fields.len() == max_fields {
            return Err(HeadError::TooManyFields);
        }
        let value = Span::new(value_start, end - value_start);
        fields.push((name, value));
        known.note(&buf[name_start..name_end], &buf[value_start..end], value);
    }
}

/// The head parser from outside the crate, for its benchmark (`http/benches/head.rs`) and the
/// differential fuzz target (`http/fuzz`, `head_vs_httparse`): not part of the API.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct HeadProbe {
    fields: Vec<(Span, Span)>,
    head: Option<Head>,
}

/// Why [`HeadProbe::parse`] refused a head.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadRefusal {
    /// Malformed (answered 400).
    Bad,
    /// More header fields than allowed (431).
    TooManyFields,
    /// A well-formed version other than HTTP/1.x (505).
    Version,
}

impl HeadProbe {
    /// Parses the head at the start of `buf` the way a connection does: `Ok(true)` when it is
    /// complete (the accessors then describe it), `Ok(false)` when more bytes are needed.
    #[inline]
    pub fn parse(&mut self, buf: &[u8], max_fields: usize) -> Result<bool, HeadRefusal> {
        self.head = None;
        match parse_head(buf, 0, max_fields, &mut self.fields) {
            Ok(head) => {
                self.head = head;
                Ok(head.is_some())
            }
            Err(HeadError::Bad) => Err(HeadRefusal::Bad),
            Err(HeadError::TooManyFields) => Err(HeadRefusal::TooManyFields),
            Err(HeadError::Version) => Err(HeadRefusal::Version),
        }
    }

    fn head(&self) -> &Head {
        self.head.as_ref().expect("a complete head was parsed")
    }

    /// Where the method lies in the buffer.
    pub fn method(&self) -> std::ops::Range<usize> {
        self.head().method.range()
    }

    /// Where the request target lies.
    pub fn target(&self) -> std::ops::Range<usize> {
        self.head().target.range()
    }

    /// The minor version of HTTP/1.x.
    pub fn minor(&self) -> u8 {
        self.head().minor
    }

    /// Where the head ends (after its final empty line).
    pub fn end(&self) -> usize {
        self.head().end
    }

    /// Where each field's name and (trimmed) value lie, in order.
    pub fn fields(&self) -> impl Iterator<Item = (std::ops::Range<usize>, std::ops::Range<usize>)> + '_ {
        self.fields.iter().map(|(name, value)| (name.range(), value.range()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = (String, String, u8, Vec<(String, String)>, usize);

    fn ours(buf: &[u8]) -> Result<Option<Parsed>, HeadError> {
        let mut fields = Vec::new();
        let text = |s: Span| String::from_utf8_lossy(&buf[s.range()]).into_owned();
        Ok(parse_head(buf, 0, 64, &mut fields)?.map(|h| {
            let fields = fields.iter().map(|&(n, v)| (text(n), text(v))).collect();
            (text(h.method), text(h.target), h.minor, fields, h.end)
        }))
    }

    fn reference(buf: &[u8]) -> Result<Option<Parsed>, ()> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) => Ok(Some((
                req.method.unwrap().to_owned(),
                req.path.unwrap().to_owned(),
                req.version.unwrap(),
                req.headers
                    .iter()
                    .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect(),
                len,
            ))),
            Ok(httparse::Status::Partial) => Ok(None),
            Err(_) => Err(()),
        }
    }

    const VALID: &[&[u8]] = &[
        b"GET /0123456789abcdef0123456789abcdef?q=0123456789 HTTP/1.1\r\nX-Long-Obs: 0123456789\xc3\xa9abcdef\t0123456789abcdef\x80\x81 end \t\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\nConnection: keep-alive\r\n\r\n",
        b"POST /a?b=c&d=%20e HTTP/1.0\r\nContent-Length: 3\r\nX-Empty:\r\nX-Tabs:\t a \t b\t \r\n\r\nabc",
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\nX-Obs: caf\xc3\xa9 \x80\xff\r\n\r\n",
        b"M-SEARCH /~user/!$&'()*+,;=:@ HTTP/1.1\r\nA.b_c!d#e$f%g&h'i*j+k^l`m|n~o: 1\r\n\r\n",
        b"GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nLong: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\n",
    ];

    #[test]
    fn agrees_with_httparse_on_valid_heads_whole_and_cut() {
        for &req in VALID {
            let whole = ours(req).unwrap().expect("complete");
            assert_eq!(Ok(Some(whole.clone())), reference(req).map_err(|_| HeadError::Bad), "{req:?}");
            for cut in 0..whole.4 {
                assert_eq!(ours(&req[..cut]), Ok(None), "cut at {cut} of {req:?}");
            }
        }
    }

    #[test]
    fn refuses_what_rfc_9112_refuses() {
        for (req, want) in [
            (&b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"[..], HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHost: a\x7fb\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHost: 0123456789abcdef\x01\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\n: a\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHo\"st: a\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nX-Long-Field(Name)-Here: a\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nX-Long-Field-Name-Here/: a\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nX-Long-Field-Name-Here : a\r\n\r\n", HeadError::Bad),
            (b"GET /a b HTTP/1.1\r\n\r\n", HeadError::Bad),
            (b"GET  / HTTP/1.1\r\n\r\n", HeadError::Bad),
            (b"GET /\x01 HTTP/1.1\r\n\r\n", HeadError::Bad),
            (b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", HeadError::Bad),
            (b"G(T / HTTP/1.1\r\n\r\n", HeadError::Bad),
            (b" GET / HTTP/1.1\r\n\r\n", HeadError::Bad),
            (b"GET / FTP/1.1\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1 \r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\rX\r\n\r\n", HeadError::Bad),
            // A bare LF ending the request line, a field, the head, or an empty line before it.
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHost: 0123456789abcdef0123\nX: b\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\n", HeadError::Bad),
            (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", HeadError::Bad),
            (b"GET / HTTP/2.0\r\n\r\n", HeadError::Version),
            (b"GET / HTTP/0.9\r\n\r\n", HeadError::Version),
        ] {
            assert_eq!(ours(req), Err(want), "{:?}", String::from_utf8_lossy(req));
        }
    }

    #[test]
    fn counts_fields_against_the_limit() {
        let req = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        let mut fields = Vec::new();
        assert!(parse_head(req, 0, 3, &mut fields).unwrap().is_some());
        assert_eq!(parse_head(req, 0, 2, &mut fields), Err(HeadError::TooManyFields));
    }

    #[test]
    fn a_later_minor_version_is_http_1_1() {
        assert_eq!(ours(b"GET / HTTP/1.2\r\n\r\n").unwrap().unwrap().2, 2);
    }

    /// Random edits of valid heads: wherever httparse finds a complete head whose target is
    /// visible ASCII, ours finds the same one; where it refuses, ours refuses too, unless the
    /// edit made a version 1.x that httparse does not know.
    #[test]
    fn agrees_with_httparse_on_random_edits() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        const BYTES: &[u8] = b"\r\n :\t\x00\x7f\x80aZ/?HTTP1.0";
        for _ in 0..200_000 {
            let mut req = VALID[rand(VALID.len())].to_vec();
            for _ in 0..1 + rand(3) {
                let at = rand(req.len());
                match rand(3) {
                    0 => req[at] = BYTES[rand(BYTES.len())],
                    1 => req.insert(at, BYTES[rand(BYTES.len())]),
                    _ => {
                        req.remove(at);
                    }
                }
            }
            let (ours, theirs) = (ours(&req), reference(&req));
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) if a == b => {}
                // httparse takes UTF-8 in targets, and tolerates a few more bytes there.
                (Err(HeadError::Bad), Ok(Some((_, target, ..))))
                    if !target.bytes().all(|b| matches!(b, 0x21..=0x7e)) || target.contains(['"', '\\']) => {}
                (Ok(Some((.., minor, _, _))), Err(())) if *minor > 1 => {}
                // httparse takes a bare LF as a line end; ours refuses it.
                (Err(HeadError::Bad), _)
                    if req.iter().enumerate().any(|(at, &b)| b == b'\n' && (at == 0 || req[at - 1] != b'\r')) => {}
                (Err(_), Err(())) => {}
                _ => panic!("{:?}: ours {ours:?}, httparse {theirs:?}", String::from_utf8_lossy(&req)),
            }
        }
    }
}
