//! Connecting a socket.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

use crate::sys::raw;
use socket2::SockAddr;

use super::ready::wait;
use super::{Interest, remaining};

/// Connects the non-blocking socket `fd` to `addr`, waiting at most until `deadline`.
pub fn connect(fd: BorrowedFd<'_>, addr: &SockAddr, deadline: Option<Instant>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    loop {
        // SAFETY: `addr` is a valid socket address of the given length.
        let res = unsafe { raw::connect(raw, addr.as_ptr().cast(), addr.len()) };
        if res == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EINPROGRESS) | Some(libc::EAGAIN) | Some(libc::EALREADY) => break,
            _ => return Err(err),
        }
    }
    loop {
        remaining(deadline)?;
        wait(fd, Interest::Writable, deadline)?;
        let mut error: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: valid out-pointers for an int option.
        let res = unsafe { raw::getsockopt(raw, libc::SOL_SOCKET, libc::SO_ERROR, (&raw mut error).cast(), &mut len) };
        if res < 0 {
            return Err(io::Error::last_os_error());
        }
        if error != 0 {
            return Err(io::Error::from_raw_os_error(error));
        }
        // Connected, or a spurious wake-up: `getpeername` tells which.
        // SAFETY: storage-free call; ENOTCONN means still in progress.
        let connected = unsafe {
            let mut storage: libc::sockaddr_storage = std::mem::zeroed();
            let mut slen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            raw::getpeername(raw, (&raw mut storage).cast(), &mut slen) == 0
        };
        if connected {
            return Ok(());
        }
    }
}
