//! Each thread's spare receive and send buffers: a connection takes one when bytes arrive
//! (or a batch of answers is encoded) and gives it back once done with it, so an idle
//! connection holds none and the next one is still in the cache.

use super::recv::READ_CHUNK;
use crate::response::Spares;

thread_local! {
    /// Send buffers of connections between batches (at most 64, of at most 64 KiB), the
    /// last given back on top: a batch is encoded into memory the cache still holds, and an
    /// idle connection holds none.
    static SPARE_OUT: Spares = const { Spares::new(64, 64 * 1024) };
}

oc_runtime::tls_accessor! {
    /// An empty send buffer, the one this thread used last if it has one.
    ///
    /// Never inlined: a coroutine may move to another thread between two calls in one function,
    /// and the compiler must not reuse the thread-local's address across them.
    pub(super) fn spare_out() -> Vec<u8> {
        SPARE_OUT.try_with(Spares::take).ok().flatten().unwrap_or_else(|| Vec::with_capacity(READ_CHUNK))
    }
}

oc_runtime::tls_accessor! {
    /// A receive buffer of `READ_CHUNK` initialised bytes, the one this thread used last if it
    /// has one (see `spare_out` on why it is never inlined).
    pub(super) fn spare_in() -> Vec<u8> {
        super::recv_pool::take(READ_CHUNK)
    }
}

oc_runtime::tls_accessor! {
    /// Gives back a connection's receive buffer when nothing in it is still needed (one grown
    /// for a large request is let go).
    pub(super) fn recycle_in(buf: Vec<u8>) {
        if buf.len() == READ_CHUNK {
            super::recv_pool::give(buf);
        }
    }
}

oc_runtime::tls_accessor! {
    /// Gives back a send buffer whose bytes have been sent (see `spare_out`).
    pub(super) fn recycle_out(out: Vec<u8>) {
        let _ = SPARE_OUT.try_with(|s| s.give(out));
    }
}
