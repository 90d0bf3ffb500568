//! The accept loop when the process runs out of descriptors: the server keeps running, warns
//! at most once a second (not at every retry), and serves again as soon as descriptors are
//! free. One test in this binary: it lowers the process's open-file limit and installs the
//! process's `tracing` subscriber.

mod support;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use support::read_response;

/// Opens `/dev/null` until the process is out of descriptors; returns them.
fn exhaust_descriptors() -> Vec<OwnedFd> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(f) => held.push(OwnedFd::from(f)),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return held,
            Err(e) => panic!("opening /dev/null: {e}"),
        }
        assert!(held.len() < 100_000, "no descriptor limit in sight");
    }
}

#[test]
fn out_of_descriptors_the_accept_loop_warns_once_a_second_and_recovers() {
    let warnings = Arc::new(AtomicU64::new(0));
    tracing::subscriber::set_global_default(support::WarningCounter(warnings.clone())).unwrap();
    // A small limit, so that exhausting it is quick: what is open now, and some room.
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let saved = lim;
    lim.rlim_cur = (open + 256).min(lim.rlim_max);
    // SAFETY: a valid in-pointer.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);

    support::each_backend(|backend| {
        let (rt, server, addr) = support::server();
        let before = warnings.load(Ordering::SeqCst);
        let mut held = exhaust_descriptors();
        // One descriptor for the client: the kernel completes its connection in the backlog,
        // and the server's accept fails for want of a descriptor.
        drop(held.pop());
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        client.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // Out of descriptors for a while: the server must not flood its log.
        let starved = Instant::now();
        std::thread::sleep(Duration::from_millis(1500));
        let logged = warnings.load(Ordering::SeqCst) - before;
        // Once per second of the clock: a window of 1.5 s touches up to three such seconds.
        let seconds = starved.elapsed().as_secs() + 2;
        assert!(logged >= 1, "{backend:?}: the failed accepts were not reported");
        assert!(logged <= seconds, "{backend:?}: {logged} warnings in {:?}", starved.elapsed());
        // Descriptors come back: the waiting client is served promptly.
        let freed = Instant::now();
        held.clear();
        let mut buf = Vec::new();
        let r = read_response(&mut client, &mut buf, false).expect("a response once descriptors are free");
        assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!"), "{backend:?}");
        let recovered = freed.elapsed();
        assert!(
            recovered < Duration::from_millis(500),
            "{backend:?}: served {recovered:?} after descriptors were freed"
        );
        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
    });
    // SAFETY: a valid in-pointer.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &saved) }, 0);
}
