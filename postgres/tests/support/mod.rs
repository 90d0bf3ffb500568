//! Helpers shared by the oc-postgres integration tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use oc_runtime::IoBackend;

/// Both reactors: every IO test runs on each.
pub(crate) const BACKENDS: [IoBackend; 2] = [IoBackend::Uring, IoBackend::Epoll];

/// The test server: `OC_PG_URL`, or the local PostgreSQL on 127.0.0.1:5432 as `postgres`.
pub(crate) fn url() -> String {
    std::env::var("OC_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A name no other test (or test process) uses: `prefix_<pid>_<n>`.
pub(crate) fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A runtime with `workers` workers on `backend`.
pub(crate) fn runtime(backend: IoBackend, workers: usize) -> oc_runtime::Runtime {
    let rt = oc_runtime::Runtime::builder()
        .workers(workers)
        .io_backend(backend)
        .name(format!("pg-{backend:?}"))
        .build()
        .expect("runtime starts");
    assert_eq!(rt.io_backend(), backend);
    rt
}

/// Runs `f` on a fresh runtime for each backend, then shuts it down cleanly.
pub(crate) fn on_each_backend<F>(workers: usize, f: F)
where
    F: Fn(IoBackend) + Send + Sync + Clone + 'static,
{
    for backend in BACKENDS {
        let rt = runtime(backend, workers);
        let f = f.clone();
        rt.block_on(move || f(backend));
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}: runtime did not stop cleanly");
    }
}

/// A connected client, or a panic that says how to start the server.
pub(crate) fn client() -> oc_postgres::Client {
    oc_postgres::Client::connect(&url()).unwrap_or_else(|e| {
        panic!(
            "cannot reach the test PostgreSQL at {} ({e}); start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` or set OC_PG_URL",
            url()
        )
    })
}

#[path = "../../../runtime/tests/support/refused.rs"]
mod refused;
#[allow(unused_imports)]
pub(crate) use refused::refused_addr;
