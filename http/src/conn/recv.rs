//! The connection's receive buffer beyond its usual size: what a large request makes it
//! grow by, counted against the server's `Limits::max_body_memory`.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The usual size of a receive buffer, and the least room a read is given.
pub(super) const READ_CHUNK: usize = 16 * 1024;

/// A receive buffer grown by at least this much gives its memory back to the kernel when
/// it goes.
const GIVE_BACK: usize = 1024 * 1024;

/// The bytes of a connection's receive buffer beyond the usual `READ_CHUNK`, counted in the
/// server's total (`Limits::max_body_memory`) while the connection holds them.
pub(super) struct Grown<'a> {
    total: &'a AtomicUsize,
    bytes: usize,
}

impl<'a> Grown<'a> {
    /// Nothing counted yet in `total`.
    pub(super) fn new(total: &'a AtomicUsize) -> Grown<'a> {
        Grown { total, bytes: 0 }
    }

    /// Counts `bytes` instead of what was counted; refuses (and counts what it did) if the
    /// total would exceed `max`.
    #[inline]
    pub(super) fn set(&mut self, bytes: usize, max: usize) -> bool {
        if bytes == self.bytes {
            return true;
        }
        if bytes < self.bytes {
            self.total.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
            if self.bytes >= GIVE_BACK {
                // The buffer has gone: its memory goes back to the kernel now rather than
                // stay with the allocator (which would keep a few such buffers' worth).
                crate::sys::release_free_memory();
            }
        } else {
            let more = bytes - self.bytes;
            let before = self.total.fetch_add(more, Ordering::AcqRel);
            if before.saturating_add(more) > max {
                self.total.fetch_sub(more, Ordering::AcqRel);
                return false;
            }
        }
        self.bytes = bytes;
        true
    }
}

impl Drop for Grown<'_> {
    fn drop(&mut self) {
        self.set(0, usize::MAX);
    }
}
