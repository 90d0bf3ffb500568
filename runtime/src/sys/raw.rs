//! System calls made directly, bypassing the libc symbols that the hooks replace.
//!
//! The runtime's own IO must not go through its hooks (they would recurse, or at least apply
//! blocking-socket emulation to descriptors the runtime manages itself), and the hooks need
//! the real calls. Each function has the C signature and return convention of its libc
//! namesake (`-1` and `errno` on failure), and costs one `syscall` instruction.
//!
//! # Safety
//!
//! Every function here is as unsafe as the system call it makes: pointers must be valid for
//! the lengths given, as the kernel documents for each call.

#![allow(clippy::missing_safety_doc)]

use libc::{c_int, c_long, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};

/// One system call: the kernel's `-errno` convention turned into libc's `-1` and `errno`.
#[inline]
unsafe fn sys(n: c_long, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> c_long {
    // SAFETY: forwarded from the caller of each wrapper.
    let ret = unsafe { arch::syscall6(n as usize, a, b, c, d, e, f) } as isize;
    if (-4095..0).contains(&ret) {
        set_errno(-ret as c_int);
        -1
    } else {
        ret as c_long
    }
}

#[cfg(target_arch = "x86_64")]
mod arch {
    /// The `syscall` instruction with six arguments.
    ///
    /// # Safety
    ///
    /// As the system call `n` with these arguments.
    #[inline(always)]
    pub(super) unsafe fn syscall6(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> usize {
        let ret;
        // SAFETY: the x86_64 Linux system call convention: number in rax, arguments in rdi, rsi,
        // rdx, r10, r8, r9; the kernel clobbers rcx and r11; the result is in rax.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") n => ret,
                in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d, in("r8") e, in("r9") f,
                lateout("rcx") _, lateout("r11") _,
                options(nostack, preserves_flags)
            );
        }
        ret
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    /// The `svc 0` instruction with six arguments.
    ///
    /// # Safety
    ///
    /// As the system call `n` with these arguments.
    #[inline(always)]
    pub(super) unsafe fn syscall6(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> usize {
        let ret;
        // SAFETY: the aarch64 Linux system call convention: number in x8, arguments in x0-x5,
        // the result in x0.
        unsafe {
            std::arch::asm!(
                "svc 0",
                in("x8") n,
                inlateout("x0") a => ret,
                in("x1") b, in("x2") c, in("x3") d, in("x4") e, in("x5") f,
                options(nostack, preserves_flags)
            );
        }
        ret
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("oc-runtime's raw system calls support x86_64 and aarch64 only");

pub(crate) unsafe fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_read, fd as usize, buf as usize, len, 0, 0, 0) as ssize_t }
}

pub(crate) unsafe fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_write, fd as usize, buf as usize, len, 0, 0, 0) as ssize_t }
}

pub(crate) unsafe fn readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_readv, fd as usize, iov as usize, n as usize, 0, 0, 0) as ssize_t }
}

pub(crate) unsafe fn writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_writev, fd as usize, iov as usize, n as usize, 0, 0, 0) as ssize_t }
}

pub(crate) unsafe fn pread(fd: c_int, buf: *mut c_void, len: size_t, off: libc::off_t) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_pread64, fd as usize, buf as usize, len, off as usize, 0, 0) as ssize_t }
}

pub(crate) unsafe fn pwrite(fd: c_int, buf: *const c_void, len: size_t, off: libc::off_t) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_pwrite64, fd as usize, buf as usize, len, off as usize, 0, 0) as ssize_t }
}

pub(crate) unsafe fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    // SAFETY: forwarded.
    unsafe {
        sys(libc::SYS_recvfrom, fd as usize, buf as usize, len, flags as usize, addr as usize, addrlen as usize)
            as ssize_t
    }
}

pub(crate) unsafe fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    // SAFETY: forwarded.
    unsafe {
        sys(libc::SYS_sendto, fd as usize, buf as usize, len, flags as usize, addr as usize, addrlen as usize)
            as ssize_t
    }
}

pub(crate) unsafe fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { recvfrom(fd, buf, len, flags, std::ptr::null_mut(), std::ptr::null_mut()) }
}

pub(crate) unsafe fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sendto(fd, buf, len, flags, std::ptr::null(), 0) }
}

pub(crate) unsafe fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_recvmsg, fd as usize, msg as usize, flags as usize, 0, 0, 0) as ssize_t }
}

pub(crate) unsafe fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_sendmsg, fd as usize, msg as usize, flags as usize, 0, 0, 0) as ssize_t }
}

pub(crate) unsafe fn accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_accept4, fd as usize, addr as usize, len as usize, flags as usize, 0, 0) as c_int }
}

pub(crate) unsafe fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_connect, fd as usize, addr as usize, len as usize, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn getsockopt(fd: c_int, level: c_int, name: c_int, val: *mut c_void, len: *mut socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        sys(libc::SYS_getsockopt, fd as usize, level as usize, name as usize, val as usize, len as usize, 0) as c_int
    }
}

pub(crate) unsafe fn setsockopt(fd: c_int, level: c_int, name: c_int, val: *const c_void, len: socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        sys(libc::SYS_setsockopt, fd as usize, level as usize, name as usize, val as usize, len as usize, 0) as c_int
    }
}

pub(crate) unsafe fn getpeername(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_getpeername, fd as usize, addr as usize, len as usize, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_socket, domain as usize, ty as usize, proto as usize, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn shutdown(fd: c_int, how: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_shutdown, fd as usize, how as usize, 0, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn close(fd: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_close, fd as usize, 0, 0, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_fcntl, fd as usize, cmd as usize, arg, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn ioctl(fd: c_int, req: libc::c_ulong, arg: usize) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_ioctl, fd as usize, req as usize, arg, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn dup(fd: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_dup, fd as usize, 0, 0, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_dup3, old as usize, new as usize, flags as usize, 0, 0, 0) as c_int }
}

/// `poll(2)` through `ppoll` (aarch64 has no `poll` system call).
pub(crate) unsafe fn poll(fds: *mut libc::pollfd, n: libc::nfds_t, timeout_ms: c_int) -> c_int {
    let ts;
    let tsp = if timeout_ms < 0 {
        std::ptr::null()
    } else {
        ts = libc::timespec {
            tv_sec: (timeout_ms / 1000) as libc::time_t,
            tv_nsec: ((timeout_ms % 1000) as libc::c_long) * 1_000_000,
        };
        &ts as *const libc::timespec
    };
    // SAFETY: forwarded; `tsp` is null or points to `ts`, alive for the call.
    unsafe { sys(libc::SYS_ppoll, fds as usize, n as usize, tsp as usize, 0, 0, 0) as c_int }
}

pub(crate) unsafe fn pselect6(
    n: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    ts: *const libc::timespec,
) -> c_int {
    // SAFETY: forwarded; no signal mask (the sixth argument is null).
    unsafe { sys(libc::SYS_pselect6, n as usize, r as usize, w as usize, e as usize, ts as usize, 0) as c_int }
}

pub(crate) unsafe fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> c_int {
    // SAFETY: forwarded. The system call returns -1/errno through `syscall`; the libc
    // function returns the error number itself: callers convert.
    unsafe { sys(libc::SYS_clock_nanosleep, clock as usize, flags as usize, req as usize, rem as usize, 0, 0) as c_int }
}

pub(crate) unsafe fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_fstat, fd as usize, st as usize, 0, 0, 0, 0) as c_int }
}

/// Waits while the 32-bit word at `word` holds `expected`, for at most `timeout` (relative;
/// `None`: no limit). Returns the kernel's result as is (0, or `-errno`: `EAGAIN` when the
/// word differed, `ETIMEDOUT`, `EINTR`) and leaves `errno` alone: it is called from code
/// that interrupted other code at an arbitrary instruction.
///
/// # Safety
///
/// `word` must point to a live, aligned `u32` for the whole call.
///
/// # Signal safety
///
/// One system call.
pub(crate) unsafe fn futex_wait(word: *const u32, expected: u32, timeout: Option<&libc::timespec>) -> isize {
    let ts = timeout.map_or(std::ptr::null(), |t| t as *const libc::timespec);
    let op = (libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as usize;
    // SAFETY: forwarded: `word` is a valid aligned u32 and `ts` null or valid for the call.
    unsafe {
        arch::syscall6(libc::SYS_futex as usize, word as usize, op, expected as usize, ts as usize, 0, 0) as isize
    }
}

/// Wakes up to `n` threads waiting on the futex word at `word`. Leaves `errno` alone.
///
/// # Safety
///
/// `word` must point to a live, aligned `u32`.
///
/// # Signal safety
///
/// One system call.
pub(crate) unsafe fn futex_wake(word: *const u32, n: i32) -> isize {
    let op = (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as usize;
    // SAFETY: forwarded: `word` is a valid aligned u32.
    unsafe { arch::syscall6(libc::SYS_futex as usize, word as usize, op, n as usize, 0, 0, 0) as isize }
}

/// The calling thread's signal mask (the kernel's 64-bit set), or `None` if it cannot be read.
/// Leaves `errno` alone.
pub(crate) fn signal_mask() -> Option<u64> {
    let mut set: u64 = 0;
    // SAFETY: rt_sigprocmask with a null new set only writes the current mask, 8 bytes (the
    // kernel's sigset size on x86_64 and aarch64), to `set`.
    let ret = unsafe {
        arch::syscall6(libc::SYS_rt_sigprocmask as usize, libc::SIG_BLOCK as usize, 0, (&raw mut set) as usize, 8, 0, 0)
    } as isize;
    (ret == 0).then_some(set)
}

/// The calling thread's `errno`.
///
/// # Signal safety
///
/// `__errno_location` is async-signal-safe (it returns a thread-local address).
pub(crate) fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
///
/// # Signal safety
///
/// As for [`errno`].
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}
