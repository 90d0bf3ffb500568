//! What a runtime leaves behind on the thread that built and dropped it: nothing that disturbs
//! the thread's own blocking calls later.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn a_dropped_runtime_does_not_interrupt_the_builders_later_timed_reads() {
    for round in 0..5 {
        for backend in [oc_runtime::IoBackend::Uring, oc_runtime::IoBackend::Epoll] {
            let rt = match oc_runtime::Runtime::builder().workers(2).io_backend(backend).build() {
                Ok(rt) => rt,
                // A kernel without io_uring: epoll only (a failure where CI requires it).
                Err(e) if backend == oc_runtime::IoBackend::Uring => {
                    support::require("OC_REQUIRE_IO_URING", &format!("io_uring ({e})"));
                    continue;
                }
                Err(e) => panic!("runtime on {backend:?}: {e}"),
            };
            // Some IO on the runtime, so that its rings have had work.
            let echoed = rt.block_on(|| {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let client = oc_runtime::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(b"ping").unwrap();
                    let mut got = [0u8; 4];
                    s.read_exact(&mut got).unwrap();
                    got
                });
                let (mut s, _) = listener.accept().unwrap();
                let mut got = [0u8; 4];
                s.read_exact(&mut got).unwrap();
                s.write_all(&got).unwrap();
                client.join().unwrap()
            });
            assert_eq!(&echoed, b"ping");
            assert!(rt.shutdown(Duration::from_secs(5)));
            // A plain blocking read with a time-out, on this thread, while the kernel tears
            // the rings down: it must wait for its data, not fail with EINTR.
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let writer = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                std::thread::sleep(Duration::from_millis(100));
                s.write_all(b"late").unwrap();
            });
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let start = Instant::now();
            let mut got = [0u8; 4];
            let n = s.read(&mut got).unwrap_or_else(|e| panic!("round {round}, after {backend:?}: {e}"));
            assert_eq!(&got[..n], &b"late"[..n], "{backend:?}");
            assert!(start.elapsed() < Duration::from_secs(4));
            writer.join().unwrap();
        }
    }
}
