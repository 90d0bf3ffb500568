//! Responses: status, headers, and a body from bytes, text, JSON or a streaming writer.

use std::borrow::Cow;
use std::io::{self, Write};

use smallvec::SmallVec;

/// Response headers: name and value, in the order given.
pub(crate) type Headers = SmallVec<[(Cow<'static, str>, Cow<'static, str>); 1]>;

/// A streaming body: called with a writer that sends what it gets as chunks.
pub type StreamFn = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    Static(&'static [u8]),
    Stream(StreamFn),
    /// Exactly this many bytes, written by the function as it goes.
    Sized(u64, StreamFn),
    /// Part of a file (`StaticFiles`), copied to the socket by the kernel where it can be.
    /// Boxed: the body's drop stays small enough to be inlined where responses are built
    /// and sent (with the file inline it was a call, +14 instructions per request).
    File(Box<crate::sendfile::FileBody>),
}

/// A per-thread stack of byte buffers kept for reuse, the last given back on top: emptied,
/// or (`for_reading`) with their bytes kept, so that a buffer read into need not be
/// zeroed again.
pub(crate) struct Spares {
    bufs: std::cell::RefCell<Vec<Vec<u8>>>,
    /// How many are kept, and the largest capacity kept.
    keep: usize,
    max_capacity: usize,
    /// Buffers keep their length (stale bytes, initialised) instead of being emptied.
    keep_bytes: bool,
}

impl Spares {
    pub(crate) const fn new(keep: usize, max_capacity: usize) -> Spares {
        Spares { bufs: std::cell::RefCell::new(Vec::new()), keep, max_capacity, keep_bytes: false }
    }

    /// As [`new`](Spares::new), for buffers read into: a buffer comes back with the length
    /// (and the stale bytes) it was given back with.
    pub(crate) const fn for_reading(keep: usize, max_capacity: usize) -> Spares {
        Spares { bufs: std::cell::RefCell::new(Vec::new()), keep, max_capacity, keep_bytes: true }
    }

    /// The buffer given back last, if any.
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        self.bufs.borrow_mut().pop()
    }

    /// Keeps `buf` (emptied, unless the buffers keep their bytes), unless it is too large or
    /// there are enough.
    pub(crate) fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_capacity {
            return;
        }
        if !self.keep_bytes {
            buf.clear();
        }
        let mut bufs = self.bufs.borrow_mut();
        if bufs.len() < self.keep {
            bufs.push(buf);
        }
    }
}

thread_local! {
    /// Emptied body buffers of sent responses (at most 8, of at most 4 KiB), for the next
    /// `Response::json`: a JSON response then allocates nothing.
    static SPARE: Spares = const { Spares::new(8, 4096) };
}

oc_runtime::tls_accessor! {
    /// An empty buffer for a body, reused if this thread has one.
    ///
    /// Never inlined: a coroutine may move to another thread between two calls in one function,
    /// and the compiler must not reuse the thread-local's address across them.
    pub(crate) fn spare_body() -> Vec<u8> {
        SPARE.try_with(Spares::take).ok().flatten().unwrap_or_else(|| Vec::with_capacity(128))
    }
}

oc_runtime::tls_accessor! {
    /// Keeps the buffer of a body that has been sent, for reuse (see `spare_body`).
    pub(crate) fn recycle_body(body: Vec<u8>) {
        let _ = SPARE.try_with(|s| s.give(body));
    }
}

/// A response a handler returns.
///
/// Its status is a final one (`200` to `999`): a `1xx` is an interim response, which only the
/// server sends (`100 Continue`), and a handler's is answered with `500` instead. The body of
/// a `204`, `205` or `304` response, and of any response to `HEAD`, is not sent; a `205` says
/// so with `Content-Length: 0`.
pub struct Response {
    pub(crate) status: u16,
    /// One entry inline: the usual response sets one header (its content type) and then
    /// allocates nothing for headers; more spill to the heap.
    pub(crate) headers: Headers,
    pub(crate) body: Body,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response").field("status", &self.status).field("headers", &self.headers).finish()
    }
}

impl Response {
    /// An empty response with `status`.
    #[inline]
    pub fn new(status: u16) -> Response {
        Response { status, headers: Headers::new(), body: Body::Empty }
    }

    /// `200 OK` with a `text/plain` body.
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200).header("Content-Type", "text/plain").body(body.into().into_bytes())
    }

    /// `200 OK` with a `text/html` body.
    pub fn html(body: impl Into<String>) -> Response {
        Response::new(200).header("Content-Type", "text/html; charset=utf-8").body(body.into().into_bytes())
    }

    /// `200 OK` with `value` serialised as JSON (`500` if it cannot be).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Response {
        let mut v = spare_body();
        match serde_json::to_writer(&mut v, value) {
            Ok(()) => Response::new(200).header("Content-Type", "application/json").body(v),
            Err(e) => Response::new(500)
                .header("Content-Type", "text/plain")
                .body(format!("cannot serialise response: {e}").into_bytes()),
        }
    }

    /// `200 OK` with a body that `f` writes as it goes, sent with chunked transfer encoding
    /// (or until close, to an HTTP/1.0 client).
    pub fn stream(f: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static) -> Response {
        Response { status: 200, headers: Headers::new(), body: Body::Stream(Box::new(f)) }
    }

    /// `200 OK` with a body of exactly `len` bytes that `f` writes as it goes, sent with
    /// `Content-Length: len` (a `HEAD` request gets the length without calling `f`). If `f`
    /// fails, writes fewer bytes or tries to write more, the client cannot be told after the
    /// head: the connection is closed, and the client sees a body shorter than announced.
    ///
    /// ```
    /// use oc_http::Response;
    /// let resp = Response::stream_sized(11, |w| w.write_all(b"hello world"));
    /// ```
    pub fn stream_sized(len: u64, f: impl FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static) -> Response {
        Response { status: 200, headers: Headers::new(), body: Body::Sized(len, Box::new(f)) }
    }

    /// A static body (no copy).
    #[inline]
    pub fn static_body(mut self, body: &'static [u8]) -> Response {
        self.set_body(Body::Static(body));
        self
    }

    /// Sets the body.
    #[inline]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.set_body(Body::Bytes(body.into()));
        self
    }

    /// Replaces the body. The usual response was just made with an empty one: once inlined,
    /// the test below is decided at compile time and no drop is called.
    #[inline(always)]
    pub(crate) fn set_body(&mut self, body: Body) {
        let old = std::mem::replace(&mut self.body, body);
        if matches!(old, Body::Empty) {
            std::mem::forget(old);
        } else {
            drop(old);
        }
    }

    /// Sets the status.
    #[inline]
    pub fn status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Adds a header. A `Content-Type` replaces the one set before (a response has one type);
    /// other names add a field each time (`Set-Cookie`, say). `Content-Length`,
    /// `Transfer-Encoding`, `Date` and `Connection` are managed by the server and ignored
    /// here. A name that is not a token, or a value with a control character (CR, LF, NUL),
    /// makes the server answer `500` instead of sending it.
    #[inline(always)]
    pub fn header(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Cow<'static, str>>) -> Response {
        let (name, value) = (name.into(), value.into());
        if self.headers.is_empty() {
            // The usual first (often only) field: nothing to replace.
            self.headers.push((name, value));
        } else {
            self.add_header(name, value);
        }
        self
    }

    /// `header` when there are fields already: a `Content-Type` replaces the one set.
    #[inline(never)]
    fn add_header(&mut self, name: Cow<'static, str>, value: Cow<'static, str>) {
        if name.eq_ignore_ascii_case("content-type")
            && let Some(field) = self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            field.1 = value;
            return;
        }
        self.headers.push((name, value));
    }

    /// The status code.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// The length of the body as set, where it is known before it is sent: bytes, a static
    /// body, a sized stream or a file (`None` for a stream of unknown length). What goes on
    /// the wire may be less: none for `HEAD`, a `204` or a `304`.
    pub fn body_len(&self) -> Option<u64> {
        match &self.body {
            Body::Empty => Some(0),
            Body::Bytes(b) => Some(b.len() as u64),
            Body::Static(b) => Some(b.len() as u64),
            Body::Stream(_) => None,
            Body::Sized(len, _) => Some(*len),
            Body::File(file) => Some(file.len),
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
    }

    /// A plain-text error response (`404 Not Found` and the like).
    pub fn error(status: u16) -> Response {
        Response::new(status)
            .header("Content-Type", "text/plain")
            .body(format!("{status} {}\n", reason(status)).into_bytes())
    }
}

/// The reason phrase of a status code.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
