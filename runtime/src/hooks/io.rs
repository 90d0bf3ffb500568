//! Hooks that move data: `read`/`write` and their vectored, positioned and socket variants.
//!
//! On a blocking socket in a coroutine every call is made non-blocking for that call only
//! (`MSG_DONTWAIT`); when it would block, the coroutine waits in the reactor and tries again,
//! until the socket's `SO_RCVTIMEO`/`SO_SNDTIMEO` (then `EAGAIN`, or the partial count), and
//! a stream send goes on until everything is queued, as a blocking send does. Pipes and
//! terminals wait for readiness, then make the blocking call. Regular files, descriptors the
//! application made non-blocking, and every call outside a coroutine go straight through.

use std::os::fd::BorrowedFd;

use libc::{c_int, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

use super::table::{self, NONBLOCK, SOCKET, STREAM};
use super::{active, active_at_entry, deadline, end_of_call, fail, guard, wait};
use crate::io::Interest;
use crate::sys::raw;

/// How a call on a descriptor is made.
enum Mode {
    /// Straight through (not in a coroutine, non-blocking, a file, or unknown).
    Direct,
    /// A blocking socket: emulate blocking on the reactor.
    Socket { stream: bool, entry: &'static table::Entry },
    /// A blocking pipe, terminal, or other pollable descriptor.
    Pollable,
}

#[inline(always)]
fn mode(fd: c_int) -> Mode {
    if !active_at_entry() {
        return Mode::Direct;
    }
    let Some(entry) = table::entry(fd) else {
        return Mode::Direct;
    };
    let flags = entry.classify(fd);
    if flags == 0 || flags & NONBLOCK != 0 || super::fd::is_file(flags) {
        Mode::Direct
    } else if flags & SOCKET != 0 {
        Mode::Socket { stream: flags & STREAM != 0, entry }
    } else {
        Mode::Pollable
    }
}

/// Makes the (blocking) call once the descriptor is ready, waiting in the reactor if it is
/// not ready yet.
fn pollable(fd: c_int, interest: Interest, call: impl FnOnce() -> ssize_t) -> ssize_t {
    let events = match interest {
        Interest::Readable => libc::POLLIN,
        Interest::Writable => libc::POLLOUT,
    };
    guard(|| {
        loop {
            let mut pfd = libc::pollfd { fd, events, revents: 0 };
            // SAFETY: one valid pollfd.
            if unsafe { raw::poll(&mut pfd, 1, 0) } != 0 {
                return call();
            }
            if let Err(e) = wait(fd, interest, None) {
                return fail(e);
            }
        }
    })
}

/// Receives with `MSG_DONTWAIT`, waiting in the reactor while it would block.
fn recv_loop(
    entry: &table::Entry,
    fd: c_int,
    stream: bool,
    flags: c_int,
    mut attempt: impl FnMut(c_int, usize) -> ssize_t,
    len: usize,
) -> ssize_t {
    guard(|| {
        let deadline = deadline(entry.timeout(false));
        let wait_all = flags & libc::MSG_WAITALL != 0 && stream;
        let call_flags = (flags & !libc::MSG_WAITALL) | libc::MSG_DONTWAIT;
        let mut got = 0usize;
        loop {
            let n = attempt(call_flags, got);
            if n > 0 {
                got += n as usize;
                if !wait_all || got >= len {
                    return got as ssize_t;
                }
                continue;
            }
            if n == 0 {
                return got as ssize_t;
            }
            match raw::errno() {
                libc::EINTR => continue,
                libc::EAGAIN => {}
                e => return if got > 0 { got as ssize_t } else { fail(e) },
            }
            if let Err(e) = wait(fd, Interest::Readable, deadline) {
                return if got > 0 { got as ssize_t } else { fail(e) };
            }
        }
    })
}

/// Sends with `MSG_DONTWAIT` until everything is queued (streams) or one datagram went.
fn send_loop(
    entry: &table::Entry,
    fd: c_int,
    stream: bool,
    mut attempt: impl FnMut(usize) -> ssize_t,
    len: usize,
) -> ssize_t {
    guard(|| {
        let deadline = deadline(entry.timeout(true));
        let mut sent = 0usize;
        loop {
            let n = attempt(sent);
            if n >= 0 {
                sent += n as usize;
                if !stream || sent >= len {
                    return sent as ssize_t;
                }
                continue;
            }
            match raw::errno() {
                libc::EINTR => continue,
                libc::EAGAIN => {}
                e => return if sent > 0 { sent as ssize_t } else { fail(e) },
            }
            if let Err(e) = wait(fd, Interest::Writable, deadline) {
                return if sent > 0 { sent as ssize_t } else { fail(e) };
            }
        }
    })
}

/// `read(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    match mode(fd) {
        // SAFETY: forwarded from the caller.
        Mode::Direct => unsafe { raw::read(fd, buf, len) },
        Mode::Socket { stream, entry } => {
            // Fast path: the data is there.
            // SAFETY: the caller's buffer.
            let n = unsafe { raw::recv(fd, buf, len, libc::MSG_DONTWAIT) };
            if n >= 0 || raw::errno() != libc::EAGAIN {
                return n;
            }
            read_socket_slow(entry, fd, stream, buf, len)
        }
        // SAFETY: forwarded from the caller.
        Mode::Pollable => pollable(fd, Interest::Readable, || unsafe { raw::read(fd, buf, len) }),
    }
}

/// A blocking read on a socket that has no data yet.
#[cold]
fn read_socket_slow(entry: &table::Entry, fd: c_int, stream: bool, buf: *mut c_void, len: size_t) -> ssize_t {
    recv_loop(
        entry,
        fd,
        stream,
        0,
        // SAFETY: the caller's buffer; `got` stays within `len`.
        |flags, got| unsafe { raw::recv(fd, buf.cast::<u8>().add(got).cast(), len - got, flags) },
        len,
    )
}

/// `recv(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded from the caller.
    unsafe { recvfrom(fd, buf, len, flags, std::ptr::null_mut(), std::ptr::null_mut()) }
}

/// `recvfrom(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    match mode(fd) {
        Mode::Socket { stream, entry } if flags & libc::MSG_DONTWAIT == 0 => recv_loop(
            entry,
            fd,
            stream,
            flags,
            // SAFETY: the caller's buffer and address storage; `got` stays within `len`.
            |f, got| unsafe { raw::recvfrom(fd, buf.cast::<u8>().add(got).cast(), len - got, f, addr, addrlen) },
            len,
        ),
        // SAFETY: forwarded from the caller.
        _ => unsafe { raw::recvfrom(fd, buf, len, flags, addr, addrlen) },
    }
}

/// `recvmsg(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    match mode(fd) {
        Mode::Socket { entry, .. } if flags & libc::MSG_DONTWAIT == 0 => {
            // MSG_WAITALL is not emulated across calls for recvmsg: one message is returned.
            // SAFETY: the caller's message header, forwarded.
            recv_loop(entry, fd, false, flags & !libc::MSG_WAITALL, |f, _| unsafe { raw::recvmsg(fd, msg, f) }, 0)
        }
        // SAFETY: forwarded from the caller.
        _ => unsafe { raw::recvmsg(fd, msg, flags) },
    }
}

/// `readv(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    match mode(fd) {
        // SAFETY: forwarded from the caller.
        Mode::Direct => unsafe { raw::readv(fd, iov, iovcnt) },
        Mode::Socket { entry, .. } => {
            // SAFETY: msghdr is plain data.
            let mut msg: msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = iov.cast_mut();
            msg.msg_iovlen = iovcnt.max(0) as usize;
            let msg_ptr: *mut msghdr = &mut msg;
            // SAFETY: the caller's iovecs, through a header on our stack.
            recv_loop(entry, fd, false, 0, |f, _| unsafe { raw::recvmsg(fd, msg_ptr, f) }, 0)
        }
        // SAFETY: forwarded from the caller.
        Mode::Pollable => pollable(fd, Interest::Readable, || unsafe { raw::readv(fd, iov, iovcnt) }),
    }
}

/// `pread(2)`: through the worker's io_uring ring in a coroutine, so that a read missing the
/// page cache suspends the coroutine, not the worker.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn pread(fd: c_int, buf: *mut c_void, len: size_t, offset: libc::off_t) -> ssize_t {
    if active() && offset >= 0 {
        return guard(|| {
            // SAFETY: the caller's descriptor and buffer, valid for the call.
            let (fd_ref, slice) =
                unsafe { (BorrowedFd::borrow_raw(fd), std::slice::from_raw_parts_mut(buf.cast::<u8>(), len)) };
            match crate::io::read_at(fd_ref, slice, offset as u64) {
                Ok(n) => n as ssize_t,
                Err(e) => fail(e.raw_os_error().unwrap_or(libc::EIO)),
            }
        });
    }
    // SAFETY: forwarded from the caller.
    unsafe { raw::pread(fd, buf, len, offset) }
}

/// `write(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    match mode(fd) {
        // SAFETY: forwarded from the caller.
        Mode::Direct => {
            // SAFETY: forwarded from the caller.
            let n = unsafe { raw::write(fd, buf, len) };
            // Printing to a file or terminal: a safe point for a deferred preemption.
            if active_at_entry() {
                end_of_call();
            }
            n
        }
        Mode::Socket { stream, entry } => send_loop(
            entry,
            fd,
            stream,
            // SAFETY: the caller's buffer; `sent` stays within `len`.
            |sent| unsafe { raw::send(fd, buf.cast::<u8>().add(sent).cast(), len - sent, libc::MSG_DONTWAIT) },
            len,
        ),
        // SAFETY: forwarded from the caller.
        Mode::Pollable => pollable(fd, Interest::Writable, || unsafe { raw::write(fd, buf, len) }),
    }
}

/// `send(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded from the caller.
    unsafe { sendto(fd, buf, len, flags, std::ptr::null(), 0) }
}

/// `sendto(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    match mode(fd) {
        Mode::Socket { stream, entry } if flags & libc::MSG_DONTWAIT == 0 => send_loop(
            entry,
            fd,
            stream,
            // SAFETY: the caller's buffer and address; `sent` stays within `len`.
            |sent| unsafe {
                raw::sendto(
                    fd,
                    buf.cast::<u8>().add(sent).cast(),
                    len - sent,
                    flags | libc::MSG_DONTWAIT,
                    addr,
                    addrlen,
                )
            },
            len,
        ),
        // SAFETY: forwarded from the caller.
        _ => unsafe { raw::sendto(fd, buf, len, flags, addr, addrlen) },
    }
}

/// Sends a message whose iovecs are advanced past what was already sent.
///
/// The ancillary data (`msg_control`: descriptors passed with `SCM_RIGHTS`, credentials) goes
/// with the first send that queues any bytes, once: the kernel attaches it to those bytes, and
/// the rest of a partial stream send continues with the remaining bytes alone, as a blocking
/// `sendmsg` does.
fn sendmsg_all(entry: &table::Entry, fd: c_int, stream: bool, msg: &msghdr, flags: c_int) -> ssize_t {
    let iovs: Vec<iovec> = if msg.msg_iov.is_null() {
        Vec::new()
    } else {
        // SAFETY: the caller's iovec array of `msg_iovlen` entries.
        unsafe { std::slice::from_raw_parts(msg.msg_iov, msg.msg_iovlen) }.to_vec()
    };
    let total: usize = iovs.iter().map(|v| v.iov_len).sum();
    let mut local = *msg;
    let mut scratch = iovs.clone();
    send_loop(
        entry,
        fd,
        stream,
        |sent| {
            if sent > 0 {
                // The ancillary data went with the bytes already sent.
                local.msg_control = std::ptr::null_mut();
                local.msg_controllen = 0;
            }
            // Skip what is already sent.
            let mut skip = sent;
            scratch.clear();
            for v in &iovs {
                if skip >= v.iov_len {
                    skip -= v.iov_len;
                    continue;
                }
                // SAFETY: `skip < iov_len`, so the offset stays inside the caller's buffer.
                let base = unsafe { v.iov_base.cast::<u8>().add(skip) };
                scratch.push(iovec { iov_base: base.cast(), iov_len: v.iov_len - skip });
                skip = 0;
            }
            local.msg_iov = scratch.as_mut_ptr();
            local.msg_iovlen = scratch.len();
            // SAFETY: a header naming the caller's buffers, address and (first send only)
            // control data.
            unsafe { raw::sendmsg(fd, &local, flags | libc::MSG_DONTWAIT) }
        },
        total,
    )
}

/// `sendmsg(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    match mode(fd) {
        Mode::Socket { stream, entry } if flags & libc::MSG_DONTWAIT == 0 && !msg.is_null() => {
            // SAFETY: the caller's message header.
            sendmsg_all(entry, fd, stream, unsafe { &*msg }, flags)
        }
        // SAFETY: forwarded from the caller.
        _ => unsafe { raw::sendmsg(fd, msg, flags) },
    }
}

/// `writev(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    match mode(fd) {
        // SAFETY: forwarded from the caller.
        Mode::Direct => unsafe { raw::writev(fd, iov, iovcnt) },
        Mode::Socket { stream, entry } => {
            // SAFETY: msghdr is plain data.
            let mut msg: msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = iov.cast_mut();
            msg.msg_iovlen = iovcnt.max(0) as usize;
            sendmsg_all(entry, fd, stream, &msg, 0)
        }
        // SAFETY: forwarded from the caller.
        Mode::Pollable => pollable(fd, Interest::Writable, || unsafe { raw::writev(fd, iov, iovcnt) }),
    }
}

/// `pwrite(2)`: through the worker's io_uring ring in a coroutine.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn pwrite(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    offset: libc::off_t,
) -> ssize_t {
    if active() && offset >= 0 {
        return guard(|| {
            // SAFETY: the caller's descriptor and buffer, valid for the call.
            let (fd_ref, slice) =
                unsafe { (BorrowedFd::borrow_raw(fd), std::slice::from_raw_parts(buf.cast::<u8>(), len)) };
            match crate::io::write_at(fd_ref, slice, offset as u64) {
                Ok(n) => n as ssize_t,
                Err(e) => fail(e.raw_os_error().unwrap_or(libc::EIO)),
            }
        });
    }
    // SAFETY: forwarded from the caller.
    unsafe { raw::pwrite(fd, buf, len, offset) }
}
