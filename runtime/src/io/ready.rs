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
        Driver::Migrate => {
            crate::task::yield_now();
            super::remaining(deadline).map(drop)
        }
        Driver::Epoll => epoll_wait(fd, interest, deadline),
        Driver::Uring => uring_poll(fd, interest, deadline),
    }
}

/// Drops what this worker's reactor remembers about `fd`; call it before closing `fd`.
/// Harmless anywhere; other workers repair stale entries lazily.
///
/// Coroutines waiting on `fd` are woken, and see the descriptor closed (`EBADF`) instead of
/// waiting for ever: on epoll they try their call again; on io_uring their operations on
/// `fd` are cancelled. In this worker's reactor that happens here; other workers whose coroutines waited on `fd` (`closing.rs`) are told through
/// their remote handles and act at their next turn.
pub fn forget(fd: RawFd) {
    let worker = crate::scheduler::context::current_worker();
    let mut mask = 0;
    let mut me = None;
    if let Some(w) = worker.as_ref() {
        mask = w.shared().waiting.take(fd);
        me = Some(w.index());
        w.reactor().forget(fd, mask & (1u64 << (w.index() % 64)) != 0);
    } else if let Some(task) = crate::scheduler::context::current_task() {
        // A coroutine whose worker was handed to another thread: every marked worker is
        // another's.
        // SAFETY: the running task is alive while it runs.
        mask = unsafe { task.as_ref() }.shared.waiting.take(fd);
    }
    if mask == 0 {
        return;
    }
    // Waiters in other workers' reactors: a descriptor waited on by coroutines of other
    // workers (a coroutine that moved, or several sharing it). Each costs that worker a
    // message and a wake-up.
    let shared = match worker.as_ref() {
        Some(w) => w.shared().clone(),
        None => match crate::scheduler::context::current_shared() {
            Some(shared) => shared,
            None => return,
        },
    };
    drop(worker);
    for (index, unparker) in shared.unparkers.iter().enumerate() {
        if Some(index) == me || mask & (1u64 << (index % 64)) == 0 {
            continue;
        }
        unparker.forget(fd);
    }
}

/// Waits until any of `fds` (descriptor, `poll(2)` event mask) may be ready, or `deadline`.
/// May return early; the caller polls again. Used by the `poll`/`select` hooks.
pub(crate) fn wait_any(fds: &[(RawFd, i16)], deadline: Option<Instant>) -> io::Result<()> {
    match driver() {
        Driver::Thread => {
            let mut pfds: Vec<libc::pollfd> =
                fds.iter().map(|&(fd, events)| libc::pollfd { fd, events, revents: 0 }).collect();
            let timeout_ms = match super::remaining(deadline)? {
                None => -1,
                Some(left) => left.as_millis().min(i32::MAX as u128) as i32,
            };
            // SAFETY: `pfds` is a valid array of its length.
            unsafe { crate::sys::raw::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
            Ok(())
        }
        Driver::Migrate => {
            crate::task::yield_now();
            Ok(())
        }
        Driver::Epoll => {
            super::remaining(deadline)?;
            // SAFETY: the waker stays in this frame, which ends before the coroutine does; what
            // waits on our behalf keeps clones (each with its own reference).
            let waker = unsafe { crate::task::borrowed_waker() }.expect("in a coroutine");
            {
                let worker = crate::scheduler::context::current_worker();
                let Some(reactor) = worker.as_ref().and_then(|w| w.reactor().poller()) else {
                    return Ok(());
                };
                let w = worker.as_ref().expect("matched above");
                for &(fd, events) in fds {
                    w.shared().waiting.mark(fd, w.index());
                    if events & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) != 0 {
                        reactor.register(fd, crate::reactor::Interest::Readable, &waker)?;
                    }
                    if events & libc::POLLOUT != 0 {
                        reactor.register(fd, crate::reactor::Interest::Writable, &waker)?;
                    }
                }
            }
            match deadline {
                Some(d) => crate::task::park_until(d),
                None => crate::task::park_forever(),
            }
            Ok(())
        }
        Driver::Uring => {
            super::remaining(deadline)?;
            let (ops, owner) = {
                let worker = crate::scheduler::context::current_worker();
                let Some(w) = worker.as_ref() else {
                    return Ok(());
                };
                let Some(reactor) = w.reactor().ring() else {
                    return Ok(());
                };
                let ops: Vec<_> = fds
                    .iter()
                    .map(|&(fd, events)| {
                        w.shared().waiting.mark(fd, w.index());
                        let entry =
                            io_uring::opcode::PollAdd::new(io_uring::types::Fd(fd), events as u16 as u32).build();
                        // SAFETY: a poll names no memory.
                        let op = unsafe { reactor.submit(entry) };
                        op.waits_on(fd);
                        op
                    })
                    .collect();
                (ops, w.index())
            };
            // Whatever happens (ready, time-out, cancellation unwinding through here), the
            // polls still in flight are cancelled on the ring that owns them.
            struct CancelRest<'a> {
                ops: &'a [std::sync::Arc<crate::reactor::Op>],
                owner: usize,
            }
            impl Drop for CancelRest<'_> {
                fn drop(&mut self) {
                    for op in self.ops.iter().filter(|op| !op.is_done()) {
                        super::cancel_op(op, self.owner);
                    }
                }
            }
            let _cancel = CancelRest { ops: &ops, owner };
            // SAFETY: the waker stays in this frame, which ends before the coroutine does; what
            // waits on our behalf keeps clones (each with its own reference).
            let waker = unsafe { crate::task::borrowed_waker() }.expect("in a coroutine");
            loop {
                if ops.iter().any(|op| op.result_or_wait(&waker).is_some()) {
                    return Ok(());
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(());
                }
                match deadline {
                    Some(d) => crate::task::park_until(d),
                    None => crate::task::park_forever(),
                }
            }
        }
    }
}
