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

/// An address that never answers a connection attempt: a loopback listener (backlog 0)
/// whose accept queue is already full, so the kernel drops further SYNs and a connect waits
/// until its time-out. Returns the listener and the connections that fill its queue: keep
/// them alive for as long as the address must stay silent.
pub(crate) fn unanswering_addr() -> (socket2::Socket, std::net::SocketAddr, Vec<std::net::TcpStream>) {
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    // The first connections complete into the queue; the first that cannot is the proof.
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => fill.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return (listener, addr, fill),
            Err(e) => panic!("filling the accept queue: {e}"),
        }
    }
    panic!("the accept queue of a backlog-0 listener took {} connections", fill.len());
}
