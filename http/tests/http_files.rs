//! Static files: index files, MIME types, validators, 304, ranges, and no escape from the
//! root.

mod support;

use std::io::Write;
use std::time::Duration;

use oc_http::{Limits, Router, StaticFiles};
use support::{connect, exchange, read_response};

/// A small site under a temporary directory of its own (`name` keeps the tests of one process
/// apart).
fn site(name: &str) -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!("oc-http-files-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("public");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(root.join("docs/guide.txt"), "0123456789abcdefghij").unwrap();
    std::fs::write(root.join("style.css"), "body{}").unwrap();
    std::fs::write(root.join("empty.txt"), "").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), &big).unwrap();
    std::fs::write(base.join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("leak.txt")).unwrap();
    root
}

/// The fields of an IMF-fixdate (`Thu, 26 Nov 2026 19:29:25 GMT`): weekday, day, month,
/// year, time.
fn date_fields(imf: &str) -> (String, String, String, String, String) {
    let (weekday, rest) = imf.split_once(", ").unwrap();
    let p: Vec<&str> = rest.split(' ').collect();
    (weekday.into(), p[0].into(), p[1].into(), p[2].into(), p[3].into())
}

fn rfc850((weekday, day, month, year, time): (String, String, String, String, String)) -> String {
    let long = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
        .into_iter()
        .find(|l| l.starts_with(weekday.as_str()))
        .unwrap();
    format!("{long}, {day}-{month}-{} {time} GMT", &year[2..])
}

fn asctime((weekday, day, month, year, time): (String, String, String, String, String)) -> String {
    format!("{weekday} {month} {:>2} {time} {year}", day.trim_start_matches('0'))
}

#[test]
fn files_validators_ranges_and_no_escape() {
    support::each_backend(|_backend| {
        let root = site("main");
        let router = Router::new().get("/static/*path", StaticFiles::new(&root)).get("/*path", StaticFiles::new(&root));
        let (rt, server, addr) = support::server_with(router, Limits::default());
        let get = |target: &str, extra: &str| {
            exchange(addr, format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n").as_bytes())
        };

        let r = get("/static/docs/guide.txt", "");
        assert_eq!((r.status, r.text().as_str()), (200, "0123456789abcdefghij"));
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
        let etag = r.header("ETag").unwrap().to_owned();
        let last_modified = r.header("Last-Modified").unwrap().to_owned();
        assert_eq!(get("/static/style.css", "").header("Content-Type"), Some("text/css; charset=utf-8"));
        // Index files.
        assert_eq!(get("/static/", "").text(), "<h1>home</h1>");
        assert_eq!(get("/", "").text(), "<h1>home</h1>");
        assert_eq!(get("/static/docs", "").status, 404, "a directory without an index");

        // Conditional requests.
        let r = get("/static/docs/guide.txt", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!(r.status, 304);
        assert!(r.body.is_empty());
        assert_eq!(r.header("ETag"), Some(etag.as_str()));
        assert_eq!(get("/static/docs/guide.txt", "If-None-Match: \"other\"\r\n").status, 200);
        assert_eq!(get("/static/docs/guide.txt", &format!("If-Modified-Since: {last_modified}\r\n")).status, 304);
        assert_eq!(get("/static/docs/guide.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n").status, 200);

        // Ranges.
        let r = get("/static/docs/guide.txt", "Range: bytes=2-5\r\n");
        assert_eq!((r.status, r.text().as_str()), (206, "2345"));
        assert_eq!(r.header("Content-Range"), Some("bytes 2-5/20"));
        assert_eq!(get("/static/docs/guide.txt", "Range: bytes=-3\r\n").text(), "hij");
        assert_eq!(get("/static/docs/guide.txt", "Range: bytes=15-\r\n").text(), "fghij");
        let r = get("/static/docs/guide.txt", "Range: bytes=50-60\r\n");
        assert_eq!(r.status, 416);
        assert_eq!(r.header("Content-Range"), Some("bytes */20"));
        assert_eq!(r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-type")).count(), 1);
        // If-Range: the range while the validator matches, the whole file once it does not.
        let r = get("/static/docs/guide.txt", &format!("Range: bytes=0-4\r\nIf-Range: {etag}\r\n"));
        assert_eq!((r.status, r.text().as_str()), (206, "01234"));
        let r = get("/static/docs/guide.txt", &format!("Range: bytes=0-4\r\nIf-Range: {last_modified}\r\n"));
        assert_eq!(r.status, 206);
        for stale in ["\"stale\"".to_owned(), format!("W/{etag}"), "Thu, 01 Jan 1970 00:00:00 GMT".to_owned()] {
            let r = get("/static/docs/guide.txt", &format!("Range: bytes=0-4\r\nIf-Range: {stale}\r\n"));
            assert_eq!((r.status, r.body.len()), (200, 20), "If-Range: {stale}");
        }
        // An empty file: a suffix range gets the whole (empty) file, another one 416.
        let r = get("/static/empty.txt", "Range: bytes=-5\r\n");
        assert_eq!((r.status, r.header("Content-Length")), (200, Some("0")));
        assert_eq!(get("/static/empty.txt", "Range: bytes=0-4\r\n").status, 416);
        // HEAD ignores Range (only GET takes it).
        let r = exchange(
            addr,
            b"HEAD /static/docs/guide.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-4\r\nConnection: close\r\n\r\n",
        );
        assert_eq!((r.status, r.header("Content-Length"), r.header("Content-Range")), (200, Some("20"), None));
        // If-Modified-Since in the two obsolete date forms.
        let fields = date_fields(&last_modified);
        for form in [rfc850(fields.clone()), asctime(fields.clone())] {
            let r = get("/static/docs/guide.txt", &format!("If-Modified-Since: {form}\r\n"));
            assert_eq!(r.status, 304, "If-Modified-Since: {form}");
        }

        // A large file is streamed, with its length, every byte right.
        let r = get("/static/big.bin", "");
        assert_eq!((r.status, r.header("Content-Length"), r.header("Transfer-Encoding")), (200, Some("3000000"), None));
        assert_eq!(r.body.len(), 3_000_000);
        assert!(r.body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        let r = get("/static/big.bin", "Range: bytes=2999990-\r\n");
        assert_eq!(r.body, (2_999_990..3_000_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let r = get("/static/big.bin", "Range: bytes=1000-2000999\r\n");
        assert_eq!((r.status, r.header("Content-Length")), (206, Some("2000000")));
        assert!(r.body.iter().enumerate().all(|(i, &b)| b == ((i + 1000) % 251) as u8));
        let r = exchange(addr, b"HEAD /static/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!((r.status, r.header("Content-Length")), (200, Some("3000000")));
        assert!(r.body.is_empty());

        // HEAD: headers, no body.
        let r = exchange(addr, b"HEAD /static/docs/guide.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(r.header("Content-Length"), Some("20"));
        assert!(r.body.is_empty());

        // No escape from the root.
        for target in [
            "/static/../secret.txt",
            "/static/%2e%2e/secret.txt",
            "/static/docs/..%2f..%2fsecret.txt",
            "/static/leak.txt",
            "/static/nope.txt",
        ] {
            let r = get(target, "");
            assert_ne!(r.status, 200, "{target} was served");
            assert!(!r.text().contains("top secret"), "{target} leaked");
        }
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
        let _ = std::fs::remove_dir_all(root.parent().unwrap());
    });
}

/// A server of `site(name)` with a `GET` and a `PUT` route, and a request helper.
fn files_server(name: &str) -> (std::path::PathBuf, oc_runtime::Runtime, oc_http::ServerHandle, std::net::SocketAddr) {
    let root = site(name);
    let router =
        Router::new().get("/static/*path", StaticFiles::new(&root)).put("/static/*path", StaticFiles::new(&root));
    let (rt, server, addr) = support::server_with(router, Limits::default());
    (root, rt, server, addr)
}

fn request(addr: std::net::SocketAddr, method: &str, target: &str, extra: &str) -> support::Resp {
    exchange(addr, format!("{method} {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n").as_bytes())
}

#[test]
fn if_match_and_if_unmodified_since_answer_412_when_false() {
    support::each_backend(|_backend| {
        let (root, rt, server, addr) = files_server("if-match");
        let get = |extra: &str| request(addr, "GET", "/static/docs/guide.txt", extra);
        let r = get("");
        let etag = r.header("ETag").unwrap().to_owned();
        let last_modified = r.header("Last-Modified").unwrap().to_owned();
        let epoch = "Thu, 01 Jan 1970 00:00:00 GMT";

        // If-Match (RFC 9110 §13.1.1): the current tag, `*`, or a list holding it; strong
        // comparison, so a weak tag never matches.
        for holds in [etag.clone(), "*".to_owned(), format!("\"x\", {etag}"), format!(" , {etag} ,")] {
            let r = get(&format!("If-Match: {holds}\r\n"));
            assert_eq!((r.status, r.body.len()), (200, 20), "If-Match: {holds}");
        }
        for fails in ["\"x\"".to_owned(), format!("W/{etag}"), "\"x\", \"y\"".to_owned(), "garbage".to_owned()] {
            let r = get(&format!("If-Match: {fails}\r\n"));
            assert_eq!(r.status, 412, "If-Match: {fails}");
            assert_eq!(r.text(), "412 Precondition Failed\n");
            assert_eq!(r.header("Content-Length"), Some("24"));
        }
        // If-Unmodified-Since (§13.1.4): 412 once modified after the date; ignored when not a
        // date, or when If-Match is there.
        assert_eq!(get(&format!("If-Unmodified-Since: {last_modified}\r\n")).status, 200);
        assert_eq!(get(&format!("If-Unmodified-Since: {epoch}\r\n")).status, 412);
        assert_eq!(get("If-Unmodified-Since: yesterday\r\n").status, 200);
        assert_eq!(get(&format!("If-Match: {etag}\r\nIf-Unmodified-Since: {epoch}\r\n")).status, 200);
        // The order of §13.2.2: If-Match before If-None-Match; If-Unmodified-Since before
        // If-Modified-Since.
        assert_eq!(get(&format!("If-Match: \"x\"\r\nIf-None-Match: {etag}\r\n")).status, 412);
        assert_eq!(get(&format!("If-Match: {etag}\r\nIf-None-Match: {etag}\r\n")).status, 304);
        let r = get(&format!("If-Unmodified-Since: {epoch}\r\nIf-Modified-Since: {last_modified}\r\n"));
        assert_eq!(r.status, 412);
        // Other methods: a false If-None-Match is a 412 too, not a 304.
        assert_eq!(request(addr, "PUT", "/static/docs/guide.txt", "If-Match: \"x\"\r\n").status, 412);
        assert_eq!(request(addr, "PUT", "/static/docs/guide.txt", &format!("If-None-Match: {etag}\r\n")).status, 412);
        assert_eq!(request(addr, "PUT", "/static/docs/guide.txt", "If-None-Match: *\r\n").status, 412);
        // A range still applies once the preconditions hold.
        let r = get(&format!("If-Match: {etag}\r\nRange: bytes=0-4\r\n"));
        assert_eq!((r.status, r.text().as_str()), (206, "01234"));
        // A 412 is framed: the next response on the connection follows it, for GET and HEAD.
        let mut s = connect(addr);
        s.write_all(
            b"GET /static/docs/guide.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"x\"\r\n\r\n\
              HEAD /static/docs/guide.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"x\"\r\n\r\n\
              GET /static/docs/guide.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .unwrap();
        let mut buf = Vec::new();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 412);
        assert_eq!(read_response(&mut s, &mut buf, true).unwrap().status, 412);
        let r = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "0123456789abcdefghij"));
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
        let _ = std::fs::remove_dir_all(root.parent().unwrap());
    });
}

#[test]
fn list_fields_are_read_across_their_field_lines() {
    support::each_backend(|_backend| {
        let (root, rt, server, addr) = files_server("lists");
        let get = |extra: &str| request(addr, "GET", "/static/docs/guide.txt", extra);
        let etag = get("").header("ETag").unwrap().to_owned();
        // RFC 9110 §5.3: the lines of a field make one list.
        let r = get(&format!("If-None-Match: \"a\"\r\nIf-None-Match: {etag}\r\n"));
        assert_eq!((r.status, r.body.len()), (304, 0));
        assert_eq!(get("If-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n").status, 200);
        assert_eq!(get(&format!("If-Match: \"a\"\r\nif-match: \"b\", {etag}\r\n")).status, 200);
        assert_eq!(get("If-Match: \"a\"\r\nIf-Match: \"b\"\r\n").status, 412);
        // `*` stands alone: beside a tag, in another line, it is not the field's syntax.
        assert_eq!(get(&format!("If-Match: *\r\nIf-Match: {etag}\r\n")).status, 412);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
        let _ = std::fs::remove_dir_all(root.parent().unwrap());
    });
}

#[test]
fn range_units_ignore_case_and_positions_are_digits_only() {
    support::each_backend(|_backend| {
        let (root, rt, server, addr) = files_server("ranges");
        let get = |extra: &str| request(addr, "GET", "/static/docs/guide.txt", extra);
        // RFC 9110 §14.1: the range unit is case-insensitive.
        for unit in ["Bytes", "BYTES", "bYtEs"] {
            let r = get(&format!("Range: {unit}=0-4\r\n"));
            assert_eq!((r.status, r.text().as_str()), (206, "01234"), "{unit}");
            assert_eq!(r.header("Content-Range"), Some("bytes 0-4/20"));
        }
        // A position is 1*DIGIT: a sign makes the range malformed, refused as other
        // malformed ranges are.
        for malformed in ["bytes=+1-+3", "bytes=+1-3", "bytes=1-+3", "bytes=-+3", "bytes=x-y"] {
            let r = get(&format!("Range: {malformed}\r\n"));
            assert_eq!((r.status, r.header("Content-Range")), (416, Some("bytes */20")), "{malformed}");
        }
        // Another unit is ignored.
        assert_eq!(get("Range: items=0-4\r\n").status, 200);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
        let _ = std::fs::remove_dir_all(root.parent().unwrap());
    });
}

#[test]
fn symlinked_index_files_and_dotfiles_are_not_served() {
    support::each_backend(|_backend| {
        let root = site("links");
        let base = root.parent().unwrap().to_path_buf();
        // An index file that is a link out of the root, in a directory of its own.
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), root.join("sub/index.html")).unwrap();
        // A directory linked from outside the root, with an index file.
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/index.html"), "top secret too").unwrap();
        std::os::unix::fs::symlink(base.join("outside"), root.join("elsewhere")).unwrap();
        // Dotfiles, in the root and below, and a link inside the root to one.
        std::fs::write(root.join(".env"), "top secret env").unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), "top secret config").unwrap();
        std::fs::write(root.join("docs/.hidden.txt"), "top secret hidden").unwrap();
        std::os::unix::fs::symlink(root.join(".env"), root.join("env.txt")).unwrap();
        // A link inside the root to a file inside it is fine, absolute or relative, and so
        // is a file under a linked directory inside the root.
        std::os::unix::fs::symlink(root.join("docs/guide.txt"), root.join("guide-link.txt")).unwrap();
        std::os::unix::fs::symlink("docs/guide.txt", root.join("guide-relative.txt")).unwrap();
        std::os::unix::fs::symlink("docs", root.join("docs-link")).unwrap();
        // Relative links that climb out of the root, to a file and to a directory.
        std::os::unix::fs::symlink("../secret.txt", root.join("up.txt")).unwrap();
        std::os::unix::fs::symlink("../outside", root.join("up-dir")).unwrap();
        // A FIFO: not a regular file (and its open must not block the worker).
        let fifo = std::ffi::CString::new(root.join("pipe.txt").into_os_string().into_encoded_bytes()).unwrap();
        // SAFETY: `fifo` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let router = Router::new()
            .get("/static/*path", StaticFiles::new(&root))
            .get("/dot/*path", StaticFiles::new(&root).dotfiles(true));
        let (rt, server, addr) = support::server_with(router, Limits::default());
        let get = |target: &str| request(addr, "GET", target, "");
        for target in [
            "/static/sub/",
            "/static/sub",
            "/static/sub/index.html",
            "/static/elsewhere/",
            "/static/elsewhere/index.html",
            "/static/.env",
            "/static/%2eenv",
            "/static/.git/config",
            "/static/docs/.hidden.txt",
            "/static/env.txt",
            "/dot/sub/",
            "/dot/elsewhere/",
            "/static/up.txt",
            "/static/up-dir/",
            "/static/up-dir/index.html",
            "/static/pipe.txt",
            "/static/docs-link/.hidden.txt",
        ] {
            let r = get(target);
            assert_eq!(r.status, 404, "{target}: {}", r.text());
            assert!(!r.text().contains("top secret"), "{target} leaked");
        }
        assert_eq!(get("/static/guide-link.txt").text(), "0123456789abcdefghij");
        assert_eq!(get("/static/guide-relative.txt").text(), "0123456789abcdefghij");
        assert_eq!(get("/static/docs-link/guide.txt").text(), "0123456789abcdefghij");
        assert_eq!(get("/static/").text(), "<h1>home</h1>");
        // Dotfiles when asked for; links out of the root never.
        assert_eq!(get("/dot/.env").text(), "top secret env");
        assert_eq!(get("/dot/.git/config").text(), "top secret config");
        assert_eq!(get("/dot/env.txt").text(), "top secret env");
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
        let _ = std::fs::remove_dir_all(&base);
    });
}

/// Pipelined requests for small files (sent with the connection's other answers), a large
/// one (sent by the kernel's copy), a range of a small one, an empty one and the small ones
/// again, in one write: every answer comes whole and in order, on both backends.
#[test]
fn pipelined_small_and_large_files_come_whole_and_in_order() {
    support::each_backend(|_backend| {
        let (root, rt, server, addr) = files_server("pipelined");
        let big = std::fs::read(root.join("big.bin")).unwrap();
        let asks: [(&str, &str, &[u8]); 6] = [
            ("/static/docs/guide.txt", "", b"0123456789abcdefghij"),
            ("/static/big.bin", "", &big),
            ("/static/style.css", "", b"body{}"),
            ("/static/docs/guide.txt", "Range: bytes=5-9\r\n", b"56789"),
            ("/static/empty.txt", "", b""),
            ("/static/index.html", "", b"<h1>home</h1>"),
        ];
        let mut raw = Vec::new();
        for (target, extra, _) in &asks {
            raw.extend_from_slice(format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes());
        }
        let mut s = connect(addr);
        s.write_all(&raw).unwrap();
        let mut buf = Vec::new();
        for (target, extra, want) in &asks {
            let r = read_response(&mut s, &mut buf, false).unwrap_or_else(|| panic!("no answer for {target}"));
            let status = if extra.is_empty() { 200 } else { 206 };
            assert_eq!(r.status, status, "{target} {extra}");
            assert_eq!(r.header("content-length"), Some(want.len().to_string().as_str()), "{target}");
            assert!(r.body == *want, "{target}: {} bytes, want {}", r.body.len(), want.len());
        }
        drop(s);
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
}
