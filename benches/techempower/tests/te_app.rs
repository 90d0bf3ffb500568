//! The app's answers as a client sees them: bodies, headers, clamping, pipelining, and the
//! 404 of an unknown path.

mod support;

use std::time::Duration;

use oc_techempower::verify::client::{self, Connection};
use oc_techempower::verify::{ACCEPT_JSON, ACCEPT_PLAIN};
use serde_json::Value;

fn json(host: &str, path: &str) -> Value {
    let reply = client::get(host, path, ACCEPT_JSON).unwrap();
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    serde_json::from_slice(&reply.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", reply.text()))
}

#[test]
fn answers() {
    let _db = support::db_lock();
    support::each_backend(|backend| {
        let server = support::start_app(&support::database_url(), 4);
        let host = server.local_addrs()[0].to_string();

        let reply = client::get(&host, "/json", ACCEPT_JSON).unwrap();
        assert_eq!(reply.body, br#"{"message":"Hello, World!"}"#);
        assert_eq!(reply.header("Content-Type"), Some("application/json"));
        assert!(reply.header("Server").is_some() && reply.header("Date").is_some());

        let world = json(&host, "/db");
        let id = world["id"].as_i64().unwrap();
        assert!((1..=10_000).contains(&id), "{world}");
        assert!(world["randomNumber"].as_i64().is_some(), "{world}");

        for (path, n) in [
            ("/queries?queries=7", 7),
            ("/queries?queries=-1", 1),
            ("/queries", 1),
            ("/queries?queries=99999999999999999999", 500),
            ("/cached-queries?count=42", 42),
            ("/cached-queries?count=", 1),
            ("/updates?queries=3", 3),
        ] {
            let list = json(&host, path);
            assert_eq!(list.as_array().map(Vec::len), Some(n), "{backend:?} {path}");
        }

        // Cached rows are the table's: the cache holds every id.
        let cached = json(&host, "/cached-queries?count=500");
        let ids: std::collections::HashSet<i64> =
            cached.as_array().unwrap().iter().map(|w| w["id"].as_i64().unwrap()).collect();
        assert!(ids.len() > 400, "500 draws from 10,000 ids gave {} distinct", ids.len());

        let page = client::get(&host, "/fortunes", ACCEPT_JSON).unwrap();
        assert_eq!(page.header("Content-Type"), Some("text/html; charset=utf-8"));
        oc_techempower::verify::html::compare(&page.text()).unwrap();

        // 16 pipelined plaintext requests, 16 answers in one go.
        let mut conn = Connection::open(&host).unwrap();
        let replies = conn.pipeline("/plaintext", ACCEPT_PLAIN, 16).unwrap();
        assert_eq!(replies.len(), 16);
        assert!(replies.iter().all(|r| r.body == b"Hello, World!" && r.header("Content-Type") == Some("text/plain")));

        assert_eq!(client::get(&host, "/nothing", ACCEPT_JSON).unwrap().status, 404);
        server.shutdown(Duration::from_secs(5));
    });
}
