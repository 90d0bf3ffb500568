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
