//! What oc-http asks of the operating system and C library directly.

/// Returns the allocator's free memory to the kernel where the C library can (glibc's
/// `malloc_trim`, which also releases free pages inside its heaps): called when a buffer of
/// a large request goes, so that many large requests in turn do not leave the process as
/// large as their sum. Elsewhere, nothing.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer and is safe to call from any thread at any time
    // (it takes the allocator's own locks).
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether the socket `fd` has received bytes not yet read (a look that takes nothing and
/// never waits). A descriptor that is no longer a socket, or another error, counts as none.
///
/// The descriptor may have been closed by its connection meanwhile and its number reused:
/// the look then concerns another descriptor, which it leaves unchanged (`MSG_PEEK`), and
/// only the decision for the ended connection, which no longer matters, can be wrong.
pub(crate) fn has_pending_bytes(fd: std::os::fd::RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: `recv` writes at most one byte into `byte`, which outlives the call; with
    // MSG_PEEK | MSG_DONTWAIT it consumes nothing and does not block (so the runtime's hook,
    // if any, passes it straight to the kernel).
    let n = unsafe { libc::recv(fd, (&raw mut byte).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
    n > 0
}

/// Shuts the socket `fd` down both ways (`shutdown(2)`). On a listening socket, an accept
/// waiting on it fails at once (and every later one), and connections in its backlog are
/// reset; the caller must keep the socket open meanwhile (the number must not name another).
pub(crate) fn shut_down(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    // SAFETY: `shutdown` takes no pointer; the caller owns `fd` for the duration of the call.
    if unsafe { libc::shutdown(fd, libc::SHUT_RDWR) } == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Opens `path`, a relative path, beneath the directory `dir` for reading (`openat2(2)`):
/// refused (`ELOOP`) if any component is a symbolic link, (`EXDEV`) if it would leave `dir`.
/// Opened non-blocking, so that a FIFO does not block the open; `O_NONBLOCK` changes nothing
/// for a regular file. `ENOSYS` on a kernel older than 5.6 (or where a sandbox forbids it).
pub(crate) fn open_beneath(
    dir: std::os::fd::BorrowedFd<'_>,
    path: &std::ffi::CStr,
) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: `open_how` is plain data; all zeroes is a valid value (no flags, no mode).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_NOCTTY) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: `path` is NUL-terminated and `how` lives across the call, which reads them
    // only; `dir` is an open descriptor the caller holds for the call. A descriptor returned
    // is new and ours alone.
    let fd = unsafe {
        libc::syscall(libc::SYS_openat2, dir.as_raw_fd(), path.as_ptr(), &raw const how, size_of::<libc::open_how>())
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: see above: `fd` is a new descriptor, owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as std::os::fd::RawFd) })
}

/// Opens the directory `path` as a handle for `open_beneath` (`O_PATH`: no read right
/// needed, nothing read).
pub(crate) fn open_dir(path: &std::path::Path) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)?;
    Ok(dir.into())
}

/// Copies at most `len` bytes of `file` from `*offset` to the socket `socket` in the kernel
/// (`sendfile(2)`), advancing `*offset`: the bytes copied (0 at the file's end), or
/// `WouldBlock` when the socket (non-blocking) has no room.
pub(crate) fn sendfile(
    socket: std::os::fd::BorrowedFd<'_>,
    file: std::os::fd::BorrowedFd<'_>,
    offset: &mut u64,
    len: usize,
) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut off = *offset as libc::off_t;
    // SAFETY: both descriptors are open for the call (the caller holds them); `off` lives
    // across it. The runtime does not hook `sendfile`: on a non-blocking socket it returns at
    // once.
    let n = unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &raw mut off, len) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    *offset = off as u64;
    Ok(n as usize)
}

/// `MSG_MORE`: bytes sent with it wait for the ones that follow (a response's head for its
/// body sent by `sendfile`, in one packet).
pub(crate) const MSG_MORE: i32 = libc::MSG_MORE;

/// Whether `open_beneath` failed for a reason that a lookup following symbolic links may
/// not have: a link on the way (`ELOOP`), a path leaving the directory (`EXDEV`), or no
/// `openat2` in this kernel or sandbox (`ENOSYS`, `EPERM`).
pub(crate) fn link_refused(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ELOOP | libc::EXDEV | libc::ENOSYS | libc::EPERM))
}
