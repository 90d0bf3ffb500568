//! A descriptor number reused for another kind of file gets the hooks' treatment of the new
//! kind: the per-descriptor table is cleared on `close` (docs/hooks.md). The same number is
//! a socket, then a pipe, then a regular file, then a socket again; stale state would show as
//! `ENOTSOCK` from a pipe or file read taken for a socket, or as a worker blocked by a socket
//! read taken for a file.
//!
//! One test in its own binary: it relies on the kernel giving out the lowest free number,
//! which no other test of this process may race for.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Reads one byte from `fd` through the hooked `read`, while another coroutine on the only
/// worker writes it to `writer` after 50 ms: the read must suspend (the writer runs) and
/// then return the byte.
fn blocking_read_suspends(fd: i32, writer: i32, what: &str) {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let w = oc_runtime::spawn(move || {
        oc_runtime::sleep(Duration::from_millis(50));
        r.fetch_add(1, Ordering::SeqCst);
        // SAFETY: a valid descriptor and a one-byte buffer.
        assert_eq!(unsafe { libc::write(writer, b"x".as_ptr().cast(), 1) }, 1);
    });
    let start = Instant::now();
    let mut byte = [0u8; 1];
    // SAFETY: a valid descriptor and a one-byte buffer.
    let n = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
    assert_eq!((n, byte[0]), (1, b'x'), "{what}: read gave {n} (errno {})", errno());
    assert_eq!(ran.load(Ordering::SeqCst), 1, "{what}: the writer did not run while the read waited");
    assert!(start.elapsed() >= Duration::from_millis(50), "{what}");
    w.join().unwrap();
}

#[test]
fn one_descriptor_number_as_socket_then_pipe_then_file_then_socket() {
    let path = std::env::temp_dir().join(format!("oc-fd-reuse-{}", std::process::id()));
    std::fs::write(&path, b"file contents").unwrap();
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = oc_runtime::Runtime::builder().workers(1).io_backend(backend).build().unwrap();
        let c_path = c_path.clone();
        rt.block_on(move || {
            let socket_pair = || {
                let mut sv = [0i32; 2];
                // SAFETY: a valid out-array of two descriptors.
                assert_eq!(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) }, 0);
                sv
            };
            let close = |fd: i32| {
                // SAFETY: a descriptor this test owns and closes once.
                assert_eq!(unsafe { libc::close(fd) }, 0);
            };
            // 1. A socket: a blocking read suspends the coroutine.
            let [n, peer] = socket_pair();
            blocking_read_suspends(n, peer, &format!("{backend:?}: socket {n}"));
            close(n);
            close(peer);

            // 2. The same number as a pipe's read end.
            let mut p = [0i32; 2];
            // SAFETY: a valid out-array of two descriptors.
            assert_eq!(unsafe { libc::pipe(p.as_mut_ptr()) }, 0);
            assert_eq!(p[0], n, "{backend:?}: the kernel gave the pipe another number");
            blocking_read_suspends(p[0], p[1], &format!("{backend:?}: pipe {n} (was a socket)"));
            close(p[0]);
            close(p[1]);

            // 3. The same number as a regular file: read straight through, to end of file.
            // SAFETY: a valid NUL-terminated path.
            let f = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            assert_eq!(f, n, "{backend:?}: the kernel gave the file another number");
            let mut buf = [0u8; 64];
            // SAFETY: a valid descriptor and buffer.
            let got = unsafe { libc::read(f, buf.as_mut_ptr().cast(), buf.len()) };
            assert_eq!(got, 13, "{backend:?}: file {n} (was a pipe) read gave {got} (errno {})", errno());
            assert_eq!(&buf[..13], b"file contents");
            // SAFETY: as above.
            assert_eq!(unsafe { libc::read(f, buf.as_mut_ptr().cast(), buf.len()) }, 0, "{backend:?}: end of file");
            close(f);

            // 4. A socket again: suspends again (not read straight through as the file was).
            let [again, peer] = socket_pair();
            assert_eq!(again, n, "{backend:?}: the kernel gave the socket another number");
            blocking_read_suspends(again, peer, &format!("{backend:?}: socket {n} (was a file)"));
            close(again);
            close(peer);
        });
        support::shutdown(rt);
    }
    std::fs::remove_file(&path).unwrap();
}
