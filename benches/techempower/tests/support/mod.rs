//! Helpers of the oc-techempower tests: each reactor in turn, the app on a fresh runtime, and
//! the database URL.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use oc_runtime::IoBackend;

#[path = "../../../../runtime/tests/support/unanswering.rs"]
mod unanswering;
#[allow(unused_imports)]
pub(crate) use unanswering::unanswering_addr;

/// The database the tests use: `$DATABASE_URL`, else the TechEmpower default (run
/// `oc-techempower setup-db` first).
pub(crate) fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| oc_techempower::setup::DEFAULT_DATABASE_URL.to_owned())
}

/// Runs `test` on a 2-worker runtime of each reactor (io_uring skipped, with a note, where
/// the kernel refuses it).
pub(crate) fn each_backend(test: impl Fn(IoBackend) + Send + Sync + Clone + 'static) {
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = match oc_runtime::Runtime::builder().workers(2).io_backend(backend).build() {
            Ok(rt) => rt,
            Err(e) if backend == IoBackend::Uring => {
                eprintln!("io_uring unavailable, testing epoll only: {e}");
                continue;
            }
            Err(e) => panic!("epoll runtime: {e}"),
        };
        assert_eq!(rt.io_backend(), backend);
        let test = test.clone();
        rt.block_on(move || test(backend));
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}: runtime did not stop cleanly");
    }
}

/// The app on 127.0.0.1 (a free port), with a pool of `pool` connections to `url`.
pub(crate) fn start_app(url: &str, pool: usize) -> oc_http::ServerHandle {
    let db = Arc::new(oc_techempower::db::Database::new(url, pool).expect("a valid database URL"));
    oc_http::Server::new(oc_techempower::app::router(db)).bind("127.0.0.1:0").expect("bind").start()
}

/// Holds the tests that count statements or compare the World table apart (across test
/// processes too: nextest runs each test in its own): their counts must not include another
/// test's requests.
pub(crate) fn db_lock() -> std::fs::File {
    let path = std::env::temp_dir().join("oc-techempower-db-tests.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).expect("lock file");
    file.lock().expect("lock the database tests");
    file
}
