//! A coroutine closes a descriptor another coroutine is waiting on: the waiter wakes and
//! sees the descriptor closed (`EBADF`) instead of waiting for ever, on both reactors, and
//! the runtime still shuts down cleanly.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use oc_runtime::IoBackend;

/// A one-worker runtime on each backend the kernel offers.
fn each_backend(test: impl Fn(oc_runtime::Runtime, IoBackend)) {
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = match oc_runtime::Runtime::builder().workers(1).io_backend(backend).build() {
            Ok(rt) => rt,
            Err(_) if backend == IoBackend::Uring => continue,
            Err(e) => panic!("runtime on {backend:?}: {e}"),
        };
        test(rt, backend);
    }
}

/// Runs `wait` (which waits on the descriptor it is given) in one coroutine and closes that
/// descriptor from another while it waits; returns what `wait` returned. The peer stays open
/// (nothing arrives, no end of stream): only the close can end the wait.
fn close_under(rt: &oc_runtime::Runtime, backend: IoBackend, wait: fn(RawFd) -> std::io::Result<usize>) {
    let (ours, peer) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    let fd = ours.into_raw_fd();
    let (tx, rx) = mpsc::channel();
    rt.block_on(move || {
        oc_runtime::spawn(move || {
            let _ = tx.send(wait(fd));
        });
        // The waiter runs (on the only worker) and waits.
        oc_runtime::sleep(Duration::from_millis(100));
        oc_runtime::io::forget(fd);
        // SAFETY: the descriptor is ours; the waiter only borrows it.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    });
    let result =
        rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{backend:?}: the waiter was not woken"));
    match result {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{backend:?}: {e}"),
        Ok(n) => panic!("{backend:?}: read {n} bytes from a closed descriptor"),
    }
    drop(peer);
}

#[test]
fn a_read_waiting_on_a_descriptor_another_coroutine_closes_fails_with_ebadf() {
    each_backend(|rt, backend| {
        close_under(&rt, backend, |fd| {
            let mut buf = [0u8; 16];
            // SAFETY: open until the other coroutine closes it, which this test is about.
            oc_runtime::io::read(unsafe { BorrowedFd::borrow_raw(fd) }, &mut buf, None)
        });
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}: shutdown");
    });
}

#[test]
fn a_readiness_wait_on_a_descriptor_another_coroutine_closes_ends() {
    each_backend(|rt, backend| {
        close_under(&rt, backend, |fd| {
            // SAFETY: as above.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            loop {
                oc_runtime::io::wait(fd, oc_runtime::io::Interest::Readable, None)?;
                let mut buf = [0u8; 16];
                // SAFETY: a valid buffer; the descriptor may have been closed meanwhile.
                let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
                if n >= 0 {
                    return Ok(n as usize);
                }
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::WouldBlock {
                    return Err(e);
                }
            }
        });
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}: shutdown");
    });
}

#[test]
fn a_blocking_std_read_whose_socket_another_coroutine_closes_fails_with_ebadf() {
    each_backend(|rt, backend| {
        if !rt.hooks_enabled() {
            return;
        }
        close_under(&rt, backend, |fd| {
            // A blocking socket read through the hooks; the stream never closes the
            // descriptor itself (the other coroutine does).
            // SAFETY: as above.
            let stream = std::mem::ManuallyDrop::new(unsafe { UnixStream::from_raw_fd(fd) });
            stream.set_nonblocking(false)?;
            let mut buf = [0u8; 16];
            (&*stream).read(&mut buf)
        });
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}: shutdown");
    });
}

#[test]
fn a_wait_in_another_workers_reactor_is_reached_by_the_close() {
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        // No monitor: a busy worker keeps its queue (no hand-off to a spare thread).
        let rt = match oc_runtime::Runtime::builder().workers(2).io_backend(backend).preempt_interval(None).build() {
            Ok(rt) => rt,
            Err(_) if backend == IoBackend::Uring => continue,
            Err(e) => panic!("runtime on {backend:?}: {e}"),
        };
        let (ours, peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let fd = ours.into_raw_fd();
        let (where_tx, where_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let _waiter = rt.spawn(move || {
            where_tx.send(std::thread::current().id()).unwrap();
            let mut buf = [0u8; 16];
            // SAFETY: open until the other coroutine closes it, which this test is about.
            let _ = done_tx.send(oc_runtime::io::read(unsafe { BorrowedFd::borrow_raw(fd) }, &mut buf, None));
        });
        let waiter_thread = where_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Keep the waiter's worker busy (without suspending) until the close is done, so that
        // the closing coroutine runs on the other worker.
        let released = Arc::new(AtomicBool::new(false));
        let (busy_tx, busy_rx) = mpsc::channel();
        let mut occupied = false;
        for _ in 0..2000 {
            let busy_tx = busy_tx.clone();
            let released = released.clone();
            let h = rt.spawn(move || {
                if std::thread::current().id() == waiter_thread {
                    busy_tx.send(()).unwrap();
                    let start = std::time::Instant::now();
                    while !released.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(20) {
                        std::hint::spin_loop();
                    }
                }
            });
            if busy_rx.recv_timeout(Duration::from_millis(5)).is_ok() {
                occupied = true;
                break;
            }
            drop(h);
        }
        assert!(occupied, "{backend:?}: no coroutine ran on the waiter's worker");
        let closer = rt.spawn(move || {
            let elsewhere = std::thread::current().id() != waiter_thread;
            oc_runtime::io::forget(fd);
            // SAFETY: the descriptor is ours; the waiter only borrows it.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            released.store(true, Ordering::Release);
            elsewhere
        });
        assert!(closer.join().unwrap(), "{backend:?}: the close ran on the waiter's worker");
        let result = done_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{backend:?}: the waiter on the other worker was not woken"));
        match result {
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EBADF), "{backend:?}: {e}"),
            Ok(n) => panic!("{backend:?}: read {n} bytes from a closed descriptor"),
        }
        drop(peer);
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}: shutdown");
    }
}
