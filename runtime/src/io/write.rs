//! Writing to a stream: `write`, `writev`, `send`.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use crate::sys::raw;
use io_uring::{opcode, types};

use super::{Deadline, Interest, cvt, run};

/// Writes from `buf`; returns how much was written.
pub fn write(fd: BorrowedFd<'_>, buf: &[u8], deadline: Option<Instant>) -> io::Result<usize> {
    send_inner(fd, buf, 0, deadline.into(), false)
}

/// Sends from `buf` with `flags` (`MSG_NOSIGNAL` is always added). Works on sockets only.
pub fn send(fd: BorrowedFd<'_>, buf: &[u8], flags: i32, deadline: Option<Instant>) -> io::Result<usize> {
    send_inner(fd, buf, flags | libc::MSG_NOSIGNAL, deadline.into(), true)
}

/// `send` that waits at most `timeout` (`None`: for ever) once it has to wait, the way
/// `SO_SNDTIMEO` limits a blocking call. A call that needs no waiting reads no clock.
pub fn send_timeout(fd: BorrowedFd<'_>, buf: &[u8], flags: i32, timeout: Option<Duration>) -> io::Result<usize> {
    send_inner(fd, buf, flags | libc::MSG_NOSIGNAL, Deadline::after(timeout), true)
}

fn send_inner(fd: BorrowedFd<'_>, buf: &[u8], flags: i32, deadline: Deadline, socket: bool) -> io::Result<usize> {
    let raw = fd.as_raw_fd();
    let (ptr, len) = (buf.as_ptr(), buf.len().min(u32::MAX as usize));
    let attempt = || {
        // SAFETY: `ptr..ptr + len` is the caller's readable buffer.
        cvt(unsafe { if socket { raw::send(raw, ptr.cast(), len, flags) } else { raw::write(raw, ptr.cast(), len) } })
    };
    let mut build = || {
        if socket {
            opcode::Send::new(types::Fd(raw), ptr, len as u32).flags(flags).build()
        } else {
            opcode::Write::new(types::Fd(raw), ptr, len as u32).offset(u64::MAX).build()
        }
    };
    let map = |res: i32| res as usize;
    // SAFETY: `buf` outlives this call, which waits for any operation's completion.
    unsafe { run(raw, Interest::Writable, deadline, attempt, Some((&mut build, &map))) }
}

/// Writes from several buffers at once; returns how much was written.
pub fn writev(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>], deadline: Option<Instant>) -> io::Result<usize> {
    let raw = fd.as_raw_fd();
    // IoSlice is guaranteed to be ABI-compatible with iovec on Unix.
    let (iov, n) = (bufs.as_ptr().cast::<libc::iovec>(), bufs.len().min(1024));
    // SAFETY: `iov` points to `n` valid iovecs describing the caller's buffers.
    let attempt = || cvt(unsafe { raw::writev(raw, iov, n as i32) });
    let mut build = || opcode::Writev::new(types::Fd(raw), iov, n as u32).offset(u64::MAX).build();
    let map = |res: i32| res as usize;
    // SAFETY: the iovecs and the buffers they name outlive this call.
    unsafe { run(raw, Interest::Writable, deadline.into(), attempt, Some((&mut build, &map))) }
}
