//! Helpers shared by the oc-net integration tests.
#![allow(dead_code)]

use std::time::Duration;

use oc_runtime::IoBackend;

/// Both reactors: every IO test runs on each.
pub(crate) const BACKENDS: [IoBackend; 2] = [IoBackend::Uring, IoBackend::Epoll];

/// A runtime with `workers` workers on `backend`.
pub(crate) fn runtime(backend: IoBackend, workers: usize) -> oc_runtime::Runtime {
    let rt = oc_runtime::Runtime::builder()
        .workers(workers)
        .io_backend(backend)
        .name(format!("test-{backend:?}"))
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

/// Raises the soft open-file limit to the hard one.
pub(crate) fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: valid in-pointer.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    lim.rlim_cur
}

/// Open descriptors of this process.
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[path = "../../../runtime/tests/support/gate.rs"]
mod gate;
#[allow(unused_imports)]
pub(crate) use gate::Gate;

#[path = "../../../runtime/tests/support/refused.rs"]
mod refused;
#[allow(unused_imports)]
pub(crate) use refused::refused_addr;

#[path = "../../../runtime/tests/support/unanswering.rs"]
mod unanswering;
#[allow(unused_imports)]
pub(crate) use unanswering::unanswering_addr;
