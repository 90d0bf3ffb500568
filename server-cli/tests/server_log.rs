//! The access log (common log format on standard output) and JSON log lines, through the real
//! binary on each IO backend.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{BACKENDS, Client, TempDir, start};

/// Whether `line` is `IP - - [DD/Mon/YYYY:HH:MM:SS +0000] "REQUEST" STATUS BYTES`.
fn clf(line: &str, request: &str, status: u16, bytes: &str) -> bool {
    let Some((peer, rest)) = line.split_once(" - - [") else { return false };
    let Some((date, rest)) = rest.split_once("] ") else { return false };
    let date_ok = date.len() == 26
        && date.ends_with(" +0000")
        && date.as_bytes()[2] == b'/'
        && date.as_bytes()[6] == b'/'
        && date.as_bytes()[11] == b':';
    peer == "127.0.0.1" && date_ok && rest == format!("\"{request}\" {status} {bytes}")
}

#[test]
fn access_log_lines_in_the_common_log_format_and_json_logs() {
    for backend in BACKENDS {
        let dir = TempDir::new("log");
        let config = json!({
            "runtime": { "workers": 2, "io_backend": backend },
            "listeners": [{ "address": "127.0.0.1:0" }],
            "logging": { "level": "info", "format": "json", "access_log": true },
            "routes": [
                { "kind": "fixed", "path": "/a", "body": "0123456789" },
                { "kind": "fixed", "path": "/empty", "status": 204 },
            ],
        });
        let server = start(&dir, &config);
        let mut c = Client::connect(server.addr()).unwrap();
        c.get("/a?x=1").unwrap();
        c.request("HEAD", "x", "/a", "").unwrap();
        c.get("/empty").unwrap();
        c.get("/missing").unwrap();
        assert!(
            server.stdout.wait_for("/missing", Duration::from_secs(5)).is_some(),
            "{backend}: flushed within 100 ms"
        );
        let lines = server.stdout.all();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(clf(&lines[0], "GET /a?x=1 HTTP/1.1", 200, "10"), "{}", lines[0]);
        assert!(clf(&lines[1], "HEAD /a HTTP/1.1", 200, "-"), "{}", lines[1]);
        assert!(clf(&lines[2], "GET /empty HTTP/1.1", 204, "-"), "{}", lines[2]);
        assert!(clf(&lines[3], "GET /missing HTTP/1.1", 404, "14"), "{}", lines[3]);

        // The log itself: one JSON object per line.
        for line in server.stderr.all() {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(v["level"].is_string() && v["fields"]["message"].is_string(), "{line}");
        }
        server.stop();
    }
}

#[test]
fn a_reload_turns_the_access_log_off() {
    let backend = BACKENDS[1];
    let dir = TempDir::new("log-off");
    let config = |on: bool| {
        json!({
            "runtime": { "workers": 1, "io_backend": backend },
            "listeners": [{ "address": "127.0.0.1:0" }],
            "logging": { "access_log": on },
            "routes": [{ "kind": "fixed", "path": "/", "body": "x" }],
        })
    };
    let server = start(&dir, &config(true));
    let mut c = Client::connect(server.addr()).unwrap();
    c.get("/before").unwrap();
    assert!(server.stdout.wait_for("/before", Duration::from_secs(5)).is_some());
    std::fs::write(&server.config, serde_json::to_vec(&config(false)).unwrap()).unwrap();
    server.signal(libc::SIGHUP);
    assert!(server.stderr.wait_for("configuration reloaded", Duration::from_secs(10)).is_some());
    c.get("/after").unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(server.stdout.all().len(), 1, "{:?}", server.stdout.all());
    server.stop();
}
