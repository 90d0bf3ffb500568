//! Static files: a directory served with index files, MIME types, validators (`ETag`,
//! `Last-Modified`), conditional requests (`If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since`: `412`/`304`), and single byte ranges (`206`/`416`, `If-Range`).
//! No request escapes the root: `..` segments (also percent-encoded) are refused, and a file
//! is served only if the file actually opened (every symbolic link resolved, an index file's
//! too) lies under the root. Dotfiles (a segment starting with `.`, in the request or in the
//! resolved path) are not served unless asked for.
//!
//! A path is first opened beneath the root's descriptor with `openat2`, no symbolic link
//! followed and no step out of the root allowed (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`):
//! what opens is then the path asked for, checked already, and one `fstat` follows. A path
//! with a symbolic link on it (or a kernel without `openat2`) takes the slower way: `stat`,
//! `open` following links, `fstat`, and the opened file's real path read back from `/proc`
//! and checked. These are plain system calls (the runtime has no ring operations for them),
//! answered from the kernel's caches for a file served before; they block the worker only on
//! a slow file system (see `docs/caveats.md`). The body is sent by `sendfile.rs`.

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::sendfile::FileBody;
use crate::{Request, Response};

/// Serves the files under a directory. Mount it on a wildcard route:
///
/// ```no_run
/// use oc_http::{Router, StaticFiles};
/// let router = Router::new().get("/static/*path", StaticFiles::new("./public"));
/// ```
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: PathBuf,
    /// The root, open (`None` if it could not be opened when made): paths are looked up
    /// beneath it.
    dir: Option<Arc<OwnedFd>>,
    index: String,
    dotfiles: bool,
}

/// A file opened to be served: the file, its metadata, and its media type.
struct Opened {
    file: std::fs::File,
    meta: std::fs::Metadata,
    content_type: &'static str,
}

/// A path beneath the root as bytes, `/` between its names: built for each request without
/// allocating (up to 240 bytes), with room for the NUL the system call wants.
type RelativePath = smallvec::SmallVec<[u8; 240]>;

/// How a lookup beneath the root ended short of a file.
enum Missed {
    /// Not served: this status.
    Status(u16),
    /// Something on the way is a symbolic link (or the kernel cannot look up beneath a
    /// directory): the lookup that resolves links and checks where they lead decides.
    Links,
}

impl StaticFiles {
    /// Serves `root` (resolved once, now; a missing root serves nothing).
    pub fn new(root: impl AsRef<Path>) -> StaticFiles {
        let root = std::fs::canonicalize(root.as_ref()).unwrap_or_else(|_| root.as_ref().to_path_buf());
        let dir = crate::sys::open_dir(&root).ok().map(Arc::new);
        StaticFiles { root, dir, index: "index.html".to_owned(), dotfiles: false }
    }

    /// The file served for a directory (default `index.html`).
    pub fn index(mut self, name: impl Into<String>) -> StaticFiles {
        self.index = name.into();
        self
    }

    /// Whether files and directories whose name starts with `.` (`.env`, `.git/config`) are
    /// served; by default they are not (`404`).
    pub fn dotfiles(mut self, serve: bool) -> StaticFiles {
        self.dotfiles = serve;
        self
    }

    /// Whether `part`, a segment of a path, names a dotfile that is not to be served.
    fn hidden(&self, part: &[u8]) -> bool {
        !self.dotfiles && part.first() == Some(&b'.')
    }

    /// Opens the file `req` asks for, if it is a regular file under the root (the index file
    /// of a directory).
    fn open(&self, req: &Request) -> Result<Opened, u16> {
        let wanted = match req.param("path") {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => crate::request::percent_decode(req.path(), false),
        };
        if wanted.as_bytes().contains(&0) {
            return Err(400);
        }
        // The path below the root, every segment a name (no `..`), none hidden; empty and `.`
        // segments dropped, as `Path::components` does.
        let mut relative = RelativePath::new();
        for part in wanted.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(404),
                _ if self.hidden(part.as_bytes()) => return Err(404),
                _ => {
                    if !relative.is_empty() {
                        relative.push(b'/');
                    }
                    relative.extend_from_slice(part.as_bytes());
                }
            }
        }
        match self.open_beneath(relative) {
            Ok(opened) => Ok(opened),
            Err(Missed::Status(status)) => Err(status),
            Err(Missed::Links) => self.open_resolved(Path::new(wanted.as_ref())),
        }
    }

    /// Opens `relative` beneath the root with no symbolic link followed (`openat2`): what
    /// opens is the path asked for, which has been checked already, so no path is read back.
    /// One lookup and one `fstat` (two of each for an index file).
    fn open_beneath(&self, mut relative: RelativePath) -> Result<Opened, Missed> {
        let dir = self.dir.as_ref().ok_or(Missed::Links)?;
        // The root itself is `.`.
        if relative.is_empty() {
            relative.push(b'.');
        }
        let open = |path: &mut RelativePath| -> Result<(std::fs::File, std::fs::Metadata), Missed> {
            path.push(0);
            let opened = match CStr::from_bytes_with_nul(path) {
                Ok(name) => crate::sys::open_beneath(dir.as_fd(), name),
                // Cannot happen (a NUL in the path is refused before), but is no file.
                Err(_) => return Err(Missed::Status(400)),
            };
            path.pop();
            let file = match opened {
                Ok(fd) => std::fs::File::from(fd),
                Err(e) if crate::sys::link_refused(&e) => return Err(Missed::Links),
                Err(_) => return Err(Missed::Status(404)),
            };
            let meta = file.metadata().map_err(|_| Missed::Status(404))?;
            Ok((file, meta))
        };
        let (mut file, mut meta) = open(&mut relative)?;
        if meta.is_dir() {
            // A directory is served by its index file (not hidden, not a link either).
            if self.hidden(self.index.as_bytes()) {
                return Err(Missed::Status(404));
            }
            relative.push(b'/');
            relative.extend_from_slice(self.index.as_bytes());
            (file, meta) = open(&mut relative)?;
        }
        // Anything other than a regular file (a FIFO, a device) is not found.
        if !meta.is_file() {
            return Err(Missed::Status(404));
        }
        Ok(Opened { file, meta, content_type: mime(&relative) })
    }

    /// Opens `wanted` under the root, symbolic links followed, and serves it only if the file
    /// actually opened (read back from `/proc`) lies under the root and is no dotfile there.
    #[cold]
    fn open_resolved(&self, wanted: &Path) -> Result<Opened, u16> {
        let mut path = self.root.clone();
        for c in wanted.components() {
            if let Component::Normal(part) = c {
                path.push(part);
            }
        }
        // A directory is served by its index file. Anything other than a regular file or a
        // directory (a FIFO would block the open) is not found.
        let meta = std::fs::metadata(&path).map_err(|_| 404u16)?;
        if meta.is_dir() {
            path.push(&self.index);
        } else if !meta.is_file() {
            return Err(404);
        }
        let file = std::fs::File::open(&path).map_err(|_| 404u16)?;
        let meta = file.metadata().map_err(|_| 404u16)?;
        if !meta.is_file() {
            return Err(404);
        }
        // What was opened, every symbolic link on the way resolved (the index file's too): it
        // must lie under the root, and be no dotfile there.
        let real = opened_path(&file, &path).ok_or(404u16)?;
        let inside = real.strip_prefix(&self.root).map_err(|_| 404u16)?;
        if inside.components().any(|c| matches!(c, Component::Normal(part) if self.hidden(part.as_encoded_bytes()))) {
            return Err(404);
        }
        Ok(Opened { file, meta, content_type: mime(real.as_os_str().as_encoded_bytes()) })
    }
}

/// The real path of the open `file`, opened as `path`: read back from `/proc` (the file itself,
/// whatever happened to the path since), or else resolved anew.
fn opened_path(file: &std::fs::File, path: &Path) -> Option<PathBuf> {
    match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(real) if real.is_absolute() => Some(real),
        _ => std::fs::canonicalize(path).ok(),
    }
}

impl crate::Handler for StaticFiles {
    fn call(&self, req: &Request) -> Response {
        let Opened { file, meta, content_type } = match self.open(req) {
            Ok(opened) => opened,
            Err(status) => return Response::error(status),
        };
        let len = meta.len();
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
        let etag = entity_tag(len, mtime.as_nanos());
        let last_modified = crate::date::format(mtime.as_secs());
        let last_modified = std::str::from_utf8(&last_modified).expect("an IMF-fixdate is ASCII").to_owned();
        let validators = |status: u16, etag: String, last_modified: String| {
            let mut r = Response::new(status);
            r.headers.reserve_exact(4);
            r.headers.push(("ETag".into(), etag.into()));
            r.headers.push(("Last-Modified".into(), last_modified.into()));
            r.headers.push(("Content-Type".into(), content_type.into()));
            r.headers.push(("Accept-Ranges".into(), "bytes".into()));
            r
        };
        // The preconditions, then the range (RFC 9110 §13.2.2).
        match preconditions(req, &etag, mtime.as_secs()) {
            Some(304) => return validators(304, etag, last_modified),
            Some(status) => return Response::error(status),
            None => {}
        }
        // Range only for GET (RFC 9110 §14.2), and only while the representation is the one
        // `If-Range` names, if it names one (§13.1.5); otherwise the whole file.
        let range_header = req.header("range").filter(|_| req.method() == "GET");
        let range_header = range_header.filter(|_| match req.header("if-range").map(str::trim) {
            None => true,
            // An entity tag: the strong comparison (a weak tag never matches).
            Some(tag) if tag.starts_with('"') || tag.starts_with("W/") => tag == etag,
            Some(date) => parse_http_date(date) == Some(mtime.as_secs()),
        });
        let range = match range_header {
            Some(r) => match parse_range(r, len) {
                Ok(range) => range,
                Err(()) => {
                    return Response::error(416)
                        .header("ETag", etag)
                        .header("Last-Modified", last_modified)
                        .header("Accept-Ranges", "bytes")
                        .header("Content-Range", format!("bytes */{len}"));
                }
            },
            None => None,
        };
        let (start, end, status) = match range {
            Some((s, e)) => (s, e, 206),
            None => (0, len, 200),
        };
        let mut resp = validators(status, etag, last_modified);
        if status == 206 {
            resp = resp.header("Content-Range", format!("bytes {start}-{}/{len}", end.saturating_sub(1)));
        }
        // Sent by the connection: copied by the kernel over plain TCP, read and written over
        // TLS (`sendfile.rs`).
        resp.set_body(crate::response::Body::File(Box::new(FileBody { file: file.into(), start, len: end - start })));
        resp
    }
}

/// What the preconditions of `req` say of the representation with `etag`, last modified at
/// `mtime`, evaluated in the order of RFC 9110 §13.2.2: `None` to go on, or the status that
/// answers instead (`412`, or `304` to a `GET` or `HEAD` whose cached copy is current).
fn preconditions(req: &Request, etag: &str, mtime: u64) -> Option<u16> {
    let get = matches!(req.method(), "GET" | "HEAD");
    // If-Match (§13.1.1), strong comparison; or else If-Unmodified-Since (§13.1.4).
    if req.header_bytes("if-match").is_some() {
        let holds = match entity_tags(req.header_values("if-match"), etag, false) {
            Tags::Any => true,
            Tags::List { matched } => matched,
            Tags::Invalid => false,
        };
        if !holds {
            return Some(412);
        }
    } else if let Some(since) = one_date(req, "if-unmodified-since")
        && mtime > since
    {
        return Some(412);
    }
    // If-None-Match (§13.1.2), weak comparison; or else If-Modified-Since (§13.1.3), which
    // only GET and HEAD take.
    if req.header_bytes("if-none-match").is_some() {
        let holds = match entity_tags(req.header_values("if-none-match"), etag, true) {
            Tags::Any => false,
            Tags::List { matched } => !matched,
            Tags::Invalid => true,
        };
        if !holds {
            return Some(if get { 304 } else { 412 });
        }
    } else if get
        && let Some(since) = one_date(req, "if-modified-since")
        && mtime <= since
    {
        return Some(304);
    }
    None
}

/// The HTTP-date of field `name`: `None` when the field is absent, is not a date, or is sent
/// more than once (a list of dates is no date, RFC 9110 §13.1.3-§13.1.4).
fn one_date(req: &Request, name: &str) -> Option<u64> {
    let mut values = req.header_values(name);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse_http_date(std::str::from_utf8(value).ok()?)
}

/// What an `If-Match` or `If-None-Match` field says, read as one list across its lines.
#[derive(Debug, PartialEq, Eq)]
enum Tags {
    /// `*`: any current representation.
    Any,
    /// A list of entity tags (perhaps empty), and whether one of them matches.
    List { matched: bool },
    /// Neither: not the field's syntax.
    Invalid,
}

/// Reads `values` as `"*" / #entity-tag` (RFC 9110 §13.1.1-§13.1.2) and compares each tag
/// with `etag`, a strong tag with its quotes (§8.8.3.2): weakly (the opaque tags alone) when
/// `weak`, otherwise strongly (a weak tag never matches).
fn entity_tags<'a>(values: impl Iterator<Item = &'a [u8]>, etag: &str, weak: bool) -> Tags {
    let (mut members, mut star, mut matched) = (0usize, false, false);
    for value in values {
        let mut at = 0;
        loop {
            // Empty elements and whitespace between elements are allowed (§5.6.1).
            while let Some(b' ' | b'\t' | b',') = value.get(at) {
                at += 1;
            }
            if at == value.len() {
                break;
            }
            members += 1;
            if value[at] == b'*' {
                star = true;
                at += 1;
            } else {
                // [ "W/" ] DQUOTE *etagc DQUOTE
                let is_weak = value[at..].starts_with(b"W/");
                if is_weak {
                    at += 2;
                }
                if value.get(at) != Some(&b'"') {
                    return Tags::Invalid;
                }
                let Some(len) = value[at + 1..].iter().position(|&b| b == b'"') else {
                    return Tags::Invalid;
                };
                let opaque = &value[at..at + len + 2];
                if !opaque[1..=len].iter().all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80) {
                    return Tags::Invalid;
                }
                matched |= opaque == etag.as_bytes() && (weak || !is_weak);
                at += len + 2;
            }
            while let Some(b' ' | b'\t') = value.get(at) {
                at += 1;
            }
            if !matches!(value.get(at), None | Some(b',')) {
                return Tags::Invalid;
            }
        }
    }
    match (star, members) {
        (false, _) => Tags::List { matched },
        (true, 1) => Tags::Any,
        (true, _) => Tags::Invalid,
    }
}

/// A single byte range (unit `bytes`, in any case: RFC 9110 §14.1) as `[start, end)`.
/// `Ok(None)`: serve the whole file (another unit, several ranges); `Err`: malformed or
/// unsatisfiable (416).
fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some((unit, spec)) = header.trim().split_once('=') else { return Ok(None) };
    if !unit.eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let suffix = position(b)?;
        if suffix == 0 {
            return Err(());
        }
        if len == 0 {
            // Satisfiable, yet no byte range can say "none of nothing": the whole (empty)
            // representation.
            return Ok(None);
        }
        (len.saturating_sub(suffix), len)
    } else {
        let start = position(a)?;
        let end = if b.is_empty() { len } else { position(b)?.saturating_add(1).min(len) };
        if start >= len || end <= start {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

/// A position in a byte range: digits only (`1*DIGIT`, RFC 9110 §14.1.1; no sign), a larger
/// number than `u64` holds taken as its largest.
fn position(digits: &str) -> Result<u64, ()> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    Ok(digits.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

/// Seconds since the epoch of an HTTP-date in any of its three forms (`date::parse`).
fn parse_http_date(s: &str) -> Option<u64> {
    crate::date::parse(s)
}

/// The media type for a file name's extension.
///
/// A table of its own rather than `mime_guess`: the lookup runs once per file served, and
/// side by side (a release harness calling both 6 million times on six names: `.html`,
/// `.css`, `.js`, `.png`, `.md`, no known extension; the 2-core Intel Xeon VM, Linux 6.18,
/// five alternated rounds) this table took 44-143 ns per call (median 85) and
/// `mime_guess::from_path(..).first_raw()` 122-209 ns (median 200), and `mime_guess` names
/// no charset, which text types served here carry. It knows many more types (`.md`
/// here is `application/octet-stream`, there `text/markdown`).
/// The media type of the file at `path` (bytes, `/` between names), by its extension, in any
/// case: what follows the last `.` of its name, unless the name starts with its only `.`
/// (as `Path::extension` reads it).
fn mime(path: &[u8]) -> &'static str {
    const TYPES: [(&str, &str); 20] = [
        ("html", "text/html; charset=utf-8"),
        ("htm", "text/html; charset=utf-8"),
        ("css", "text/css; charset=utf-8"),
        ("js", "text/javascript; charset=utf-8"),
        ("mjs", "text/javascript; charset=utf-8"),
        ("json", "application/json"),
        ("txt", "text/plain; charset=utf-8"),
        ("xml", "application/xml"),
        ("svg", "image/svg+xml"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("ico", "image/x-icon"),
        ("wasm", "application/wasm"),
        ("pdf", "application/pdf"),
        ("woff2", "font/woff2"),
        ("woff", "font/woff"),
        ("mp4", "video/mp4"),
    ];
    const OTHER: &str = "application/octet-stream";
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let ext = match name.iter().rposition(|&b| b == b'.') {
        Some(dot) if dot > 0 => &name[dot + 1..],
        _ => return OTHER,
    };
    TYPES.iter().find(|(e, _)| ext.eq_ignore_ascii_case(e.as_bytes())).map_or(OTHER, |(_, ty)| ty)
}

/// The strong entity tag of a file of `len` bytes last modified at `mtime_ns`, quotes
/// included: both numbers in lower-case hexadecimal, `"len-mtime"`.
fn entity_tag(len: u64, mtime_ns: u128) -> String {
    // Built by hand, not through `format!`: it is made for every file served, and the
    // formatting machinery took about a third of the handler's samples (perf, 1 KiB file).
    fn hex(out: &mut String, n: u128) {
        let digits = (128 - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            out.push(char::from(b"0123456789abcdef"[(n >> (4 * i)) as usize & 15]));
        }
    }
    // Room for the longest: one allocation.
    let mut tag = String::with_capacity(2 + 16 + 1 + 32);
    tag.push('"');
    hex(&mut tag, u128::from(len));
    tag.push('-');
    hex(&mut tag, mtime_ns);
    tag.push('"');
    tag
}

#[cfg(test)]
mod tests {
    use super::{entity_tag, mime};

    #[test]
    fn media_types_follow_the_extension_as_path_reads_it() {
        for (path, want) in [
            ("index.html", "text/html; charset=utf-8"),
            ("a/b/STYLE.CSS", "text/css; charset=utf-8"),
            ("a.b/app.Js", "text/javascript; charset=utf-8"),
            ("archive.tar.gz", "application/octet-stream"),
            ("clip.mp4", "video/mp4"),
            ("font.woff2", "font/woff2"),
            // No extension: a name without a dot, one that only starts with it, or ends in it.
            ("README", "application/octet-stream"),
            ("dir.d/.html", "application/octet-stream"),
            ("name.", "application/octet-stream"),
            (".", "application/octet-stream"),
        ] {
            assert_eq!(mime(path.as_bytes()), want, "{path}");
            let by_path = std::path::Path::new(path).extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
            let known =
                by_path.as_deref().is_some_and(|e| mime(format!("x.{e}").as_bytes()) != "application/octet-stream");
            assert_eq!(known, want != "application/octet-stream", "{path}: the extension Path sees decides");
        }
    }

    #[test]
    fn entity_tags_are_the_hexadecimal_length_and_time() {
        for (len, ns) in
            [(0u64, 0u128), (1024, 1_733_459_123_456_789_012), (u64::MAX, u128::MAX), (15, 16), (16, 15), (1, 1 << 64)]
        {
            assert_eq!(entity_tag(len, ns), format!("\"{len:x}-{ns:x}\""));
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(super::parse_range("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(super::parse_range("bytes=90-", 100), Ok(Some((90, 100))));
        assert_eq!(super::parse_range("bytes=-10", 100), Ok(Some((90, 100))));
        assert_eq!(super::parse_range("bytes=95-200", 100), Ok(Some((95, 100))));
        assert_eq!(super::parse_range("bytes=100-", 100), Err(()));
        assert_eq!(super::parse_range("bytes=5-2", 100), Err(()));
        assert_eq!(super::parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(super::parse_range("items=0-1", 100), Ok(None));
        // The unit in any case; positions of digits only, however large.
        assert_eq!(super::parse_range("Bytes=0-4", 100), Ok(Some((0, 5))));
        assert_eq!(super::parse_range("BYTES=-10", 100), Ok(Some((90, 100))));
        assert_eq!(super::parse_range("bytes=0-99999999999999999999999", 100), Ok(Some((0, 100))));
        assert_eq!(super::parse_range("bytes=-99999999999999999999999", 100), Ok(Some((0, 100))));
        assert_eq!(super::parse_range("bytes=99999999999999999999999-", 100), Err(()));
        // Malformed, as unsatisfiable ranges are: 416.
        for bad in
            ["bytes=+1-+3", "bytes=+1-3", "bytes=1-+3", "bytes=-+3", "bytes=x-y", "bytes=5", "bytes=-", "bytes=0x1-2"]
        {
            assert_eq!(super::parse_range(bad, 100), Err(()), "{bad}");
        }
        // An empty file: a suffix range is the whole (empty) file, any other is unsatisfiable.
        assert_eq!(super::parse_range("bytes=-5", 0), Ok(None));
        assert_eq!(super::parse_range("bytes=0-4", 0), Err(()));
    }

    #[test]
    fn entity_tag_lists() {
        use super::{Tags, entity_tags};
        let etag = "\"5-a\"";
        let read = |lines: &[&str], weak: bool| entity_tags(lines.iter().map(|l| l.as_bytes()), etag, weak);
        let matched = Tags::List { matched: true };
        let unmatched = Tags::List { matched: false };
        assert_eq!(read(&["\"5-a\""], false), matched);
        assert_eq!(read(&["\"x\", \"5-a\""], false), matched);
        assert_eq!(read(&["\"x\"", "\"5-a\""], false), matched);
        assert_eq!(read(&[" ,\"x\" ,, \"5-a\"\t,"], false), matched);
        assert_eq!(read(&["\"x,y\", \"5-a\""], false), matched);
        // A weak tag matches only weakly.
        assert_eq!(read(&["W/\"5-a\""], false), unmatched);
        assert_eq!(read(&["W/\"5-a\""], true), matched);
        assert_eq!(read(&["\"5-b\", W/\"x\""], true), unmatched);
        assert_eq!(read(&[""], false), unmatched);
        assert_eq!(read(&["*"], false), Tags::Any);
        assert_eq!(read(&[" * "], true), Tags::Any);
        for bad in
            [&["*", "\"5-a\""][..], &["*, *"], &["5-a"], &["\"5-a"], &["\"5-a\" \"x\""], &["w/\"5-a\""], &["\"a b\""]]
        {
            assert_eq!(read(bad, false), Tags::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn http_dates_round_trip() {
        for secs in [0u64, 784_111_777, 951_782_400, 1_700_000_000] {
            let text = String::from_utf8(crate::date::format(secs).to_vec()).unwrap();
            assert_eq!(super::parse_http_date(&text), Some(secs), "{text}");
        }
        // The three forms of one instant.
        for text in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(super::parse_http_date(text), Some(784_111_777), "{text}");
        }
        // Two-digit years: within 50 years ahead this century's, further the last one's.
        assert_eq!(
            super::parse_http_date("Wednesday, 06-Nov-30 08:49:37 GMT"),
            super::parse_http_date("Wed, 06 Nov 2030 08:49:37 GMT")
        );
        for bad in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "06-Nov-94",
            "",
            // Years of other than four digits (two in the RFC 850 form), however large: no
            // overflow, no date.
            "Sun, 06 Nov 99999999999999999 08:49:37 GMT",
            "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
            "Sun Nov  6 08:49:37 9223372036854775807",
            "Sun, 06 Nov 19940 08:49:37 GMT",
            "Sun, 06 Nov +994 08:49:37 GMT",
            "Sun, 06 Nov -994 08:49:37 GMT",
            "Sunday, 06-Nov-+4 08:49:37 GMT",
        ] {
            assert_eq!(super::parse_http_date(bad), None, "{bad}");
        }
    }
}
