//! Every route kind and the matching rules, against the real binary on each IO backend.

mod support;

use serde_json::json;
use support::{BACKENDS, Client, TempDir, config, get, start};

/// A site with an index, a file, a sub-directory without index and a dotfile.
fn site(dir: &TempDir) -> std::path::PathBuf {
    let root = dir.path().join("site");
    dir.write("site/index.html", "<h1>home</h1>");
    dir.write("site/a.txt", "0123456789abcdefghij");
    dir.write("site/notes.md", "# notes");
    dir.write("site/sub/one.txt", "one");
    dir.write("site/.secret", "hidden");
    dir.write("outside.txt", "not served");
    root
}

#[test]
fn static_files_with_validators_ranges_index_and_no_escape() {
    for backend in BACKENDS {
        let dir = TempDir::new("static");
        let root = site(&dir);
        let routes = json!([
            { "kind": "static", "path": "/", "root": root },
            { "kind": "static", "path": "/files", "root": root, "listing": true,
              "content_types": { "md": "text/markdown; charset=utf-8" } },
        ]);
        let server = start(&dir, &config(backend, routes));
        let addr = server.addr();

        let home = get(addr, "x", "/");
        assert_eq!((home.status, home.text().as_str()), (200, "<h1>home</h1>"), "{backend}");
        assert_eq!(home.header("content-type"), Some("text/html; charset=utf-8"));

        let file = get(addr, "x", "/a.txt");
        assert_eq!(file.text(), "0123456789abcdefghij");
        let etag = file.header("etag").expect("ETag").to_owned();

        let mut c = Client::connect(addr).unwrap();
        let cached = c.request("GET", "x", "/a.txt", &format!("If-None-Match: {etag}\r\n")).unwrap();
        assert_eq!(cached.status, 304, "{backend}");
        let part = c.request("GET", "x", "/a.txt", "Range: bytes=2-5\r\n").unwrap();
        assert_eq!((part.status, part.text().as_str()), (206, "2345"));
        assert_eq!(part.header("content-range"), Some("bytes 2-5/20"));
        let failed = c.request("GET", "x", "/a.txt", "If-Match: \"nope\"\r\n").unwrap();
        assert_eq!(failed.status, 412);

        // Mounted under a prefix: the prefix is cut off, conditional fields still apply.
        let under = c.request("GET", "x", "/files/a.txt", "Range: bytes=-3\r\n").unwrap();
        assert_eq!((under.status, under.text().as_str()), (206, "hij"), "{backend}");
        let md = c.get("/files/notes.md").unwrap();
        assert_eq!(md.header("content-type"), Some("text/markdown; charset=utf-8"));
        assert_eq!(c.get("/notes.md").unwrap().header("content-type"), Some("application/octet-stream"));

        // Listing: off on `/` (404), on under `/files`, never for dotfiles.
        assert_eq!(c.get("/sub/").unwrap().status, 404);
        let listing = c.get("/files/sub/").unwrap();
        assert_eq!(listing.status, 200, "{backend}");
        assert!(listing.text().contains("<a href=\"one.txt\">one.txt</a>"), "{}", listing.text());
        let top = c.get("/files/").unwrap();
        assert!(top.text().contains("<h1>home</h1>"), "an index file wins over the listing");

        // Nothing outside the root, no dotfiles.
        for target in
            ["/../outside.txt", "/%2e%2e/outside.txt", "/files/..%2foutside.txt", "/.secret", "/files/.secret"]
        {
            let r = c.get(target).unwrap();
            assert_eq!(r.status, 404, "{backend} {target}: {}", r.text());
            assert!(!r.text().contains("not served") && !r.text().contains("hidden"));
        }
        server.stop();
    }
}

#[test]
fn fixed_redirect_and_health_routes() {
    for backend in BACKENDS {
        let dir = TempDir::new("kinds");
        let routes = json!([
            { "kind": "fixed", "path": "/plaintext", "body": "Hello, World!" },
            { "kind": "fixed", "path": "/teapot", "status": 418,
              "headers": { "X-Brew": "tea", "Content-Type": "application/json" }, "body": "{\"short\":true}" },
            { "kind": "fixed", "path": "/empty", "status": 204 },
            { "kind": "redirect", "path": "/old", "to": "https://new.example/base", "append_path": true, "status": 301 },
            { "kind": "redirect", "path": "/go", "to": "https://elsewhere.example/" },
            { "kind": "health", "path": "/healthz", "check": "live" },
            { "kind": "health", "path": "/readyz", "check": "ready" },
        ]);
        let server = start(&dir, &config(backend, routes));
        let mut c = Client::connect(server.addr()).unwrap();

        let plain = c.get("/plaintext").unwrap();
        assert_eq!((plain.status, plain.text().as_str()), (200, "Hello, World!"), "{backend}");
        assert_eq!(plain.header("content-type"), Some("text/plain; charset=utf-8"));
        let tea = c.get("/teapot").unwrap();
        assert_eq!(
            (tea.status, tea.header("x-brew"), tea.header("content-type")),
            (418, Some("tea"), Some("application/json"))
        );
        assert_eq!(tea.text(), "{\"short\":true}");
        assert_eq!(c.get("/empty").unwrap().status, 204);
        // A prefix matches whole segments: `/plaintext/x` is under it, `/plaintextx` is not.
        assert_eq!(c.get("/plaintext/x").unwrap().status, 200);
        assert_eq!(c.get("/plaintextx").unwrap().status, 404);

        let moved = c.get("/old/a/b?q=1").unwrap();
        assert_eq!(
            (moved.status, moved.header("location")),
            (301, Some("https://new.example/base/a/b?q=1")),
            "{backend}"
        );
        let moved = c.get("/old").unwrap();
        assert_eq!(moved.header("location"), Some("https://new.example/base"));
        let go = c.get("/go/ignored?x").unwrap();
        assert_eq!((go.status, go.header("location")), (302, Some("https://elsewhere.example/")));

        let live = c.get("/healthz").unwrap();
        assert_eq!((live.status, live.text().as_str()), (200, "ok\n"));
        let ready = c.get("/readyz").unwrap();
        assert_eq!((ready.status, ready.text().as_str()), (200, "ready\n"));
        assert_eq!(c.get("/nothing-here").unwrap().status, 404);
        server.stop();
    }
}

#[test]
fn hosts_and_longest_prefixes_pick_the_route() {
    for backend in BACKENDS {
        let dir = TempDir::new("hosts");
        let routes = json!([
            { "kind": "fixed", "path": "/", "body": "any host" },
            { "kind": "fixed", "path": "/", "host": "a.example", "body": "site a" },
            { "kind": "fixed", "path": "/", "host": "*.b.example", "body": "under b" },
            { "kind": "fixed", "path": "/api", "body": "api, any host" },
            { "kind": "fixed", "path": "/api/v2", "host": "a.example", "body": "a's api v2" },
        ]);
        let server = start(&dir, &config(backend, routes));
        let addr = server.addr();
        for (host, target, want) in [
            ("a.example", "/", "site a"),
            ("A.EXAMPLE:8080", "/page", "site a"),
            ("x.b.example", "/", "under b"),
            ("b.example", "/", "any host"),
            ("c.example", "/", "any host"),
            ("a.example", "/api/v1", "api, any host"),
            ("a.example", "/api/v2/x", "a's api v2"),
            ("c.example", "/api/v2/x", "api, any host"),
        ] {
            let r = get(addr, host, target);
            assert_eq!(r.text(), want, "{backend}: Host {host}, {target}");
        }
        server.stop();
    }
}
