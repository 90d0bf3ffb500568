//! Datagrams with addresses: `recv_from`, `send_to`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

use crate::sys::raw;
use io_uring::{opcode, types};
use socket2::SockAddr;

use super::{Interest, cvt, run};

/// Receives one datagram into `buf`; returns its length (truncated to `buf`) and sender.
pub fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<(usize, SockAddr)> {
    let raw = fd.as_raw_fd();
    // SAFETY: storage and len are valid for the closure, where the whole receive happens.
    unsafe {
        SockAddr::try_init(|storage, len| {
            let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = storage.cast();
            msg.msg_namelen = *len;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            let msg_ptr: *mut libc::msghdr = &mut msg;
            let attempt = || {
                (*msg_ptr).msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                // SAFETY: msg names valid storage and one valid iovec.
                cvt(raw::recvmsg(raw, msg_ptr, 0))
            };
            let mut build = || opcode::RecvMsg::new(types::Fd(raw), msg_ptr).build();
            let map = |res: i32| res as usize;
            let n = run(raw, Interest::Readable, deadline.into(), attempt, Some((&mut build, &map)))?;
            *len = (*msg_ptr).msg_namelen;
            Ok(n)
        })
    }
}

/// Sends `buf` as one datagram to `addr`; returns how much was sent.
pub fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &SockAddr, deadline: Option<Instant>) -> io::Result<usize> {
    let raw = fd.as_raw_fd();
    let mut iov = libc::iovec { iov_base: buf.as_ptr().cast_mut().cast(), iov_len: buf.len() };
    // SAFETY: msghdr is plain data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = addr.as_ptr().cast_mut().cast();
    msg.msg_namelen = addr.len();
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    let msg_ptr: *const libc::msghdr = &msg;
    // SAFETY: msg names the caller's address and buffer, valid for this call.
    let attempt = || cvt(unsafe { raw::sendmsg(raw, msg_ptr, libc::MSG_NOSIGNAL) });
    let mut build = || opcode::SendMsg::new(types::Fd(raw), msg_ptr).flags(libc::MSG_NOSIGNAL as u32).build();
    let map = |res: i32| res as usize;
    // SAFETY: msg, iov, the address and the buffer outlive this call.
    unsafe { run(raw, Interest::Writable, deadline.into(), attempt, Some((&mut build, &map))) }
}
