//! Cancellation ends a hooked IO call with `-1`/`ECANCELED` (docs/hooks.md): whether the
//! coroutine is cancelled while the hook waits, or enters the hook with the cancellation
//! already pending. The cancellation is then delivered as an unwind at the coroutine's next
//! runtime suspension point, so the code after it never runs.

mod support;

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;

const BACKENDS: [IoBackend; 2] = [IoBackend::Uring, IoBackend::Epoll];

/// A blocking call that waits for ever unless cancelled; the descriptors it needs are made
/// by `prepare` outside the coroutine and kept alive by the test.
#[derive(Debug, Clone, Copy)]
enum Call {
    Read,
    Recv,
    Accept,
    Poll,
    Connect,
}

/// Runs `call` on `fds` (what `prepare` made); returns the result and errno.
fn run(call: Call, fd: RawFd, addr: std::net::SocketAddr) -> (isize, i32) {
    let mut byte = [0u8; 1];
    let ret = match call {
        // SAFETY: a descriptor the test keeps open, and a one-byte buffer.
        Call::Read => unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) },
        // SAFETY: as above.
        Call::Recv => unsafe { libc::recv(fd, byte.as_mut_ptr().cast(), 1, 0) },
        // SAFETY: a listener the test keeps open; no address wanted.
        Call::Accept => unsafe { libc::accept(fd, std::ptr::null_mut(), std::ptr::null_mut()) as isize },
        Call::Poll => {
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 60_000) as isize }
        }
        Call::Connect => {
            let std::net::SocketAddr::V4(v4) = addr else { unreachable!() };
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: no pointers.
            let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            assert!(s >= 0);
            // SAFETY: a socket made above and an address of the length given.
            let r = unsafe {
                libc::connect(
                    s,
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            // SAFETY: the socket made above, closed once.
            unsafe { libc::close(s) };
            return (r as isize, e);
        }
    };
    (ret, std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

/// What each call waits on: a connected socket with no data, a listener with no client, and
/// an address whose full accept queue drops further SYNs.
struct Silent {
    _peer: std::os::unix::net::UnixStream,
    quiet: std::os::unix::net::UnixStream,
    listener: std::net::TcpListener,
    _full: socket2::Socket,
    _fill: Vec<std::net::TcpStream>,
    unanswering: std::net::SocketAddr,
}

fn silent() -> Silent {
    let (quiet, peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let full = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    full.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    full.listen(0).unwrap();
    let unanswering = full.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    loop {
        match std::net::TcpStream::connect_timeout(&unanswering, Duration::from_millis(200)) {
            Ok(s) => fill.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => panic!("filling the accept queue: {e}"),
        }
        assert!(fill.len() < 8, "the accept queue never filled");
    }
    Silent { _peer: peer, quiet, listener, _full: full, _fill: fill, unanswering }
}

impl Silent {
    fn fd_for(&self, call: Call) -> RawFd {
        match call {
            Call::Read | Call::Recv | Call::Poll => self.quiet.as_raw_fd(),
            Call::Accept => self.listener.as_raw_fd(),
            Call::Connect => -1,
        }
    }
}

/// Cancels a coroutine blocked in `call` (or, with `pending`, about to enter it) and checks
/// what the hook answered and that the coroutine unwound at its next suspension point.
fn cancel_in(call: Call, pending: bool, backend: IoBackend) {
    let rt = oc_runtime::Runtime::builder().workers(2).io_backend(backend).build().unwrap();
    let silent = Arc::new(silent());
    let seen = Arc::new(Mutex::new(None));
    let past = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let (fd, addr) = (silent.fd_for(call), silent.unanswering);
    let (s, p, g) = (seen.clone(), past.clone(), go.clone());
    let mut h = rt.spawn(move || {
        if pending {
            // No suspension point until the cancellation is set: the hook is entered with it
            // pending.
            while !g.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
        }
        *s.lock().unwrap() = Some(run(call, fd, addr));
        oc_runtime::yield_now();
        p.store(true, Ordering::SeqCst);
    });
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    h.cancel();
    go.store(true, Ordering::SeqCst);
    let err = h.timeout_join(Duration::from_secs(5)).unwrap_err();
    let took = start.elapsed();
    let what = format!("{backend:?}, {call:?}{}", if pending { ", cancelled before the call" } else { "" });
    assert!(err.is_cancelled(), "{what}: {err:?}");
    assert!(took < Duration::from_secs(2), "{what}: cancelling took {took:?}");
    assert_eq!(*seen.lock().unwrap(), Some((-1, libc::ECANCELED)), "{what}: result and errno of the hooked call");
    assert!(!past.load(Ordering::SeqCst), "{what}: the coroutine ran past its next suspension point");
    drop(silent);
    support::shutdown(rt);
}

#[test]
fn a_cancelled_coroutine_gets_ecanceled_from_a_waiting_hook() {
    for backend in BACKENDS {
        for call in [Call::Read, Call::Recv, Call::Accept, Call::Poll, Call::Connect] {
            cancel_in(call, false, backend);
        }
    }
}

#[test]
fn a_hook_entered_with_a_cancellation_pending_answers_ecanceled_at_once() {
    for backend in BACKENDS {
        for call in [Call::Read, Call::Recv, Call::Accept, Call::Poll, Call::Connect] {
            cancel_in(call, true, backend);
        }
    }
}
