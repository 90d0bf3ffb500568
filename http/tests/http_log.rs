//! The server's warnings go through `tracing`, at most one a second of each kind however
//! often their cause recurs. (One test in this binary: it installs the process's subscriber.)

mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oc_http::{Limits, Request, Response, Router};
use support::{connect, read_response};

#[test]
fn invalid_handler_answers_are_logged_at_most_once_a_second() {
    let warnings = Arc::new(AtomicU64::new(0));
    tracing::subscriber::set_global_default(support::WarningCounter(warnings.clone())).unwrap();
    let start = Instant::now();
    support::each_backend(|_backend| {
        let router = Router::new().get("/forged", |_: &Request| Response::text("x").header("X-Forged", "a\r\nb: c"));
        let (rt, server, addr) = support::server_with(router, Limits::default());
        // 3,000 invalid answers, pipelined.
        let mut s = connect(addr);
        s.write_all("GET /forged HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3000).as_bytes()).unwrap();
        let mut buf = Vec::new();
        for _ in 0..3000 {
            assert_eq!(read_response(&mut s, &mut buf, false).unwrap().status, 500);
        }
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
    // One a second at most (the count of those left out goes with the next).
    let logged = warnings.load(Ordering::SeqCst);
    let seconds = start.elapsed().as_secs() + 1;
    assert!(logged >= 1 && logged <= seconds, "{logged} warnings in {:?}", start.elapsed());
}
