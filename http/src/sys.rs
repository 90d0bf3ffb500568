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
