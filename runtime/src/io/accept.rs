//! Accepting a connection.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Instant;

use crate::sys::raw;
use io_uring::{opcode, types};
use socket2::SockAddr;

use super::{Interest, run};

/// Accepts a connection on the listening socket `fd`. The new socket is non-blocking and
/// close-on-exec.
pub fn accept(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<(OwnedFd, SockAddr)> {
    let raw = fd.as_raw_fd();
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `try_init` hands us storage for an address and its length, both valid for the
    // duration of the closure, which is where the whole accept (and any wait) happens.
    let (new_fd, addr) = unsafe {
        SockAddr::try_init(|storage, len| {
            let attempt = || {
                // storage and len are valid out-pointers.
                let res = raw::accept4(raw, storage.cast(), len, flags);
                if res < 0 { Err(io::Error::last_os_error()) } else { Ok(res) }
            };
            // A connection already waiting is taken at once. On io_uring a read goes to the
            // ring first (`run`), which suits a socket whose peer has not answered yet, but an
            // acceptor under a burst would then take one connection per turn of its worker
            // (an operation submitted, reaped, and the coroutine resumed for each), and a busy
            // worker's turns are long: 300 connections took 1.8 s behind forty coroutines
            // computing 100 µs each (`net/tests/tcp_accept.rs`). One `accept4` that finds the
            // backlog empty is cheap beside that.
            match attempt() {
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                other => return other,
            }
            let mut build = || opcode::Accept::new(types::Fd(raw), storage.cast(), len).flags(flags).build();
            let map = |res: i32| res;
            // storage and len outlive this call.
            run(raw, Interest::Readable, deadline.into(), attempt, Some((&mut build, &map)))
        })?
    };
    // SAFETY: a descriptor just returned by accept4, owned by nobody else.
    Ok((unsafe { OwnedFd::from_raw_fd(new_fd) }, addr))
}
