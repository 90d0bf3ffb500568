//! Waiting for a descriptor to become readable or writable, and forgetting one.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Instant;

use super::{Driver, driver, epoll_wait, thread_wait, uring_poll};

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Data (or a connection, or end of file) can be read.
    Readable,
    /// Data can be written (or a connection attempt has finished).
    Writable,
}

impl From<Interest> for crate::reactor::Interest {
    fn from(i: Interest) -> crate::reactor::Interest {
        match i {
            Interest::Readable => crate::reactor::Interest::Readable,
            Interest::Writable => crate::reactor::Interest::Writable,
        }
    }
}

/// Waits until `fd` is ready for `interest`, or fails with `TimedOut` at `deadline`.
///
/// May return early (a spurious wake-up): callers retry their operation, which says
/// `WouldBlock` if it still cannot proceed.
pub fn wait(fd: BorrowedFd<'_>, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    match driver() {
        Driver::Thread => thread_wait(fd, interest, deadline),
        Driver::Epoll(reactor) => epoll_wait(reactor, fd, interest, deadline),
        Driver::Uring(..) => uring_poll(fd, interest, deadline),
    }
}

/// Drops what this worker's reactor remembers about `fd`; call it before closing `fd`.
/// Harmless anywhere; other workers repair stale entries lazily.
pub fn forget(fd: RawFd) {
    if let Driver::Epoll(reactor) = driver() {
        reactor.forget(fd);
    }
}
