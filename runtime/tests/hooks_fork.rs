//! Syscall hooks in a child made by `fork` from a coroutine: inert, so that the child cannot
//! disturb the parent's reactors (epoll instances and io_uring rings are shared with it).

mod support;

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;

/// Waits on this plain thread for `child`; kills it after `limit`. Returns its wait status,
/// or `None` if it had to be killed.
fn reap(child: libc::pid_t, limit: Duration) -> Option<libc::c_int> {
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: a valid out-pointer; WNOHANG never blocks.
        let r = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if r == child {
            return Some(status);
        }
        if Instant::now() >= deadline {
            // SAFETY: our own child.
            unsafe {
                libc::kill(child, libc::SIGKILL);
                libc::waitpid(child, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_forked_childs_close_and_sleep_leave_the_parents_waiting_coroutine_alone() {
    // The test thread is a plain thread: it reaps the child and checks the parent's
    // coroutines with time limits even if the child has wedged the parent's worker.
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = oc_runtime::Runtime::builder().workers(1).io_backend(backend).build().unwrap();
        let (a, mut b) = UnixStream::pair().unwrap();
        let fd = a.as_raw_fd();
        // Waits in the reactor for a byte that comes only after the child has gone.
        let mut reader = rt.spawn(move || {
            let mut a = a;
            let mut byte = [0u8; 1];
            a.read(&mut byte).map(|n| byte[..n].to_vec())
        });
        std::thread::sleep(Duration::from_millis(100));
        let mut forker = rt.spawn(move || {
            // SAFETY: the child makes only async-signal-safe calls (close, a sleep, _exit).
            let child = unsafe { libc::fork() };
            if child == 0 {
                // SAFETY: the child's copy of the descriptor.
                unsafe { libc::close(fd) };
                std::thread::sleep(Duration::from_millis(20));
                // SAFETY: ends the child without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            child
        });
        let child = forker.timeout_join(Duration::from_secs(10)).unwrap();
        assert!(child > 0, "fork: {}", std::io::Error::last_os_error());
        let status = reap(child, Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| libc::WIFEXITED(s) && libc::WEXITSTATUS(s) == 0),
            "{backend:?}: the child did not exit cleanly: {status:?}"
        );
        b.write_all(b"!").unwrap();
        let got = reader.timeout_join(Duration::from_secs(5));
        assert!(!got.as_ref().is_err_and(|e| e.is_timeout()), "{backend:?}: the parent's coroutine was never woken");
        assert_eq!(got.unwrap().unwrap(), b"!", "{backend:?}");
        support::shutdown(rt);
    }
}
