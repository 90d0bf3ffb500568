//! Hooks that create, describe, connect and close descriptors.

use libc::{c_int, c_ulong, c_void, sockaddr, socklen_t};

use super::table::{self, FILE, NONBLOCK, SOCKET, STREAM};
use super::{active, deadline, fail, guard, wait};
use crate::io::Interest;
use crate::sys::raw;

fn record_socket(fd: c_int, ty: c_int) {
    if let Some(e) = table::entry(fd) {
        let mut flags = SOCKET;
        if ty & 0xf == libc::SOCK_STREAM {
            flags |= STREAM;
        }
        if ty & libc::SOCK_NONBLOCK != 0 {
            flags |= NONBLOCK;
        }
        e.set(flags);
    }
}

fn copy_entry(from: c_int, to: c_int) {
    if let (Some(src), Some(dst)) = (table::entry(from), table::entry(to)) {
        src.classify(from);
        dst.copy_from(src);
    }
}

/// `socket(2)`: records the new descriptor as a socket, blocking unless `SOCK_NONBLOCK`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: arguments forwarded unchanged.
    let fd = unsafe { raw::socket(domain, ty, protocol) };
    if fd >= 0 {
        record_socket(fd, ty);
    }
    fd
}

/// `accept(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { accept4(fd, addr, len, 0) }
}

/// `accept4(2)`: in a coroutine on a blocking listener, waits for a connection in the reactor
/// (`SO_RCVTIMEO` gives `EAGAIN`).
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    if active() {
        let waited = guard(|| {
            let Some(e) = table::entry(fd) else { return 0 };
            if e.classify(fd) & NONBLOCK != 0 {
                return 0;
            }
            let deadline = deadline(e.timeout(false));
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            while unsafe { raw::poll(&mut pfd, 1, 0) } == 0 {
                if let Err(err) = wait(fd, Interest::Readable, deadline) {
                    return fail(err);
                }
            }
            0
        });
        if waited < 0 {
            return waited;
        }
    }
    // SAFETY: forwarded.
    let new = unsafe { raw::accept4(fd, addr, len, flags) };
    if new >= 0 {
        let stream = table::entry(fd).map_or(libc::SOCK_STREAM, |e| {
            if e.flags() & STREAM != 0 { libc::SOCK_STREAM } else { libc::SOCK_SEQPACKET }
        });
        record_socket(new, stream | if flags & libc::SOCK_NONBLOCK != 0 { libc::SOCK_NONBLOCK } else { 0 });
    }
    new
}

/// `connect(2)`: in a coroutine on a blocking socket, the handshake is awaited in the reactor
/// (`SO_SNDTIMEO` gives `EINPROGRESS`, as the kernel's blocking connect does).
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    if !active() {
        // SAFETY: forwarded.
        return unsafe { raw::connect(fd, addr, len) };
    }
    guard(|| {
        let flags = table::entry(fd).map_or(0, |e| e.classify(fd));
        if flags & NONBLOCK != 0 || flags & SOCKET == 0 {
            // SAFETY: forwarded.
            return unsafe { raw::connect(fd, addr, len) };
        }
        // Non-blocking for this one call, so that the handshake does not block the worker.
        // SAFETY: F_GETFL/F_SETFL on the caller's descriptor.
        let fl = unsafe { raw::fcntl(fd, libc::F_GETFL, 0) };
        if fl < 0 {
            return -1;
        }
        // SAFETY: as above.
        unsafe { raw::fcntl(fd, libc::F_SETFL, (fl | libc::O_NONBLOCK) as usize) };
        // SAFETY: forwarded.
        let res = unsafe { raw::connect(fd, addr, len) };
        let err = raw::errno();
        // SAFETY: restores the caller's flags.
        unsafe { raw::fcntl(fd, libc::F_SETFL, fl as usize) };
        if res == 0 {
            return 0;
        }
        if err != libc::EINPROGRESS {
            return fail(err);
        }
        let deadline = deadline(table::entry(fd).and_then(|e| e.timeout(true)));
        loop {
            if let Err(e) = wait(fd, Interest::Writable, deadline) {
                return fail(if e == libc::EAGAIN { libc::EINPROGRESS } else { e });
            }
            let mut so_error: c_int = 0;
            let mut len = std::mem::size_of::<c_int>() as socklen_t;
            // SAFETY: valid out-pointers for an int option.
            if unsafe { raw::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, (&raw mut so_error).cast(), &mut len) }
                < 0
            {
                return -1;
            }
            if so_error != 0 {
                return fail(so_error);
            }
            let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
            // SAFETY: one valid pollfd.
            if unsafe { raw::poll(&mut pfd, 1, 0) } > 0 {
                return 0;
            }
        }
    })
}

/// `close(2)`: forgets the descriptor, then closes it.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn close(fd: c_int) -> c_int {
    if let Some(e) = table::entry(fd)
        && e.flags() != 0
    {
        e.clear();
    }
    if active() {
        crate::io::forget(fd);
    }
    // SAFETY: forwarded.
    unsafe { raw::close(fd) }
}

/// `shutdown(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn shutdown(fd: c_int, how: c_int) -> c_int {
    super::count_entry();
    // SAFETY: forwarded.
    unsafe { raw::shutdown(fd, how) }
}

/// `setsockopt(2)`: remembers `SO_RCVTIMEO`/`SO_SNDTIMEO` for the blocking emulation.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: forwarded.
    let res = unsafe { raw::setsockopt(fd, level, name, val, len) };
    if res == 0
        && level == libc::SOL_SOCKET
        && (name == libc::SO_RCVTIMEO || name == libc::SO_SNDTIMEO)
        && len as usize >= std::mem::size_of::<libc::timeval>()
        && let Some(e) = table::entry(fd)
    {
        e.classify(fd);
        // SAFETY: the kernel accepted `val` as a timeval of this length.
        let tv = unsafe { &*val.cast::<libc::timeval>() };
        e.set_timeout(name == libc::SO_SNDTIMEO, table::timeval_us(tv));
    }
    res
}

/// `fcntl(2)`: tracks `O_NONBLOCK` (`F_SETFL`) and duplicates (`F_DUPFD*`).
///
/// The C function is variadic; on x86_64 and aarch64 Linux the one optional argument is
/// passed exactly like a third fixed argument, which is how it is declared here.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: forwarded.
    let res = unsafe { raw::fcntl(fd, cmd, arg) };
    if res >= 0 {
        match cmd {
            libc::F_SETFL => {
                if let Some(e) = table::entry(fd)
                    && e.classify(fd) != 0
                {
                    e.set_nonblocking(arg as c_int & libc::O_NONBLOCK != 0);
                }
            }
            libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => copy_entry(fd, res),
            _ => {}
        }
    }
    res
}

/// `ioctl(2)`: tracks `FIONBIO`. Variadic in C; declared like `fcntl`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn ioctl(fd: c_int, request: c_ulong, arg: usize) -> c_int {
    // SAFETY: forwarded.
    let res = unsafe { raw::ioctl(fd, request, arg) };
    if res == 0
        && request == libc::FIONBIO
        && arg != 0
        && let Some(e) = table::entry(fd)
        && e.classify(fd) != 0
    {
        // SAFETY: FIONBIO takes a pointer to int, which the kernel just read.
        e.set_nonblocking(unsafe { *(arg as *const c_int) } != 0);
    }
    res
}

/// `dup(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn dup(fd: c_int) -> c_int {
    // SAFETY: forwarded.
    let new = unsafe { raw::dup(fd) };
    if new >= 0 {
        copy_entry(fd, new);
    }
    new
}

/// `dup2(2)` (through `dup3`, which aarch64 has instead).
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn dup2(old: c_int, new: c_int) -> c_int {
    if old == new {
        // dup2 with equal descriptors only checks that `old` is open.
        // SAFETY: F_GETFD takes no argument.
        return if unsafe { raw::fcntl(old, libc::F_GETFD, 0) } < 0 { -1 } else { new };
    }
    // SAFETY: forwarded.
    unsafe { dup3(old, new, 0) }
}

/// `dup3(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    if let Some(e) = table::entry(new) {
        e.clear();
    }
    // SAFETY: forwarded.
    let res = unsafe { raw::dup3(old, new, flags) };
    if res >= 0 {
        copy_entry(old, res);
    }
    res
}

/// Whether a descriptor is a regular file (readiness does not apply).
pub(crate) fn is_file(flags: u32) -> bool {
    flags & FILE != 0
}
