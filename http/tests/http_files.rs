//! Static files: index files, MIME types, validators, 304, ranges, and no escape from the
//! root.

mod support;

use std::time::Duration;

use oc_http::{Limits, Router, StaticFiles};
use support::exchange;

fn site() -> std::path::PathBuf {
    let base = std::env::temp_dir().join(format!("oc-http-files-{}", std::process::id()));
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
        let root = site();
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

        // A large file is streamed, every byte right.
        let r = get("/static/big.bin", "");
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), 3_000_000);
        assert!(r.body.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
        let r = get("/static/big.bin", "Range: bytes=2999990-\r\n");
        assert_eq!(r.body, (2_999_990..3_000_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());

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
