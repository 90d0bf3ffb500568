//! Answering and listening in one step: send a whole response and receive the next request.
//!
//! On io_uring the send and a readiness poll for the next request go to the ring together and
//! reach the kernel with the worker's next `io_uring_enter`, with every other coroutine's: a
//! request/response server then makes no system call of its own to answer, and a worker's
//! responses leave in one burst. The coroutine is not woken for a send that completes whole
//! (the usual case); it is for a short or failed one, and sends the rest while the poll stays
//! in flight (a client may wait for the whole response before it sends anything more). When
//! the poll reports the socket readable the coroutine receives the bytes itself, so that they
//! are copied into its buffer just before it reads them. Elsewhere the two run one after the
//! other.
//!
//! `send_all_then_readable` stops at readiness and leaves the receive to the caller
//! (`try_recv`): a server then needs a receive buffer only once bytes have arrived, and can
//! take one from a pool that the cache still holds instead of keeping one per connection.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use io_uring::{opcode, types};

use super::standing::Readiness;
use super::{cancel_op, on_uring, recv_timeout, send_timeout, timed_out};
use crate::reactor::{self, Op, UringReactor};
use crate::scheduler::context;
use crate::task;

/// Sends all of `out` (as `write_all` would, each wait limited by `write_timeout`), and
/// receives into `buf` (as `recv` would, limited by `read_timeout` once it waits).
///
/// Returns `Err` if the send failed (the receive is then abandoned: the connection is of no
/// further use), otherwise the receive's result: the bytes received, 0 at the end of the
/// stream. See [`one_step_exchange`] for what a cancellation does.
pub fn send_all_then_recv(
    fd: BorrowedFd<'_>,
    out: &[u8],
    buf: &mut [u8],
    write_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
) -> io::Result<io::Result<usize>> {
    if !out.is_empty() && !buf.is_empty() && out.len() <= u32::MAX as usize && on_uring() {
        // SAFETY: `out` and `buf` are borrowed for the whole call, which returns only after
        // both operations have completed.
        if let Some(result) = unsafe { on_ring(fd.as_raw_fd(), out, buf, write_timeout, read_timeout) } {
            return result;
        }
    }
    send_all(fd, out, write_timeout)?;
    Ok(recv_timeout(fd, buf, 0, read_timeout))
}

/// Sends all of `out` (as `write_all` would, each wait limited by `write_timeout`), then
/// waits until `fd` has bytes to receive (or its end, or an error), limited by
/// `read_timeout` (`TimedOut`). The receive is the caller's, without waiting
/// ([`try_recv`]): its buffer is needed only once there is something to put in it. The wait
/// may end early (a spurious wake-up): the receive then says `WouldBlock`, and the caller
/// waits again.
///
/// Returns `Err` if the send failed, otherwise the wait's result. A cancellation acts as in
/// [`send_all_then_recv`]. With `out` empty, this is the wait alone.
///
/// `readiness` is `fd`'s standing registration: on io_uring the wait reuses one poll for the
/// socket's whole life instead of arming one per call. It must be dropped before `fd` is
/// closed, or with it (see [`Readiness`]).
pub fn send_all_then_readable(
    fd: BorrowedFd<'_>,
    out: &[u8],
    readiness: &Readiness,
    write_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
) -> io::Result<io::Result<()>> {
    if out.len() <= u32::MAX as usize && on_uring() {
        let fd = fd.as_raw_fd();
        // SAFETY: `out` is borrowed for the whole call, which returns only after the send
        // has completed.
        let standing = unsafe { super::standing::on_ring(fd, out, readiness, write_timeout, read_timeout) };
        if let Some(result) = standing {
            return result;
        }
    }
    send_all(fd, out, write_timeout)?;
    Ok(readable(fd, read_timeout))
}

/// Waits until `fd` is readable, at most `timeout`.
pub(super) fn readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<()> {
    match timeout {
        Some(t) if t.is_zero() => Err(timed_out()),
        t => super::ready::wait(fd, super::Interest::Readable, t.and_then(|t| Instant::now().checked_add(t))),
    }
}

/// Receives into `buf` what has arrived, without waiting: the bytes received, 0 at the end of
/// the stream, `WouldBlock` if nothing has arrived.
pub fn try_recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    match recv_now(fd.as_raw_fd(), buf) {
        Some(n) if n >= 0 => Ok(n as usize),
        Some(n) => Err(io::Error::from_raw_os_error(-n)),
        None => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// Whether `send_all_then_recv` called here sends and receives in one step: the caller is a
/// coroutine on io_uring. Only then does a cancellation that arrives while the response is
/// on its way let the send finish (within the write time-out) before the coroutine unwinds;
/// elsewhere the send is an ordinary write, which a cancellation interrupts.
pub fn one_step_exchange() -> bool {
    on_uring()
}

/// The rest of `out`, the usual way.
fn send_all(fd: BorrowedFd<'_>, mut out: &[u8], timeout: Option<Duration>) -> io::Result<()> {
    while !out.is_empty() {
        match send_timeout(fd, out, 0, timeout) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => out = &out[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Queues a send of `out` on this thread's worker's ring, completing quietly if whole; `None`
/// when the thread drives no worker with a ring.
///
/// # Safety
///
/// `out` must stay valid until the operation completes.
unsafe fn submit_send(fd: RawFd, out: &[u8]) -> Option<(Arc<Op>, usize)> {
    // SAFETY: forwarded from our caller.
    on_this_ring(|ring| unsafe { send_on(ring, fd, out) })
}

/// `submit` applied to this thread's worker's ring, with the worker's index; `None` when the
/// thread drives no worker with a ring (its worker was handed away).
pub(super) fn on_this_ring<T>(submit: impl FnOnce(&UringReactor) -> T) -> Option<(T, usize)> {
    let worker = context::current_worker();
    let w = worker.as_ref()?;
    let ring = w.reactor().ring()?;
    Some((submit(ring), w.index()))
}

/// Queues a send of `out` on `ring`, completing quietly if whole.
///
/// # Safety
///
/// `out` must stay valid until the operation completes.
pub(super) unsafe fn send_on(ring: &UringReactor, fd: RawFd, out: &[u8]) -> Arc<Op> {
    let (entry, len) = send_entry(fd, out);
    // SAFETY: forwarded from our caller.
    unsafe { ring.submit_quiet(entry, len) }
}

/// A send of `out` (at most 2 GiB of it: a completion reports an `i32`), and the result that
/// says it went whole.
fn send_entry(fd: RawFd, out: &[u8]) -> (io_uring::squeue::Entry, i32) {
    let len = out.len().min(i32::MAX as usize) as u32;
    (opcode::Send::new(types::Fd(fd), out.as_ptr(), len).flags(libc::MSG_NOSIGNAL).build(), len as i32)
}

/// A readiness poll for `fd` on this thread's worker's ring; `None` when the thread drives no
/// worker with a ring.
fn submit_readable(fd: RawFd) -> Option<(Arc<Op>, usize)> {
    // SAFETY: a poll names no memory.
    on_this_ring(|ring| unsafe { ring.submit(readable_entry(fd)) })
}

fn readable_entry(fd: RawFd) -> io_uring::squeue::Entry {
    opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32).build()
}

/// Receives into `buf` without waiting: the bytes received, 0 at the end of the stream, or
/// `None` if there is nothing to receive (yet).
fn recv_now(fd: RawFd, buf: &mut [u8]) -> Option<i32> {
    loop {
        // SAFETY: `buf` is the caller's writable buffer (the call never waits).
        let n = unsafe {
            crate::sys::raw::recv(fd, buf.as_mut_ptr().cast(), buf.len().min(i32::MAX as usize), libc::MSG_DONTWAIT)
        };
        if n >= 0 {
            return Some(n as i32);
        }
        match io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO) {
            libc::EINTR => continue,
            libc::EAGAIN => return None,
            errno => return Some(-errno),
        }
    }
}

/// The io_uring form; `None` when the coroutine has no ring to submit to right now (its
/// worker was handed away): the caller then does it the usual way.
///
/// The receive is a readiness poll on the ring, and the copy is made by this coroutine when it
/// runs, into a buffer it is about to read. A receive done by the ring copies the bytes when
/// the worker next enters the kernel, with every other connection's: with hundreds of busy
/// connections they are out of the cache again by the time their coroutines run.
///
/// # Safety
///
/// `out` and `buf` must stay valid until this function returns (it returns only after every
/// operation it started has completed; it never unwinds before).
unsafe fn on_ring(
    fd: RawFd,
    out: &[u8],
    buf: &mut [u8],
    write_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
) -> Option<io::Result<io::Result<usize>>> {
    let now = Instant::now();
    let write_deadline = write_timeout.and_then(|t| now.checked_add(t));
    let read_deadline = read_timeout.and_then(|t| now.checked_add(t));
    let ((send, recv), owner) = on_this_ring(|ring| {
        let (send, len) = send_entry(fd, out);
        // SAFETY: forwarded from our caller (a poll names no memory).
        unsafe { ring.submit_pair(send, len, readable_entry(fd)) }
    })?;
    // SAFETY: the waker stays in this frame, which ends before the coroutine does; what
    // waits on our behalf keeps clones (each with its own reference).
    let waker = unsafe { task::borrowed_waker() }.expect("in a coroutine");
    let mut send = Sending::new(out, Some((send, owner)));
    let recv = (recv, owner);
    // The readiness poll in flight, and how the receive ended; `recv_elsewhere` when a poll
    // could not be renewed (the worker was handed away): the receive is then made the usual
    // way once the send is done.
    let mut recv = Some(recv);
    let mut recv_res: Option<i32> = None;
    let mut recv_elsewhere = false;
    let (mut recv_cancelled, mut recv_expired) = (false, false);
    let mut now = Some(now);
    loop {
        // The receive first: once it is done, the send must wake us whatever its result.
        if let Some((op, _)) = &recv
            && let Some(res) = op.result_or_wait(&waker)
        {
            if let Some((op, _)) = recv.take() {
                reactor::recycle(op);
            }
            if res < 0 {
                recv_res = Some(res);
            } else if recv_cancelled {
                // Readiness raced with the cancellation: nothing was read, nothing is lost.
                recv_res = Some(-libc::ECANCELED);
            } else {
                match recv_now(fd, buf) {
                    Some(n) => recv_res = Some(n),
                    // Woken for nothing: wait again.
                    None => match submit_readable(fd) {
                        Some(op) => {
                            recv = Some(op);
                            continue;
                        }
                        None => recv_elsewhere = true,
                    },
                }
            }
        }
        let received = recv_res.is_some() || recv_elsewhere;
        // While the receive is pending a whole send completes quietly; once it is done, any
        // completion of the send must wake us.
        if send.look(&waker, received) {
            // Short: the rest, while the receive stays in flight (the peer may wait for the
            // whole response before it sends more).
            // SAFETY: `out` outlives this function, which waits for every send it starts.
            unsafe { send.send_rest(fd) };
            continue;
        }
        // A failed send makes the receive pointless; a cancellation ends it too (the send
        // goes on: its response was due).
        if let Some((op, owner)) = &recv
            && !recv_cancelled
            && (send.failed() || task::cancel_pending())
        {
            recv_cancelled = true;
            cancel_op(op, *owner);
        }
        if send.done() && received {
            break;
        }
        let sending = send.in_flight();
        let receiving = recv.is_some() && !recv_cancelled;
        let deadline = earliest(write_deadline.filter(|_| sending), read_deadline.filter(|_| receiving));
        match deadline {
            Some(d) => task::park_until_uncancellable(d, now.take()),
            None => task::park_uncancellable(),
        }
        now = None;
        // Cancel what is overdue (its completion still comes). Not when what we waited for
        // has completed (the usual wake-up): that costs no clock reading.
        let progressed = recv.as_ref().is_some_and(|(op, _)| op.is_done()) || send.completed();
        if deadline.is_some() && !progressed {
            let now = Instant::now();
            if write_deadline.is_some_and(|d| now >= d) {
                send.expire();
            }
            if let Some((op, owner)) = &recv
                && receiving
                && read_deadline.is_some_and(|d| now >= d)
            {
                (recv_cancelled, recv_expired) = (true, true);
                cancel_op(op, *owner);
            }
        }
    }
    // The kernel is done with both buffers: a pending cancellation may unwind now.
    task::unwind_if_cancelled();
    let sent = send.into_result();
    if recv_elsewhere {
        let left = read_deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // SAFETY: the caller's descriptor, borrowed for this whole call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        return Some(sent.map(|()| match left {
            Some(left) if left.is_zero() => Err(timed_out()),
            left => recv_timeout(fd, buf, 0, left),
        }));
    }
    let received = recv_res.expect("the loop ends with both results");
    Some(sent.map(|()| match received {
        n if n >= 0 => Ok(n as usize),
        n if n == -libc::ECANCELED && recv_expired => Err(timed_out()),
        n if n == -libc::ECANCELED => Err(cancelled()),
        n => Err(io::Error::from_raw_os_error(-n)),
    }))
}

/// A whole send of `out` on the ring, as the exchange and the standing wait make it: one
/// operation, followed by another for the rest after a short one.
pub(super) struct Sending<'a> {
    out: &'a [u8],
    /// The operation in flight, and the worker whose ring it is on.
    op: Option<(Arc<Op>, usize)>,
    sent: usize,
    result: Option<io::Result<()>>,
    /// Cancelled at the write deadline (its completion still comes).
    expired: bool,
}

impl<'a> Sending<'a> {
    /// `op` sends `out` from its start; `None` when there is nothing to send.
    pub(super) fn new(out: &'a [u8], op: Option<(Arc<Op>, usize)>) -> Sending<'a> {
        let result = if op.is_none() { Some(Ok(())) } else { None };
        Sending { out, op, sent: 0, result, expired: false }
    }

    /// Takes the completion of the operation in flight if it has come; otherwise leaves
    /// `waker` to be woken by any completion when `loud`, else only by one that does not
    /// send the whole (a whole send completes quietly). Returns whether a short send left
    /// the rest to send ([`send_rest`](Self::send_rest)).
    pub(super) fn look(&mut self, waker: &Waker, loud: bool) -> bool {
        if let Some((op, _)) = &self.op {
            let res = if loud { op.result_or_wait_loud(waker) } else { op.result_or_wait(waker) };
            if let Some(res) = res {
                if let Some((op, _)) = self.op.take() {
                    reactor::recycle(op);
                }
                self.result = match res {
                    // Cancelled at the write deadline, whatever it managed before.
                    _ if self.expired => Some(Err(timed_out())),
                    n if n > 0 => {
                        self.sent += n as usize;
                        (self.sent == self.out.len()).then_some(Ok(()))
                    }
                    0 => Some(Err(io::ErrorKind::WriteZero.into())),
                    n if n == -libc::ECANCELED => Some(Err(cancelled())),
                    n => Some(Err(io::Error::from_raw_os_error(-n))),
                };
            }
        }
        self.op.is_none() && self.result.is_none()
    }

    /// Queues the rest after a short send on this thread's worker's ring; when the worker
    /// was handed away, moves to a worker instead (the caller looks again and retries).
    ///
    /// # Safety
    ///
    /// `out` must stay valid until the operation completes.
    pub(super) unsafe fn send_rest(&mut self, fd: RawFd) {
        // SAFETY: forwarded from our caller.
        match unsafe { submit_send(fd, &self.out[self.sent..]) } {
            Some(op) => self.op = Some(op),
            None => task::yield_uncancellable(),
        }
    }

    /// Cancels the operation in flight at the write deadline (its completion still comes).
    pub(super) fn expire(&mut self) {
        if let Some((op, owner)) = &self.op
            && !self.expired
        {
            self.expired = true;
            cancel_op(op, *owner);
        }
    }

    /// Whether an operation is in flight, not cancelled.
    pub(super) fn in_flight(&self) -> bool {
        self.op.is_some() && !self.expired
    }

    /// Whether the operation in flight has its completion (not yet looked at).
    pub(super) fn completed(&self) -> bool {
        self.op.as_ref().is_some_and(|(op, _)| op.is_done())
    }

    /// Whether the sending has ended.
    pub(super) fn done(&self) -> bool {
        self.result.is_some()
    }

    /// Whether the sending has ended in failure.
    pub(super) fn failed(&self) -> bool {
        matches!(self.result, Some(Err(_)))
    }

    /// How the sending ended.
    pub(super) fn into_result(self) -> io::Result<()> {
        self.result.expect("the sending has ended")
    }
}

pub(super) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(super) fn cancelled() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "operation cancelled: the runtime is shutting down")
}
