//! Syscall hooks under hostile use: `errno` across the end-of-call safe point, ancillary data
//! sent once, sleeps that a cancellation ends, forced unwinds that pass through.

mod support;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;

const BACKENDS: [IoBackend; 2] = [IoBackend::Uring, IoBackend::Epoll];

fn runtime(workers: usize, backend: IoBackend) -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(workers).io_backend(backend).name("hooks").build().unwrap()
}

/// The calling thread's `errno`.
fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

/// The calling OS thread (a system call: never cached across a switch).
fn tid() -> libc::pid_t {
    // SAFETY: no arguments.
    unsafe { libc::gettid() }
}

/// Computes without suspending until the monitor has handed the worker to another thread (the
/// coroutine held it past the time slice): the end of the next hooked call moves the
/// coroutine back to a worker, on another thread.
fn hog_until_handed_off() {
    let handoffs = || oc_runtime::current_metrics().expect("in a coroutine").handoffs;
    let before = handoffs();
    let start = Instant::now();
    while handoffs() == before {
        assert!(start.elapsed() < Duration::from_secs(30), "the worker was never handed off");
        let spin = Instant::now();
        while spin.elapsed() < Duration::from_millis(1) {
            std::hint::spin_loop();
        }
    }
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Waits on this (plain) thread until `flag` is set or `limit` passes.
fn wait_for(flag: &AtomicBool, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !flag.load(Ordering::SeqCst) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

#[test]
fn errno_of_a_failing_hooked_call_survives_the_move_to_another_thread() {
    /// Not open in this process (the descriptor limit here is far below it).
    const NOT_OPEN: libc::c_int = 1_000_000;
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        let seen = rt.block_on(|| {
            oc_runtime::spawn(|| {
                let (a, b) = UnixStream::pair().unwrap();
                drop(b);
                let mut seen = Vec::new();
                // Through the hook's guard: a blocking socket whose peer is gone (EPIPE).
                let before = tid();
                hog_until_handed_off();
                // SAFETY: a valid one-byte buffer.
                let n = unsafe { libc::send(a.as_raw_fd(), b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
                let e = errno();
                seen.push(("send", n, e, libc::EPIPE, before != tid()));
                // Straight through (a descriptor that is not open), then the safe point.
                let before = tid();
                hog_until_handed_off();
                // SAFETY: a valid one-byte buffer.
                let n = unsafe { libc::write(NOT_OPEN, b"x".as_ptr().cast(), 1) };
                let e = errno();
                seen.push(("write", n, e, libc::EBADF, before != tid()));
                seen
            })
            .join()
            .unwrap()
        });
        for (call, n, e, expected, moved) in seen {
            assert_eq!(n, -1, "{backend:?}: {call}");
            assert_eq!(e, expected, "{backend:?}: {call}'s errno (the coroutine moved to another thread: {moved})");
        }
        support::shutdown(rt);
    }
}

/// Sends `data` with one descriptor in `SCM_RIGHTS` through one blocking `sendmsg`.
fn sendmsg_with_fd(sock: libc::c_int, data: &[u8], passed: libc::c_int) -> isize {
    let mut iov = libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() };
    // u64 words keep the control buffer aligned for cmsghdr.
    let mut control = [0u64; 8];
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as usize;
    assert!(space <= std::mem::size_of_val(&control));
    // SAFETY: msghdr is plain data.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: the header names `control`, which has room for one cmsghdr and one int.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>(), passed);
        libc::sendmsg(sock, &msg, 0)
    }
}

/// Receives until `len` bytes came; returns how many descriptors arrived with them (each is
/// closed).
fn receive_counting_fds(sock: libc::c_int, len: usize) -> usize {
    let mut buf = vec![0u8; 64 * 1024];
    let mut control = [0u64; 64];
    let (mut got, mut fds) = (0, 0);
    while got < len {
        let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: msghdr is plain data.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // SAFETY: the header names our buffers.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        assert!(n > 0, "recvmsg: {n} ({})", std::io::Error::last_os_error());
        assert_eq!(msg.msg_flags & libc::MSG_CTRUNC, 0, "control data truncated");
        got += n as usize;
        // SAFETY: walking the control data the kernel wrote into `control`.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                    let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                    for i in 0..bytes / std::mem::size_of::<libc::c_int>() {
                        libc::close(std::ptr::read_unaligned(data.add(i)));
                        fds += 1;
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
    }
    assert_eq!(got, len);
    fds
}

#[test]
fn a_blocking_sendmsg_in_many_partial_sends_passes_its_descriptor_once() {
    // Far more than a Unix socket buffers: the send completes in many partial sends.
    const LEN: usize = 4 << 20;
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        let (sent, fds) = rt.block_on(|| {
            let (a, b) = UnixStream::pair().unwrap();
            let receiver = oc_runtime::spawn(move || receive_counting_fds(b.as_raw_fd(), LEN));
            let passed = std::fs::File::open("/dev/null").unwrap();
            let sent = sendmsg_with_fd(a.as_raw_fd(), &vec![7u8; LEN], passed.as_raw_fd());
            (sent, receiver.join().unwrap())
        });
        assert_eq!(sent, LEN as isize, "{backend:?}");
        assert_eq!(fds, 1, "{backend:?}: one descriptor sent, {fds} received");
        support::shutdown(rt);
    }
}

#[test]
fn cancelling_a_coroutine_in_std_thread_sleep_ends_the_sleep() {
    for backend in BACKENDS {
        let rt = runtime(2, backend);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let past_yield = Arc::new(AtomicBool::new(false));
        let (s, p) = (seen.clone(), past_yield.clone());
        let res = rt.block_on(move || {
            let mut h = oc_runtime::spawn(move || {
                std::thread::sleep(Duration::from_secs(60));
                // The cancellation stays pending: the next hooked sleep is refused...
                let mut rem = libc::timespec { tv_sec: 1, tv_nsec: 1 };
                let req = libc::timespec { tv_sec: 60, tv_nsec: 0 };
                // SAFETY: valid timespecs.
                let r = unsafe { libc::nanosleep(&req, &mut rem) };
                let e = errno();
                s.lock().unwrap().push((r, e, rem.tv_sec, rem.tv_nsec));
                // ...and the runtime's own suspension point unwinds.
                oc_runtime::yield_now();
                p.store(true, Ordering::SeqCst);
            });
            oc_runtime::sleep(Duration::from_millis(100));
            let start = Instant::now();
            h.cancel();
            let res = h.timeout_join(Duration::from_secs(5));
            (res, start.elapsed())
        });
        let (res, took) = res;
        let err = res.unwrap_err();
        assert!(err.is_cancelled(), "{backend:?}: {err:?}");
        assert!(took < Duration::from_secs(3), "{backend:?}: {took:?}");
        assert_eq!(*seen.lock().unwrap(), [(-1, libc::ECANCELED, 1, 1)], "{backend:?}: nanosleep, errno, rem");
        assert!(!past_yield.load(Ordering::SeqCst), "{backend:?}");
        support::shutdown(rt);
    }
}

#[test]
fn shutdown_ends_a_coroutine_in_std_thread_sleep() {
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let h = rt.spawn(move || {
            s.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_secs(60));
        });
        assert!(wait_for(&started, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}");
        assert!(start.elapsed() < Duration::from_secs(3), "{backend:?}: {:?}", start.elapsed());
        assert!(h.is_finished());
    }
}

#[test]
fn a_coroutine_sleeping_in_a_loop_ends_when_cancelled_or_shut_down() {
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        let rounds = Arc::new(AtomicU64::new(0));
        let r = rounds.clone();
        let mut ticker = rt.spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(20));
                r.fetch_add(1, Ordering::SeqCst);
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        ticker.cancel();
        let err = ticker.timeout_join(Duration::from_secs(5)).unwrap_err();
        assert!(err.is_cancelled(), "{backend:?}: {err:?}");
        assert!(start.elapsed() < Duration::from_secs(3), "{backend:?}: {:?}", start.elapsed());
        // One more round at most after the cancellation (the sleep it cut short), no spinning.
        let after = rounds.load(Ordering::SeqCst);
        assert!(after < 20, "{backend:?}: {after} rounds");

        let r = rounds.clone();
        let h = rt.spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(20));
                r.fetch_add(1, Ordering::SeqCst);
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}");
        assert!(start.elapsed() < Duration::from_secs(3), "{backend:?}: {:?}", start.elapsed());
        assert!(h.is_finished());
    }
}

#[test]
fn a_cancelled_sleep_returns_the_seconds_it_did_not_sleep() {
    let rt = runtime(1, IoBackend::Auto);
    let (left, slept) = rt.block_on(|| {
        let mut h = oc_runtime::spawn(|| {
            let start = Instant::now();
            // SAFETY: no pointers.
            let left = unsafe { libc::sleep(3) };
            (left, start.elapsed())
        });
        oc_runtime::sleep(Duration::from_millis(1200));
        h.cancel();
        h.timeout_join(Duration::from_secs(10)).unwrap()
    });
    assert!(slept < Duration::from_millis(2900), "the sleep was not cut short: {slept:?}");
    let unslept = 3.0 - slept.as_secs_f64();
    assert!((f64::from(left) - unslept).abs() < 1.0, "sleep(3) returned {left} after {slept:?}");
    support::shutdown(rt);
}

/// A hooked sleep that parks the coroutine with nothing holding a waker for it.
#[inline(never)]
fn sleep_forever_in_std() {
    std::thread::sleep(Duration::MAX);
}

/// A hooked `poll` of nothing, for ever: the coroutine parks with nothing holding a waker.
#[inline(never)]
fn poll_nothing_forever() {
    // SAFETY: no descriptors.
    unsafe { libc::poll(std::ptr::null_mut(), 0, -1) };
}

#[test]
fn a_task_dropped_while_suspended_in_a_hook_unwinds_through_it() {
    for (name, park) in [("std::thread::sleep", sleep_forever_in_std as fn()), ("poll", poll_nothing_forever)] {
        for backend in BACKENDS {
            let rt = runtime(1, backend);
            let dropped = Arc::new(AtomicBool::new(false));
            let returned = Arc::new(AtomicBool::new(false));
            let (d, r) = (dropped.clone(), returned.clone());
            // Nothing keeps the task once it parks: its handle is gone, and no timer or
            // reactor holds a waker. Dropping it unwinds its coroutine through the hook.
            drop(rt.spawn(move || {
                let _guard = SetOnDrop(d);
                park();
                r.store(true, Ordering::SeqCst);
            }));
            let unwound = wait_for(&dropped, Duration::from_secs(5));
            assert!(!returned.load(Ordering::SeqCst), "{backend:?}: {name} returned into the dropped coroutine");
            assert!(unwound, "{backend:?}: the dropped coroutine in {name} was not unwound");
            // Still serving.
            let h = rt.spawn(|| 1 + 1);
            let deadline = Instant::now() + Duration::from_secs(5);
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(h.is_finished(), "{backend:?}: the worker is lost after {name}");
            assert_eq!(h.join().unwrap(), 2);
            // (Whether shutdown counts the dropped task as finished is the scheduler's business.)
            let _ = rt.shutdown(Duration::from_secs(1));
        }
    }
}

#[test]
fn a_task_dropped_inside_another_coroutine_sleeps_for_real_in_its_destructors() {
    struct SleepOnDrop(Arc<AtomicBool>);
    impl Drop for SleepOnDrop {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(10));
            self.0.store(true, Ordering::SeqCst);
        }
    }
    for backend in BACKENDS {
        let rt = runtime(1, backend);
        let slept = Arc::new(AtomicBool::new(false));
        let s = slept.clone();
        rt.block_on(move || {
            let handle = Arc::new(Mutex::new(None));
            let h = handle.clone();
            drop(oc_runtime::spawn(move || {
                let _guard = SleepOnDrop(s);
                *h.lock().unwrap() = oc_runtime::task::current();
                loop {
                    oc_runtime::task::park();
                }
            }));
            let deadline = Instant::now() + Duration::from_secs(5);
            while handle.lock().unwrap().is_none() {
                assert!(Instant::now() < deadline, "{backend:?}: the parked coroutine never ran");
                oc_runtime::sleep(Duration::from_millis(5));
            }
            // The parked coroutine's last reference: dropping it unwinds that coroutine here,
            // inside this one, with no current coroutine.
            let last = handle.lock().unwrap().take();
            drop(last);
        });
        assert!(slept.load(Ordering::SeqCst), "{backend:?}: the destructor did not run");
        let _ = rt.shutdown(Duration::from_secs(1));
    }
}
