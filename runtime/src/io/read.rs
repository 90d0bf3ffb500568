//! Reading from a stream: `read`, `readv`, `recv`.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use crate::sys::raw;
use io_uring::{opcode, types};

use super::{Deadline, Interest, cvt, run};

/// Reads into `buf`; `Ok(0)` means end of stream.
pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<usize> {
    recv_inner(fd, buf, 0, deadline.into(), false)
}

/// Receives into `buf` with `flags` (`MSG_PEEK`, ...). Works on sockets only.
pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: i32, deadline: Option<Instant>) -> io::Result<usize> {
    recv_inner(fd, buf, flags, deadline.into(), true)
}

/// `recv` that waits at most `timeout` (`None`: for ever) once it has to wait, the way
/// `SO_RCVTIMEO` limits a blocking call. A call that needs no waiting reads no clock.
pub fn recv_timeout(fd: BorrowedFd<'_>, buf: &mut [u8], flags: i32, timeout: Option<Duration>) -> io::Result<usize> {
    recv_inner(fd, buf, flags, Deadline::after(timeout), true)
}

fn recv_inner(fd: BorrowedFd<'_>, buf: &mut [u8], flags: i32, deadline: Deadline, socket: bool) -> io::Result<usize> {
    let raw = fd.as_raw_fd();
    let (ptr, len) = (buf.as_mut_ptr(), buf.len().min(u32::MAX as usize));
    let attempt = || {
        // SAFETY: `ptr..ptr + len` is the caller's writable buffer.
        cvt(unsafe { if socket { raw::recv(raw, ptr.cast(), len, flags) } else { raw::read(raw, ptr.cast(), len) } })
    };
    let mut build = || {
        if socket {
            opcode::Recv::new(types::Fd(raw), ptr, len as u32)
                .flags(flags)
                .ioprio(crate::reactor::recv_ioprio())
                .build()
        } else {
            opcode::Read::new(types::Fd(raw), ptr, len as u32).offset(u64::MAX).build()
        }
    };
    let map = |res: i32| res as usize;
    // SAFETY: `buf` outlives this call, which waits for any operation's completion.
    unsafe { run(raw, Interest::Readable, deadline, attempt, Some((&mut build, &map))) }
}

/// Reads into several buffers at once; `Ok(0)` means end of stream.
pub fn readv(fd: BorrowedFd<'_>, bufs: &mut [IoSliceMut<'_>], deadline: Option<Instant>) -> io::Result<usize> {
    let raw = fd.as_raw_fd();
    // IoSliceMut is guaranteed to be ABI-compatible with iovec on Unix.
    let (iov, n) = (bufs.as_mut_ptr().cast::<libc::iovec>(), bufs.len().min(1024));
    // SAFETY: `iov` points to `n` valid iovecs describing the caller's buffers.
    let attempt = || cvt(unsafe { raw::readv(raw, iov, n as i32) });
    let mut build = || opcode::Readv::new(types::Fd(raw), iov.cast_const(), n as u32).offset(u64::MAX).build();
    let map = |res: i32| res as usize;
    // SAFETY: the iovecs and the buffers they name outlive this call.
    unsafe { run(raw, Interest::Readable, deadline.into(), attempt, Some((&mut build, &map))) }
}
