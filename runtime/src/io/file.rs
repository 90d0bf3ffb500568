//! Regular files at an offset: through io_uring when the worker has a ring, as plain blocking
//! calls otherwise (a read that misses the page cache then blocks the worker).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::sys::raw;
use io_uring::{opcode, types};

use super::{Driver, cvt, driver, uring_op};

/// Reads into `buf` from `offset`; `Ok(0)` means end of file.
pub fn read_at(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let raw = fd.as_raw_fd();
    let len = buf.len().min(u32::MAX as usize);
    if driver() == Driver::Uring {
        // Bytes the page cache holds are copied at once (no operation on the ring, no wait
        // for the worker to reap it); only a read that would wait for the disk goes to the
        // ring.
        match cvt(raw::pread_cached(raw, buf, offset)) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EOPNOTSUPP)) => {}
            Err(e) => return Err(e),
        }
        let entry = opcode::Read::new(types::Fd(raw), buf.as_mut_ptr(), len as u32).offset(offset).build();
        // SAFETY: `buf` outlives the call, which waits for the completion.
        match unsafe { uring_op(entry, None, None, None) }? {
            Ok(n) => return Ok(n as usize),
            // No worker any more: the blocking call below.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        // SAFETY: `buf` is valid for `len` bytes.
        match cvt(unsafe { raw::pread(raw, buf.as_mut_ptr().cast(), len, offset as libc::off_t) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Writes `buf` at `offset`; returns how much was written.
pub fn write_at(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> io::Result<usize> {
    let raw = fd.as_raw_fd();
    let len = buf.len().min(u32::MAX as usize);
    if driver() == Driver::Uring {
        let entry = opcode::Write::new(types::Fd(raw), buf.as_ptr(), len as u32).offset(offset).build();
        // SAFETY: `buf` outlives the call, which waits for the completion.
        match unsafe { uring_op(entry, None, None, None) }? {
            Ok(n) => return Ok(n as usize),
            // No worker any more: the blocking call below.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    loop {
        // SAFETY: `buf` is valid for `len` bytes.
        match cvt(unsafe { raw::pwrite(raw, buf.as_ptr().cast(), len, offset as libc::off_t) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
