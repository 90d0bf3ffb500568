//! System calls made directly, bypassing the libc symbols that the hooks replace.
//!
//! The runtime's own IO must not go through its hooks (they would recurse, or at least apply
//! blocking-socket emulation to descriptors the runtime manages itself), and the hooks need
//! the real calls. Each function has the C signature and return convention of its libc
//! namesake (`-1` and `errno` on failure), and costs one `syscall` instruction.
//!
//! Most go through rustix (below). `read`, `write`, `recv` and `send` keep a wrapper of our
//! own around the system call instruction (`arch::syscall6`): they are the hooks' hot path,
//! where rustix measured 13 instructions slower per call (see there). So do the ones rustix
//! has no C-shaped form of, because it takes typed arguments where the hooks must pass the
//! caller's through unchanged: `recvfrom`/`sendto`
//! with an address, `accept4`, `getpeername` (rustix returns or takes a typed address, copied
//! in between), `recvmsg`/`sendmsg` (typed ancillary buffers), `getsockopt`/`setsockopt`,
//! `fcntl`, `ioctl` (typed options and commands only), `socket` (typed family and type),
//! `dup3` (the new descriptor as an `OwnedFd`), `poll` (its `PollFd` holds a `BorrowedFd`,
//! which cannot be -1, a legal ignored entry), `pselect6`, `clock_nanosleep` (only the clocks
//! rustix's `ClockId` names) and `rt_sigprocmask` (rustix's is in its unstable `runtime`
//! module).
//!
//! # Safety
//!
//! Every function here is as unsafe as the system call it makes: pointers must be valid for
//! the lengths given, as the kernel documents for each call.

#![allow(clippy::missing_safety_doc)]

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use libc::{c_int, c_long, c_void, iovec, msghdr, size_t, sockaddr, socklen_t, ssize_t};
use rustix::io::Errno;
use rustix::net::Shutdown;
use rustix::net::addr::{SocketAddrArg, SocketAddrLen, SocketAddrOpaque};
use rustix::thread::futex::{self, Timespec};

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

// The calls below go through rustix, whose `linux_raw` backend (the default on Linux x86_64
// and aarch64; nothing in the workspace turns on its `use-libc`) issues the system call
// instruction itself: no libc symbol, so no hook, is reached. `hooks_bypassed` in the tests
// below fails if one of them went through libc. rustix takes typed arguments (slices,
// `BorrowedFd`, flag sets); the helpers turn the C arguments into them and the result back
// into `-1`/`errno`.
//

/// The descriptor as rustix takes it; `EBADF` for a negative one, as the kernel answers
/// (`BorrowedFd` cannot hold -1).
#[inline(always)]
fn fd_of<'a>(fd: c_int) -> Result<BorrowedFd<'a>, Errno> {
    if fd < 0 {
        return Err(Errno::BADF);
    }
    // SAFETY: a non-negative number; the borrow lasts for one system call, which the kernel
    // checks like any other descriptor.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// `len` bytes at `ptr`, to be written by the kernel: empty for length 0 (C allows a null
/// pointer there), `EFAULT` for a null pointer with a length, as the kernel answers. The
/// length is clamped to `isize::MAX` (the kernel moves at most 2 GiB per call anyway).
///
/// # Safety
///
/// A non-null `ptr` must be valid for writes of `len` bytes for `'a`.
#[inline(always)]
unsafe fn out_buf<'a>(ptr: *mut c_void, len: size_t) -> Result<&'a mut [MaybeUninit<u8>], Errno> {
    if len == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(Errno::FAULT);
    }
    // SAFETY: forwarded from the caller; MaybeUninit asks nothing of the bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.cast(), len.min(isize::MAX as usize)) })
}

/// `len` bytes at `ptr`, to be read by the kernel; as [`out_buf`].
///
/// # Safety
///
/// A non-null `ptr` must be valid for reads of `len` initialised bytes for `'a`.
#[inline(always)]
unsafe fn in_buf<'a>(ptr: *const c_void, len: size_t) -> Result<&'a [u8], Errno> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Errno::FAULT);
    }
    // SAFETY: forwarded from the caller.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast(), len.min(isize::MAX as usize)) })
}

/// `n` iovecs at `iov` as a raw slice (the caller makes it `&` for writev, `&mut` for readv:
/// a shared array is never turned into an exclusive reference it does not need); `EINVAL` for a
/// negative count and `EFAULT` for a null pointer with a count, as the kernel answers. `T` is
/// `IoSlice`/`IoSliceMut`, which std guarantees to have the layout of `iovec` on Unix.
#[inline(always)]
fn iovecs<T>(iov: *const iovec, n: c_int) -> Result<*mut [T], Errno> {
    match n {
        0 => Ok(std::ptr::slice_from_raw_parts_mut(std::ptr::NonNull::<T>::dangling().as_ptr(), 0)),
        ..0 => Err(Errno::INVAL),
        _ if !iov.is_null() => Ok(std::ptr::slice_from_raw_parts_mut(iov.cast_mut().cast(), n as usize)),
        _ => Err(Errno::FAULT),
    }
}

/// libc's convention for a result: the value, or `-1` with `errno` set.
#[inline(always)]
fn c_ret(res: Result<usize, Errno>) -> ssize_t {
    match res {
        Ok(n) => n as ssize_t,
        Err(e) => {
            set_errno(e.raw_os_error());
            -1
        }
    }
}

/// As [`c_ret`], for calls that return 0 on success.
#[inline(always)]
fn c_ret0(res: Result<(), Errno>) -> c_int {
    c_ret(res.map(|()| 0)) as c_int
}

// The hot path (`read`, `write`, `recv`, `send`: the hooked calls of every socket and pipe)
// keeps the own wrapper: through rustix, the checks and conversions around the system call
// (the descriptor's `BorrowedFd`, the buffer as a slice, the `Errno` turned back into
// `errno`) cost 13 more instructions per hooked `read(2)`: 32 instead of 19 beyond the raw
// system call on a plain thread, 59 instead of 45 in a coroutine (callgrind, the hook
// figures of benches/gate/run.sh; 2-core Intel Xeon VM, Linux 6.18).

pub(crate) unsafe fn read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_read, fd as usize, buf as usize, len, 0, 0, 0) as ssize_t }
}

pub(crate) unsafe fn write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sys(libc::SYS_write, fd as usize, buf as usize, len, 0, 0, 0) as ssize_t }
}

pub(crate) unsafe fn readv(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    // SAFETY: the caller passes `n` iovecs naming buffers writable for this call (readv's
    // contract), none of them aliased during it; rustix only reads the array itself.
    let bufs = iovecs::<IoSliceMut<'_>>(iov, n).map(|p| unsafe { &mut *p });
    c_ret(bufs.and_then(|bufs| rustix::io::readv(fd_of(fd)?, bufs)))
}

pub(crate) unsafe fn writev(fd: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    // SAFETY: the caller passes `n` iovecs naming buffers readable for this call (writev's
    // contract); rustix only reads the array and the buffers.
    let bufs = iovecs::<IoSlice<'_>>(iov, n).map(|p| unsafe { &*p });
    c_ret(bufs.and_then(|bufs| rustix::io::writev(fd_of(fd)?, bufs)))
}

/// A negative offset reaches the kernel as one (`EINVAL`).
pub(crate) unsafe fn pread(fd: c_int, buf: *mut c_void, len: size_t, off: libc::off_t) -> ssize_t {
    // SAFETY: the caller passes `len` bytes at `buf` writable for this call (pread's
    // contract), which is what `out_buf` asks.
    let buf = unsafe { out_buf(buf, len) };
    c_ret(buf.and_then(|buf| Ok(rustix::io::pread(fd_of(fd)?, buf, off as u64)?.0.len())))
}

/// `pread` that only reads what the page cache holds (`preadv2` with `RWF_NOWAIT`): a read
/// that would wait for the disk fails with `EAGAIN` instead (as does one on a file system
/// that does not take the flag, with `EOPNOTSUPP`).
pub(crate) fn pread_cached(fd: c_int, buf: &mut [u8], off: u64) -> ssize_t {
    let read = |fd| rustix::io::preadv2(fd, &mut [IoSliceMut::new(buf)], off, rustix::io::ReadWriteFlags::NOWAIT);
    c_ret(fd_of(fd).and_then(read))
}

pub(crate) unsafe fn pwrite(fd: c_int, buf: *const c_void, len: size_t, off: libc::off_t) -> ssize_t {
    // SAFETY: the caller passes `len` initialised bytes at `buf` readable for this call
    // (pwrite's contract), which is what `in_buf` asks.
    let buf = unsafe { in_buf(buf, len) };
    c_ret(buf.and_then(|buf| rustix::io::pwrite(fd_of(fd)?, buf, off as u64)))
}

pub(crate) unsafe fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { recvfrom(fd, buf, len, flags, std::ptr::null_mut(), std::ptr::null_mut()) }
}

pub(crate) unsafe fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sendto(fd, buf, len, flags, std::ptr::null(), 0) }
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

/// A C socket address: what the caller of `connect` passed, handed to the kernel as it is.
struct CAddr(*const sockaddr, socklen_t);

// SAFETY: `with_sockaddr` passes the caller's pointer and length unchanged; `connect`'s caller
// guarantees that they describe a readable socket address for the call.
unsafe impl SocketAddrArg for CAddr {
    unsafe fn with_sockaddr<R>(&self, f: impl FnOnce(*const SocketAddrOpaque, SocketAddrLen) -> R) -> R {
        f(self.0.cast(), self.1)
    }
}

pub(crate) unsafe fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    c_ret0(fd_of(fd).and_then(|fd| rustix::net::connect(fd, &CAddr(addr, len))))
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
    let how = match how {
        libc::SHUT_RD => Ok(Shutdown::Read),
        libc::SHUT_WR => Ok(Shutdown::Write),
        libc::SHUT_RDWR => Ok(Shutdown::Both),
        _ => Err(Errno::INVAL),
    };
    c_ret0(how.and_then(|how| rustix::net::shutdown(fd_of(fd)?, how)))
}

/// `close(2)`, reporting its error (`EBADF`, `EIO`) as libc does.
pub(crate) unsafe fn close(fd: c_int) -> c_int {
    if fd < 0 {
        return c_ret0(Err(Errno::BADF));
    }
    // SAFETY: forwarded: the caller gives the descriptor up.
    c_ret0(unsafe { rustix::io::try_close(fd) })
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
    c_ret(fd_of(fd).and_then(rustix::io::dup).map(|new| new.into_raw_fd() as usize)) as c_int
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

/// The `st_mode` of the file `fd` refers to (type and permissions), or the error of `fstat(2)`.
pub(crate) fn file_mode(fd: c_int) -> Result<u32, Errno> {
    Ok(rustix::fs::fstat(fd_of(fd)?)?.st_mode as u32)
}

/// Waits while `word` holds `expected`, for at most `timeout` (relative; `None`: no limit).
/// Returns 0, or `-errno` (`EAGAIN` when the word differed, `ETIMEDOUT`, `EINTR`), and leaves
/// `errno` alone: it is called from code that interrupted other code at an arbitrary
/// instruction.
///
/// # Signal safety
///
/// One system call.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> isize {
    let ts = timeout.map(|t| Timespec { tv_sec: t.as_secs() as _, tv_nsec: t.subsec_nanos() as _ });
    match futex::wait(word, futex::Flags::PRIVATE, expected, ts.as_ref()) {
        Ok(()) => 0,
        Err(e) => -(e.raw_os_error() as isize),
    }
}

/// Wakes up to `n` threads waiting on `word`. Leaves `errno` alone.
///
/// # Signal safety
///
/// One system call.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) {
    // Waking cannot fail on a valid word; nobody to tell if it did.
    let _ = futex::wake(word, futex::Flags::PRIVATE, n);
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

#[cfg(all(test, feature = "hooks"))]
mod tests {
    //! The wrappers must reach the kernel without the libc symbols the hooks replace: a
    //! hooked `read` that called libc's `read` would call itself. The unit-test binary links
    //! the hooks, which count their entries per thread; each wrapper is called on a plain
    //! thread and must leave the count alone, and its libc namesake, called the same way, must
    //! raise it (otherwise the check would see nothing).

    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use super::*;

    /// Runs `ours`, then `libc_call`: the first must not enter a hook, the second must.
    /// `libc_call` is `None` for calls the hooks do not replace.
    fn check(name: &str, ours: impl FnOnce(), libc_call: Option<&mut dyn FnMut()>) {
        let before = crate::hooks::entries();
        ours();
        assert_eq!(crate::hooks::entries(), before, "sys::raw::{name} went through a hooked libc symbol");
        if let Some(libc_call) = libc_call {
            let before = crate::hooks::entries();
            libc_call();
            assert!(crate::hooks::entries() > before, "libc's {name} did not reach its hook: the check is blind");
        }
    }

    /// Discards a call's result: only which code ran matters.
    fn ignore<T>(_: T) {}

    #[test]
    fn vectored_and_positioned_calls_move_the_bytes_and_refuse_bad_arguments() {
        let (a, b) = UnixStream::pair().unwrap();
        let (a, b) = (a.as_raw_fd(), b.as_raw_fd());
        let (mut one, mut two) = (*b"hello ", *b"world");
        let out = [
            libc::iovec { iov_base: one.as_mut_ptr().cast(), iov_len: one.len() },
            libc::iovec { iov_base: two.as_mut_ptr().cast(), iov_len: two.len() },
        ];
        let (mut x, mut y) = ([0u8; 4], [0u8; 7]);
        let into = [
            libc::iovec { iov_base: x.as_mut_ptr().cast(), iov_len: x.len() },
            libc::iovec { iov_base: y.as_mut_ptr().cast(), iov_len: y.len() },
        ];
        // SAFETY: the iovecs name live local buffers of the lengths given.
        unsafe {
            assert_eq!(writev(b, out.as_ptr(), 2), 11);
            assert_eq!(readv(a, into.as_ptr(), 2), 11);
            assert_eq!(writev(b, out.as_ptr(), 0), 0);
            assert_eq!(writev(b, out.as_ptr(), -1), -1);
            assert_eq!(errno(), libc::EINVAL);
            assert_eq!(readv(a, std::ptr::null(), 1), -1);
            assert_eq!(errno(), libc::EFAULT);
        }
        assert_eq!((&x, &y[..7]), (b"hell", &b"o world"[..]));

        let path = std::env::temp_dir().join(format!("oc-raw-pread-{}", std::process::id()));
        let file = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        let fd = file.as_raw_fd();
        let mut back = [0u8; 5];
        // SAFETY: live local buffers of the lengths given.
        unsafe {
            assert_eq!(pwrite(fd, b"abcdefgh".as_ptr().cast(), 8, 0), 8);
            assert_eq!(pread(fd, back.as_mut_ptr().cast(), 5, 3), 5);
            assert_eq!(pread(fd, back.as_mut_ptr().cast(), 0, 3), 0);
            assert_eq!(pread(fd, std::ptr::null_mut(), 5, 0), -1);
            assert_eq!(errno(), libc::EFAULT);
        }
        assert_eq!(&back, b"defgh");
        drop(file);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn hooks_bypassed() {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let (a, b) = (a.as_raw_fd(), b.as_raw_fd());
        let mut byte = [0u8; 1];
        let p = byte.as_mut_ptr().cast::<c_void>();
        let mut iov = libc::iovec { iov_base: p, iov_len: 1 };
        // SAFETY: every call below gets valid descriptors and pointers to live locals of the
        // lengths given; the results do not matter, only which code ran.
        unsafe {
            check("write", || ignore(write(b, p, 1)), Some(&mut || ignore(libc::write(b, p, 1))));
            check("read", || ignore(read(a, p, 1)), Some(&mut || ignore(libc::read(a, p, 1))));
            check("writev", || ignore(writev(b, &iov, 1)), Some(&mut || ignore(libc::writev(b, &iov, 1))));
            check("readv", || ignore(readv(a, &iov, 1)), Some(&mut || ignore(libc::readv(a, &iov, 1))));
            check("pwrite", || ignore(pwrite(b, p, 1, 0)), Some(&mut || ignore(libc::pwrite(b, p, 1, 0))));
            check("pread", || ignore(pread(a, p, 1, 0)), Some(&mut || ignore(libc::pread(a, p, 1, 0))));
            check("send", || ignore(send(b, p, 1, 0)), Some(&mut || ignore(libc::send(b, p, 1, 0))));
            check("recv", || ignore(recv(a, p, 1, 0)), Some(&mut || ignore(libc::recv(a, p, 1, 0))));
            let null = std::ptr::null_mut();
            check(
                "sendto",
                || ignore(sendto(b, p, 1, 0, null, 0)),
                Some(&mut || ignore(libc::sendto(b, p, 1, 0, null, 0))),
            );
            check(
                "recvfrom",
                || ignore(recvfrom(a, p, 1, 0, null, null.cast())),
                Some(&mut || ignore(libc::recvfrom(a, p, 1, 0, null, null.cast()))),
            );
            let mut msg: msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            let msg = &raw mut msg;
            check("sendmsg", || ignore(sendmsg(b, msg, 0)), Some(&mut || ignore(libc::sendmsg(b, msg, 0))));
            check("recvmsg", || ignore(recvmsg(a, msg, 0)), Some(&mut || ignore(libc::recvmsg(a, msg, 0))));
            let mut len: socklen_t = 0;
            let len = &raw mut len;
            check("accept4", || ignore(accept4(a, null, len, 0)), Some(&mut || ignore(libc::accept4(a, null, len, 0))));
            let addr = libc::sockaddr_un { sun_family: libc::AF_UNIX as u16, sun_path: [0; 108] };
            let (ap, al) = ((&raw const addr).cast::<sockaddr>(), size_of::<libc::sa_family_t>() as socklen_t + 1);
            check("connect", || ignore(connect(a, ap, al)), Some(&mut || ignore(libc::connect(a, ap, al))));
            let tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
            let (tvp, tvl) = ((&raw const tv).cast::<c_void>(), size_of::<libc::timeval>() as socklen_t);
            check(
                "setsockopt",
                || ignore(setsockopt(a, libc::SOL_SOCKET, libc::SO_RCVTIMEO, tvp, tvl)),
                Some(&mut || ignore(libc::setsockopt(a, libc::SOL_SOCKET, libc::SO_RCVTIMEO, tvp, tvl))),
            );
            let mut ty: c_int = 0;
            let mut tyl = size_of::<c_int>() as socklen_t;
            check(
                "getsockopt",
                || ignore(getsockopt(a, libc::SOL_SOCKET, libc::SO_TYPE, (&raw mut ty).cast(), &mut tyl)),
                None,
            );
            check("getpeername", || ignore(getpeername(a, null, len)), None);
            check("file_mode", || ignore(file_mode(a)), None);
            let fl = libc::O_NONBLOCK as usize;
            check(
                "fcntl",
                || ignore(fcntl(a, libc::F_SETFL, fl)),
                Some(&mut || ignore(libc::fcntl(a, libc::F_SETFL, fl))),
            );
            let mut on: c_int = 1;
            let onp = (&raw mut on) as usize;
            check(
                "ioctl",
                || ignore(ioctl(a, libc::FIONBIO, onp)),
                Some(&mut || ignore(libc::ioctl(a, libc::FIONBIO, onp))),
            );
            let mut pfd = libc::pollfd { fd: a, events: libc::POLLIN, revents: 0 };
            let pfd = &raw mut pfd;
            check("poll", || ignore(poll(pfd, 1, 0)), Some(&mut || ignore(libc::poll(pfd, 1, 0))));
            let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            let mut tv0 = libc::timeval { tv_sec: 0, tv_usec: 0 };
            check(
                "pselect6",
                || ignore(pselect6(0, null.cast(), null.cast(), null.cast(), &zero)),
                Some(&mut || ignore(libc::select(0, null.cast(), null.cast(), null.cast(), &mut tv0))),
            );
            check(
                "clock_nanosleep",
                || ignore(clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &zero, null.cast())),
                Some(&mut || ignore(libc::clock_nanosleep(libc::CLOCK_MONOTONIC, 0, &zero, null.cast()))),
            );
            // Descriptors made and closed by each side.
            check(
                "socket, dup, dup3, shutdown, close",
                || {
                    let s = socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                    assert!(s >= 0);
                    let d = dup(s);
                    assert!(d >= 0);
                    assert_eq!(dup3(s, d, libc::O_CLOEXEC), d);
                    shutdown(s, libc::SHUT_RDWR);
                    assert_eq!(close(d), 0);
                    assert_eq!(close(s), 0);
                },
                None,
            );
            let mut s = -1;
            check(
                "socket",
                || {},
                Some(&mut || s = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)),
            );
            assert!(s >= 0);
            let mut d = -1;
            check("dup", || {}, Some(&mut || d = libc::dup(s)));
            assert!(d >= 0);
            check("dup3", || {}, Some(&mut || ignore(libc::dup3(s, d, libc::O_CLOEXEC))));
            check("shutdown", || {}, Some(&mut || ignore(libc::shutdown(s, libc::SHUT_RDWR))));
            check("close", || {}, Some(&mut || assert_eq!(libc::close(d), 0)));
            assert_eq!(libc::close(s), 0);
            let word = AtomicU32::new(1);
            check("futex", || ignore((futex_wait(&word, 0, None), futex_wake(&word, 1))), None);
        }
    }
}
