//! Static files: a directory served with index files, MIME types, validators (`ETag`,
//! `Last-Modified`), conditional requests (`304`), and single byte ranges (`206`/`416`).
//! No request escapes the root: `..` segments (also percent-encoded) are refused, and a path
//! whose real location (symbolic links resolved) lies outside the root is not found.

use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Request, Response};

/// Files larger than this are streamed instead of read whole.
const READ_WHOLE: u64 = 1024 * 1024;

/// Serves the files under a directory. Mount it on a wildcard route:
///
/// ```no_run
/// use oc_http::{Router, StaticFiles};
/// let router = Router::new().get("/static/*path", StaticFiles::new("./public"));
/// ```
#[derive(Debug, Clone)]
pub struct StaticFiles {
    root: PathBuf,
    index: String,
}

impl StaticFiles {
    /// Serves `root` (resolved once, now; a missing root serves nothing).
    pub fn new(root: impl AsRef<Path>) -> StaticFiles {
        let root = std::fs::canonicalize(root.as_ref()).unwrap_or_else(|_| root.as_ref().to_path_buf());
        StaticFiles { root, index: "index.html".to_owned() }
    }

    /// The file served for a directory (default `index.html`).
    pub fn index(mut self, name: impl Into<String>) -> StaticFiles {
        self.index = name.into();
        self
    }

    /// The file `req` asks for, if it lies under the root.
    fn resolve(&self, req: &Request) -> Result<PathBuf, u16> {
        let wanted = match req.param("path") {
            Some(p) => p.to_owned(),
            None => crate::request::percent_decode(req.path(), false),
        };
        if wanted.contains('\0') {
            return Err(400);
        }
        let mut path = self.root.clone();
        for c in Path::new(&wanted).components() {
            match c {
                Component::Normal(part) => path.push(part),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => return Err(404),
            }
        }
        // Symbolic links must not lead out of the root.
        let real = std::fs::canonicalize(&path).map_err(|_| 404u16)?;
        if !real.starts_with(&self.root) {
            return Err(404);
        }
        if real.is_dir() {
            let index = real.join(&self.index);
            return if index.is_file() { Ok(index) } else { Err(404) };
        }
        Ok(real)
    }
}

impl crate::Handler for StaticFiles {
    fn call(&self, req: &Request) -> Response {
        let path = match self.resolve(req) {
            Ok(p) => p,
            Err(status) => return Response::error(status),
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => return Response::error(404),
        };
        let len = meta.len();
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
        let etag = format!("\"{len:x}-{:x}\"", mtime.as_nanos());
        let last_modified = String::from_utf8_lossy(&crate::date::format(mtime.as_secs())).into_owned();
        let validators = |r: Response| {
            r.header("ETag", etag.clone())
                .header("Last-Modified", last_modified.clone())
                .header("Content-Type", mime(&path))
                .header("Accept-Ranges", "bytes")
        };
        // Conditional requests: If-None-Match wins over If-Modified-Since.
        if let Some(inm) = req.header("if-none-match") {
            if inm.trim() == "*" || inm.split(',').any(|t| t.trim().trim_start_matches("W/") == etag) {
                return validators(Response::new(304));
            }
        } else if let Some(since) = req.header("if-modified-since").and_then(parse_http_date) {
            if mtime.as_secs() <= since {
                return validators(Response::new(304));
            }
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
                        .header("ETag", etag.clone())
                        .header("Last-Modified", last_modified.clone())
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
        let mut resp = validators(Response::new(status));
        if status == 206 {
            resp = resp.header("Content-Range", format!("bytes {start}-{}/{len}", end.saturating_sub(1)));
        }
        let file = match oc_runtime::fs::File::open(&path) {
            Ok(f) => f,
            Err(_) => return Response::error(404),
        };
        if end - start <= READ_WHOLE {
            let mut body = vec![0u8; (end - start) as usize];
            let mut filled = 0;
            while filled < body.len() {
                match file.read_at(&mut body[filled..], start + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(_) => return Response::error(500),
                }
            }
            body.truncate(filled);
            resp.body(body)
        } else {
            let stream = Response::stream(move |w| {
                let mut buf = vec![0u8; 64 * 1024];
                let mut pos = start;
                while pos < end {
                    let want = ((end - pos) as usize).min(buf.len());
                    let n = file.read_at(&mut buf[..want], pos)?;
                    if n == 0 {
                        break;
                    }
                    w.write_all(&buf[..n])?;
                    pos += n as u64;
                }
                Ok(())
            });
            Response { status: resp.status, headers: resp.headers, body: stream.body }
        }
    }
}

/// A single `bytes=` range as `[start, end)`. `Ok(None)`: serve the whole file (several
/// ranges, or a form we do not honour); `Err`: unsatisfiable (416).
fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let suffix: u64 = b.parse().map_err(|_| ())?;
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
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() { len } else { b.parse::<u64>().map_err(|_| ())?.saturating_add(1).min(len) };
        if start >= len || end <= start {
            return Err(());
        }
        (start, end)
    };
    Ok(Some(range))
}

/// Seconds since the epoch of an HTTP-date in any of its three forms (RFC 9110 §5.6.7):
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let (day, month, year, time) = if let Some((_, rest)) = s.split_once(", ") {
        let parts: Vec<&str> = rest.split(' ').collect();
        match parts.as_slice() {
            [day, month, year, time, "GMT"] => (*day, *month, year.parse::<i64>().ok()?, *time),
            [date, time, "GMT"] => {
                let mut d = date.split('-');
                let (day, month, yy) = (d.next()?, d.next()?, d.next()?);
                if d.next().is_some() || yy.len() != 2 {
                    return None;
                }
                // A two-digit year more than 50 years ahead is the past century's (RFC 9110
                // §5.6.7).
                let yy: i64 = yy.parse().ok()?;
                let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let this_year = 1970 + (now / 31_556_952) as i64;
                let year = this_year - this_year % 100 + yy;
                (day, month, if year > this_year + 50 { year - 100 } else { year }, *time)
            }
            _ => return None,
        }
    } else {
        // asctime: `Sun Nov  6 08:49:37 1994` (the day padded with a space).
        let parts: Vec<&str> = s.split(' ').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [_, month, day, time, year] => (*day, *month, year.parse::<i64>().ok()?, *time),
            _ => return None,
        }
    };
    let day: u64 = day.parse().ok()?;
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) || hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
        return None;
    }
    // Days from the civil date (inverse of date::format).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days).ok().map(|d| d * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// The media type for a file name's extension.
fn mime(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
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
        // An empty file: a suffix range is the whole (empty) file, any other is unsatisfiable.
        assert_eq!(super::parse_range("bytes=-5", 0), Ok(None));
        assert_eq!(super::parse_range("bytes=0-4", 0), Err(()));
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
        ] {
            assert_eq!(super::parse_http_date(bad), None, "{bad}");
        }
    }
}
