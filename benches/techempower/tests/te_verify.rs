//! The verifier against the app (every test type passes, statement counts included) and
//! against a deliberately broken server (each fault is reported, under the right test).

mod support;

use std::time::Duration;

use oc_http::{Request, Response, Router, Server};
use oc_techempower::verify::{Options, TestType, verify};

#[test]
fn the_app_passes_every_rule() {
    let _db = support::db_lock();
    support::each_backend(|backend| {
        let server = support::start_app(&support::database_url(), 8);
        let host = server.local_addrs()[0].to_string();
        let options = Options::new(&host).database(&support::database_url());
        let report = verify(&options);
        println!("{backend:?}:\n{report}");
        assert!(report.passed(), "{backend:?}: the app fails the verifier:\n{report}");
        assert_eq!(report.outcomes.len(), 7);
        // The statement counts were really checked (not skipped) for the four database tests.
        for test in [TestType::Db, TestType::Queries, TestType::Fortunes, TestType::Updates] {
            let outcome = report.outcome(test).expect("ran");
            assert!(outcome.notes.iter().any(|n| n.contains("statements")), "{test:?}: {:?}", outcome.notes);
        }
        server.shutdown(Duration::from_secs(5));
    });
}

/// A server with one fault per test type.
fn broken_router() -> Router {
    Router::new()
        // Wrong message.
        .get("/json", |_: &Request| Response::json(&serde_json::json!({"message": "Hello World"})))
        // Wrong content type.
        .get("/plaintext", |_: &Request| {
            Response::new(200).header("Content-Type", "application/octet-stream").static_body(b"Hello, World!")
        })
        // Key misspelt.
        .get("/db", |_: &Request| Response::json(&serde_json::json!({"id": 5, "randomnumber": 7})))
        // No clamping: as many rows as asked, none for 0 or foo.
        .get("/queries", |req: &Request| {
            let n: usize = req.query_param("queries").and_then(|q| q.parse().ok()).unwrap_or(0);
            Response::json(&vec![serde_json::json!({"id": 1, "randomNumber": 1}); n])
        })
        // Not escaped.
        .get("/fortunes", |_: &Request| {
            let page = oc_techempower::verify::html::expected_page().replace("&lt;script&gt;", "<script>");
            Response::new(200).header("Content-Type", "text/html; charset=utf-8").body(page.into_bytes())
        })
        // Rows that are never written to the table.
        .get("/updates", |req: &Request| {
            let n = oc_techempower::params::clamp_count(req.query_param("queries").as_deref());
            Response::json(
                &(1..=n as i32).map(|id| serde_json::json!({"id": id, "randomNumber": 1})).collect::<Vec<_>>(),
            )
        })
        // An object instead of an array.
        .get("/cached-queries", |_: &Request| Response::json(&serde_json::json!({"id": 1, "randomNumber": 1})))
}

#[test]
fn a_broken_server_fails_each_test() {
    let _db = support::db_lock();
    support::each_backend(|backend| {
        let server = Server::new(broken_router()).bind("127.0.0.1:0").unwrap().start();
        let host = server.local_addrs()[0].to_string();
        let mut options = Options::new(&host).database(&support::database_url());
        options.date_wait = Duration::from_millis(1100);
        options.concurrency = 64;
        let report = verify(&options);
        println!("{backend:?}:\n{report}");
        let failures = |t: TestType| report.outcome(t).expect("ran").failures.join("\n");
        assert!(failures(TestType::Json).contains("Hello World"), "{report}");
        assert!(failures(TestType::Plaintext).contains("Content-Type"), "{report}");
        assert!(failures(TestType::Db).contains("randomNumber"), "{report}");
        let queries = failures(TestType::Queries);
        assert!(queries.contains("queries=0: 0 items, expected 1"), "{report}");
        assert!(queries.contains("queries=501: 501 items, expected 500"), "{report}");
        // No statement reached the database.
        assert!(queries.contains("statements on world"), "{report}");
        assert!(failures(TestType::Fortunes).contains("fortunes page"), "{report}");
        let updates = failures(TestType::Updates);
        assert!(updates.contains("no row of the World tables changed"), "{report}");
        assert!(failures(TestType::CachedQueries).contains("not an array"), "{report}");
        assert!(!report.passed());
        server.shutdown(Duration::from_secs(5));
    });
}

#[test]
fn a_cached_date_fails() {
    // A handler cannot set Date (the server manages it), so the check is made against a
    // raw server that always sends the same one.
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    // One answer per request head in what arrived (the verifier pipelines 16).
                    let requests = buf[..n].windows(4).filter(|w| w == b"\r\n\r\n").count();
                    let one = "HTTP/1.1 200 OK\r\nServer: fixed\r\nDate: Sat, 05 Dec 2026 00:00:00 GMT\r\n\
                               Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
                    if stream.write_all(one.repeat(requests).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let mut options = Options::new(&host).tests(&[TestType::Plaintext]);
    options.date_wait = Duration::from_millis(1100);
    let report = oc_runtime::block_on(move || verify(&options));
    let failures = report.outcome(TestType::Plaintext).unwrap().failures.join("\n");
    assert!(failures.contains("unchanged"), "{report}");
}

/// Each test's outcome says `why` (and nothing more): the server could not be reached.
fn assert_unreachable(report: &oc_techempower::verify::Report, host: &str, why: &str) {
    assert_eq!(report.outcomes.len(), 7, "{report}");
    for outcome in &report.outcomes {
        let prefix = format!("cannot reach {host}: ");
        assert!(
            outcome.failures.len() == 1
                && outcome.failures[0].starts_with(&prefix)
                && outcome.failures[0].contains(why),
            "{:?}: {:?}",
            outcome.test,
            outcome.failures
        );
    }
    assert!(!report.passed());
}

#[test]
fn a_host_that_does_not_resolve_fails_every_test_at_once() {
    // Looked up once, not for each of the verifier's 2,000-odd requests (which took minutes
    // where a name server answers each look-up).
    support::each_backend(|backend| {
        let host = "no-such-host.invalid:8080";
        let started = std::time::Instant::now();
        let report = verify(&Options::new(host).database(&support::database_url()));
        println!("{backend:?}:\n{report}");
        assert_unreachable(&report, host, "");
        assert!(started.elapsed() < Duration::from_secs(10), "{backend:?}: took {:?}", started.elapsed());
    });
}

#[test]
fn a_server_that_never_completes_the_handshake_times_out() {
    support::each_backend(|backend| {
        let (_listener, addr, _queued) = support::unanswering_addr();
        let host = addr.to_string();
        let started = std::time::Instant::now();
        let report = verify(&Options::new(&host));
        println!("{backend:?}:\n{report}");
        assert_unreachable(&report, &host, "timed out");
        let took = started.elapsed();
        assert!(
            took >= oc_techempower::verify::client::CONNECT_TIMEOUT && took < Duration::from_secs(15),
            "{backend:?}: took {took:?}"
        );
    });
}
