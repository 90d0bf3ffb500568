//! An HTTP request as a handler sees it.

use std::net::SocketAddr;

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the response unless the client asked for
    /// keep-alive.
    Http10,
    /// HTTP/1.1.
    #[default]
    Http11,
}

/// Where a piece of the request lies in `Request::buf`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    len: u32,
}

impl Span {
    pub(crate) fn new(start: usize, len: usize) -> Span {
        Span { start: start as u32, len: len as u32 }
    }

    /// The same length at `start - from + to`.
    #[inline]
    pub(crate) fn moved(self, from: usize, to: usize) -> Span {
        Span { start: (self.start as usize - from + to) as u32, len: self.len }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }

    fn of<'a>(&self, head: &'a [u8]) -> &'a [u8] {
        &head[self.range()]
    }

    /// # Safety
    ///
    /// The span must cover valid UTF-8 (the method and target always do: the head parser
    /// admits only ASCII there, and hand-made requests are built from `&str`).
    unsafe fn str<'a>(&self, head: &'a [u8]) -> &'a str {
        // SAFETY: forwarded from the caller.
        unsafe { std::str::from_utf8_unchecked(self.of(head)) }
    }
}

/// A request: method, target, headers, body, and the route's path parameters.
///
/// The request stays where it was received, in the connection's buffer, and is read through
/// the positions of its parts: parsing copies nothing and allocates nothing once the field
/// list has grown.
///
/// Its `Debug` shows the request (method, target, version, headers, body length, peer, path
/// parameters), never the buffer it lies in: that buffer is recycled between connections and
/// may hold other requests' bytes beyond this one.
#[derive(Clone)]
pub struct Request {
    /// What the spans point into: the connection's receive buffer while the server answers
    /// (other pipelined requests may lie in it too), or the parts of a hand-made request.
    pub(crate) buf: Vec<u8>,
    pub(crate) method: Span,
    pub(crate) target: Span,
    pub(crate) version: Version,
    /// (name, value) positions in `buf`, counted from `head_at`.
    pub(crate) headers: Vec<(Span, Span)>,
    /// Where the head starts in `buf`: the header spans are relative to it.
    pub(crate) head_at: u32,
    /// Where a received body lies in `buf` (a chunked one decoded in place); `None`: the
    /// body is `body`.
    pub(crate) body_span: Option<Span>,
    /// A hand-made body (a received request's is always in `buf`).
    pub(crate) body: Vec<u8>,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) peer: Option<SocketAddr>,
    /// Whether the request came over TLS.
    pub(crate) secure: bool,
    /// Length of the path part of the target (up to `?`).
    pub(crate) path_len: u32,
    /// The `Connection` options sent (`CLOSE`, `KEEP_ALIVE`), from every such field.
    pub(crate) connection: u8,
    /// The authority of an absolute-form target in `buf` (empty: the target had none).
    pub(crate) authority: Span,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// The header fields, each as `name: value` (lossy UTF-8).
        struct Fields<'a>(&'a Request);
        impl std::fmt::Debug for Fields<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list().entries(self.0.headers().map(|(n, v)| (n, String::from_utf8_lossy(v)))).finish()
            }
        }
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("authority", &self.authority())
            .field("version", &self.version)
            .field("headers", &Fields(self))
            .field("body_len", &self.body().len())
            .field("peer", &self.peer)
            .field("params", &self.params)
            .finish()
    }
}

/// `Connection: close` was sent.
pub(crate) const CLOSE: u8 = 1;
/// `Connection: keep-alive` was sent.
pub(crate) const KEEP_ALIVE: u8 = 2;

/// The options of a `Connection` field value we act on (a comma-separated token list).
pub(crate) fn connection_options(value: &[u8]) -> u8 {
    // The usual values, whole.
    if eq_folded(value, b"keep-alive") {
        return KEEP_ALIVE;
    }
    if eq_folded(value, b"close") {
        return CLOSE;
    }
    let mut found = 0;
    for token in value.split(|&b| b == b',') {
        let token = token.trim_ascii();
        if token.eq_ignore_ascii_case(b"close") {
            found |= CLOSE;
        } else if token.eq_ignore_ascii_case(b"keep-alive") {
            found |= KEEP_ALIVE;
        }
    }
    found
}

/// Whether `bytes` equals `lower` ignoring ASCII case, where `lower` holds only lower-case
/// letters, digits and `-`, and `bytes` comes from a parsed head (no CR, LF or NUL).
///
/// Setting bit 5 lower-cases a letter and leaves digits and `-` as they are; the only other
/// bytes it maps onto these are control characters, which a parsed name or value does not
/// hold. Compares eight bytes at a time.
#[inline]
pub(crate) fn eq_folded(bytes: &[u8], lower: &[u8]) -> bool {
    eq_under(bytes, lower, 0x2020_2020_2020_2020)
}

/// Whether `a` equals `b`, inline (short strings compare faster here than through `memcmp`).
#[inline]
pub(crate) fn eq_exact(a: &[u8], b: &[u8]) -> bool {
    eq_under(a, b, 0)
}

/// Whether `bytes` with the bits of `fold` set in every byte equals `want`, eight bytes at a
/// time.
#[inline(always)]
fn eq_under(bytes: &[u8], want: &[u8], fold: u64) -> bool {
    let n = bytes.len();
    if n != want.len() {
        return false;
    }
    if n < 8 {
        if n >= 4 {
            // Two (possibly overlapping) four-byte words.
            let word = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("four bytes"));
            let fold = fold as u32;
            return word(bytes, 0) | fold == word(want, 0) && word(bytes, n - 4) | fold == word(want, n - 4);
        }
        // The first, middle and last bytes cover all of zero to three.
        let fold = fold as u8;
        return n == 0
            || (bytes[0] | fold == want[0]
                && bytes[n / 2] | fold == want[n / 2]
                && bytes[n - 1] | fold == want[n - 1]);
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("eight bytes"));
    let mut at = 0;
    while at + 8 < n {
        if word(bytes, at) | fold != word(want, at) {
            return false;
        }
        at += 8;
    }
    // The last (possibly overlapping) eight bytes.
    word(bytes, n - 8) | fold == word(want, n - 8)
}

/// Where the path of `target` ends (at `?`, or its end).
pub(crate) fn path_len(target: &[u8]) -> usize {
    target.iter().position(|&b| b == b'?').unwrap_or(target.len())
}

impl Request {
    /// A request built by hand (for tests of handlers).
    pub fn new(method: &str, target: &str) -> Request {
        let mut buf = Vec::with_capacity(method.len() + target.len() + 1);
        buf.extend_from_slice(method.as_bytes());
        buf.push(b' ');
        buf.extend_from_slice(target.as_bytes());
        Request {
            method: Span::new(0, method.len()),
            target: Span::new(method.len() + 1, target.len()),
            buf,
            version: Version::Http11,
            headers: Vec::new(),
            head_at: 0,
            body_span: None,
            body: Vec::new(),
            params: Vec::new(),
            peer: None,
            secure: false,
            path_len: path_len(target.as_bytes()) as u32,
            connection: 0,
            authority: Span::default(),
        }
    }

    /// An empty request to be filled by the parser.
    pub(crate) fn empty() -> Request {
        Request::new("", "")
    }

    /// Adds a header (builder style, for hand-made requests).
    pub fn with_header(mut self, name: &str, value: &str) -> Request {
        let at = self.buf.len() - self.head_at as usize;
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(value.as_bytes());
        self.headers.push((Span::new(at, name.len()), Span::new(at + name.len(), value.len())));
        if name.eq_ignore_ascii_case("connection") {
            self.connection |= connection_options(value.as_bytes());
        }
        self
    }

    /// Sets the body (builder style, for hand-made requests).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self.body_span = None;
        self
    }

    /// The method, as sent (`GET`, `POST`, ...).
    pub fn method(&self) -> &str {
        // SAFETY: the method span covers what the head parser validated as a token (ASCII),
        // or a `&str` given to `new`.
        unsafe { self.method.str(&self.buf) }
    }

    /// The request target as sent: path and query.
    pub fn target(&self) -> &str {
        // SAFETY: the target span covers what the head parser validated as visible ASCII, or
        // a `&str` given to `new`.
        unsafe { self.target.str(&self.buf) }
    }

    /// The path part of the target (`/` when empty, as an absolute-form target without a path
    /// means the root).
    pub fn path(&self) -> &str {
        // `path_len` is the position of the first `?` (ASCII) in the target, or its length.
        match &self.target()[..self.path_len as usize] {
            "" => "/",
            path => path,
        }
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.target().get(self.path_len as usize + 1..)
    }

    /// The first value of query parameter `name`, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true) == name).then(|| percent_decode(v, true).into_owned())
        })
    }

    /// The authority the request is for (RFC 9110 §7.2): host and perhaps port, as sent. That
    /// of an absolute-form target (`GET http://a.example/x`) when it has one, which a `Host`
    /// field does not override (RFC 9112 §3.2.2); otherwise the `Host` field's value (`None`
    /// for an HTTP/1.0 request without one). Either was checked to be `host[:port]`.
    ///
    /// ```
    /// use oc_http::Request;
    /// let req = Request::new("GET", "/x").with_header("Host", "b.example:8080");
    /// assert_eq!(req.authority(), Some("b.example:8080"));
    /// ```
    pub fn authority(&self) -> Option<&str> {
        if self.authority.is_empty() {
            return self.header("host");
        }
        // The authority of an absolute-form target is part of the target: visible ASCII.
        std::str::from_utf8(self.authority.of(&self.buf)).ok()
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The first value of header `name` (case-insensitive), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of header `name` (case-insensitive), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        let head = self.head();
        self.headers.iter().find(|(n, _)| n.of(head).eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v.of(head))
    }

    /// Every value of header `name` (case-insensitive), as bytes, in the order sent. Field
    /// lines with the same name make one comma-separated list (RFC 9110 §5.3): a list-valued
    /// field such as `If-None-Match` is read across all of them.
    ///
    /// ```
    /// use oc_http::Request;
    /// let req = Request::new("GET", "/").with_header("Accept", "text/html").with_header("accept", "*/*");
    /// let values: Vec<&[u8]> = req.header_values("Accept").collect();
    /// assert_eq!(values, [&b"text/html"[..], b"*/*"]);
    /// assert_eq!(req.header("accept"), Some("text/html"));
    /// ```
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> {
        let head = self.head();
        self.headers
            .iter()
            .filter(move |(n, _)| n.of(head).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.of(head))
    }

    /// Every header, names as sent, in the order sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let head = self.head();
        self.headers.iter().map(|(n, v)| (std::str::from_utf8(n.of(head)).unwrap_or(""), v.of(head)))
    }

    /// The bytes from the head's start, which header spans are relative to.
    fn head(&self) -> &[u8] {
        &self.buf[self.head_at as usize..]
    }

    pub(crate) fn is_head(&self) -> bool {
        self.method.of(&self.buf) == b"HEAD"
    }

    /// The body (de-chunked).
    pub fn body(&self) -> &[u8] {
        match self.body_span {
            Some(span) => span.of(&self.buf),
            None => &self.body,
        }
    }

    /// The body as UTF-8 text.
    pub fn body_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.body())
    }

    /// The body parsed as JSON, nested at most `JSON_MAX_DEPTH` (64) arrays and objects deep.
    ///
    /// A deeper body is an error before it is parsed (answer it with a `400`): the value it
    /// would make could take more stack to use or merely to drop than a connection's coroutine
    /// has (about 800 bytes per level for a `serde_json::Value` object in a debug build). See
    /// `json_with_depth` for more.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        self.json_with_depth(JSON_MAX_DEPTH)
    }

    /// The body parsed as JSON, nested at most `max_depth` arrays and objects deep (and never
    /// more than 128, serde_json's own limit). A deeper body is an error before it is parsed.
    ///
    /// Parsing never overflows the coroutine's stack: a body nested deeply enough to need more
    /// stack than is left is parsed on a segment of its own (`oc_runtime::maybe_grow`). What the
    /// caller does with a deep value afterwards (drop it, walk it, serialise it) recurses too,
    /// on the caller's stack: raise `max_depth` only with the stack for it.
    ///
    /// ```
    /// use oc_http::Request;
    /// let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    /// let req = Request::new("POST", "/").with_body(deep);
    /// assert!(req.json::<serde_json::Value>().unwrap_err().to_string().contains("nested deeper than 64"));
    /// assert!(req.json_with_depth::<serde_json::Value>(65).is_ok());
    /// ```
    pub fn json_with_depth<T: serde::de::DeserializeOwned>(&self, max_depth: usize) -> Result<T, serde_json::Error> {
        let body = self.body();
        let depth = json_depth(body);
        if depth > max_depth {
            return Err(serde::de::Error::custom(format_args!(
                "JSON nested deeper than {max_depth} arrays and objects ({depth})"
            )));
        }
        // serde_json recurses once per array or object, at most `SERDE_JSON_DEPTH` times.
        let needed = JSON_BASE_STACK + depth.min(SERDE_JSON_DEPTH) * JSON_STACK_PER_LEVEL;
        oc_runtime::maybe_grow(needed, JSON_SEGMENT, || serde_json::from_slice(body))
    }

    /// A path parameter of the matched route (`:id` in `/users/:id`, or `*rest`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Whether the request came over TLS (`Server::bind_tls`).
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Whether the client wants the connection kept open after the response.
    pub(crate) fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => self.connection & CLOSE == 0,
            Version::Http10 => self.connection & (KEEP_ALIVE | CLOSE) == KEEP_ALIVE,
        }
    }
}

/// How deeply `Request::json` lets a body nest.
const JSON_MAX_DEPTH: usize = 64;
/// serde_json's nesting limit (its recursion limit, on unless a caller turns it off).
const SERDE_JSON_DEPTH: usize = 128;
/// Stack that parsing JSON takes besides its recursion.
const JSON_BASE_STACK: usize = 32 * 1024;
/// Stack per level of nesting: about 1.7 KiB for arrays and 2 KiB for objects measured into
/// a `serde_json::Value` in a debug build (much less optimised), doubled for other types.
const JSON_STACK_PER_LEVEL: usize = 4 * 1024;
/// The segment a deeply nested body is parsed on: room for `SERDE_JSON_DEPTH` levels (one
/// size, so that segments are reused).
const JSON_SEGMENT: usize = 1024 * 1024;
const _: () = assert!(JSON_BASE_STACK + SERDE_JSON_DEPTH * JSON_STACK_PER_LEVEL <= JSON_SEGMENT);

/// How deeply the arrays and objects of the JSON text `body` nest (brackets inside strings do
/// not count). For text that serde_json accepts up to some point, the depth of that prefix
/// bounds how deeply the parser recurses there.
fn json_depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Decodes `%XX` escapes, and `+` as a space when `form` (query strings in the
/// `application/x-www-form-urlencoded` convention; in a path `+` is itself). Invalid escapes
/// are kept as they are, and bytes that are not UTF-8 become U+FFFD.
pub(crate) fn percent_decode(s: &str, form: bool) -> std::borrow::Cow<'_, str> {
    // `+` first, so that an escaped `%2B` stays a plus.
    if form && s.contains('+') {
        let spaced = s.replace('+', " ");
        return percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned().into();
    }
    // Borrowed when there is nothing to decode: `s` is UTF-8 already, so without an escape
    // there is nothing for the lossy decoding to check either.
    if !s.as_bytes().contains(&b'%') {
        return std::borrow::Cow::Borrowed(s);
    }
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b+c", false), "/a b+c");
        assert_eq!(percent_decode("a+b%2B%2b", true), "a b++");
        // Invalid or cut escapes stay as they are; bytes that are not UTF-8 become U+FFFD.
        assert_eq!(percent_decode("50%-%4%zz%", false), "50%-%4%zz%");
        assert_eq!(percent_decode("caf%C3%A9%FF", false), "caf\u{e9}\u{fffd}");
        // Nothing to decode: the string itself, not a copy.
        assert!(matches!(percent_decode("/a/b.txt", false), std::borrow::Cow::Borrowed("/a/b.txt")));
        assert!(matches!(percent_decode("a b", true), std::borrow::Cow::Borrowed("a b")));
    }

    #[test]
    fn folded_comparison() {
        for (bytes, lower, want) in [
            (&b"Keep-Alive"[..], &b"keep-alive"[..], true),
            (b"KEEP-ALIVE", b"keep-alive", true),
            (b"keep-alivf", b"keep-alive", false),
            (b"keep_alive", b"keep-alive", false),
            (b"Transfer-Encoding", b"transfer-encoding", true),
            (b"Transfer-EncodinG", b"transfer-encoding", true),
            (b"Transfer-Encodin", b"transfer-encoding", false),
            (b"Xransfer-Encoding", b"transfer-encoding", false),
            (b"Host", b"host", true),
            (b"Hosu", b"host", false),
            (b"", b"", true),
        ] {
            assert_eq!(eq_folded(bytes, lower), want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn word_comparisons_agree_with_byte_comparisons_at_every_length_and_position() {
        let alphabet = b"az-09AZ";
        for n in 0..20usize {
            let base: Vec<u8> = (0..n).map(|i| alphabet[i % alphabet.len()]).collect();
            let lower = base.to_ascii_lowercase();
            assert!(eq_exact(&base, &base) && eq_folded(&base, &lower), "length {n}");
            // One byte different, at each position: never equal.
            for at in 0..n {
                let mut other = base.clone();
                other[at] ^= 0x01;
                assert!(!eq_exact(&other, &base), "length {n}, byte {at}");
                assert!(!eq_folded(&other, &lower), "length {n}, byte {at}");
            }
            // Other lengths: never equal.
            assert!(!eq_exact(&base[..n.saturating_sub(1)], &base) || n == 0);
        }
        assert!(!eq_exact(b"GET", b"GEt") && eq_folded(b"GeT", b"get") && !eq_folded(b"GE", b"get"));
    }

    #[test]
    fn json_nesting_depth() {
        for (text, depth) in [
            (&br#"1"#[..], 0),
            (br#"[1, [2, {"a": [3]}], []]"#, 4),
            (br#"{"[[[": "]]]{{{", "b": ["\"[[", "\\"]}"#, 2),
            (br#"]]]][["#, 2),
            (br#"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["#, 50),
        ] {
            assert_eq!(json_depth(text), depth, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn connection_option_lists() {
        assert_eq!(connection_options(b"keep-alive"), KEEP_ALIVE);
        assert_eq!(connection_options(b"Close"), CLOSE);
        assert_eq!(connection_options(b"Upgrade, close"), CLOSE);
        assert_eq!(connection_options(b" keep-alive ,TE"), KEEP_ALIVE);
        assert_eq!(connection_options(b"keep-alive, close"), KEEP_ALIVE | CLOSE);
        assert_eq!(connection_options(b"closed"), 0);
        assert_eq!(connection_options(b""), 0);
    }
}
