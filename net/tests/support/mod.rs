//! Helpers shared by the oc-net integration tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
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
        assert!(
            rt.shutdown(Duration::from_secs(10)),
            "{backend:?}: runtime did not stop cleanly"
        );
    }
}

/// Raises the soft open-file limit to the hard one.
pub(crate) fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
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

/// A gate that releases every coroutine once `n` have arrived.
pub(crate) struct Gate {
    n: usize,
    waiting: Mutex<Vec<oc_runtime::task::Coroutine>>,
    open: std::sync::atomic::AtomicBool,
}

impl Gate {
    pub(crate) fn new(n: usize) -> Arc<Gate> {
        Arc::new(Gate {
            n,
            waiting: Mutex::new(Vec::new()),
            open: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Waits until `n` coroutines have called `arrive`.
    pub(crate) fn arrive(&self) {
        let me = oc_runtime::task::current().expect("in a coroutine");
        {
            let mut waiting = self.waiting.lock().unwrap();
            waiting.push(me);
            if waiting.len() == self.n {
                self.open.store(true, std::sync::atomic::Ordering::SeqCst);
                for c in waiting.drain(..) {
                    c.unpark();
                }
            }
        }
        while !self.open.load(std::sync::atomic::Ordering::SeqCst) {
            oc_runtime::task::park();
        }
    }
}
