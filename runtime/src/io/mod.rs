//! Blocking-style IO on descriptors: inside a coroutine the calls suspend the coroutine, on a
//! plain thread they block the thread.
//!
//! These are the building blocks of `oc-net`; most programs use that crate instead. Every
//! function takes a descriptor that is in non-blocking mode (`O_NONBLOCK`), except the file
//! functions, and an optional deadline after which it fails with `ErrorKind::TimedOut`.
//!
//! How a call waits, by context:
//!
//! | context | first | when the call would block |
//! |---|---|---|
//! | plain thread | the non-blocking call | `poll(2)` on the descriptor, then the call again |
//! | coroutine, io_uring | reads: nothing (straight to the ring); writes and the rest: the non-blocking call | the same operation submitted to the worker's ring (readiness polled on the ring for calls without a ring form); the coroutine waits for its completion |
//! | coroutine, epoll | the non-blocking call | the descriptor armed in the worker's poller, the coroutine parked until it is ready (or the deadline passes), then the call again |
//!
//! On a ring a read is submitted at once: in request/response traffic a non-blocking attempt
//! first mostly finds nothing and costs a system call (measured in `run`). A write tries the
//! system call first, which usually succeeds at once.
//!
//! A deadline is a timer of the runtime, not a time-out linked to the operation in the
//! kernel: when it passes, the coroutine cancels its operation (`ASYNC_CANCEL`), waits for
//! the completion and reports `TimedOut`, unless the operation completed meanwhile.
//!
//! # Cancellation
//!
//! A coroutine cancelled while it waits for an io_uring operation first cancels the operation
//! and waits for its completion (the kernel may be writing into the coroutine's buffer), and
//! only then unwinds.

mod accept;
mod closing;
mod connect;
mod datagram;
mod exchange;
mod file;
mod read;
mod ready;
mod standing;
mod write;

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use io_uring::squeue;

pub use accept::accept;
pub(crate) use closing::Waiting;
pub use connect::connect;
pub use datagram::{recv_from, send_to};
// oc-net's one-step exchange (`TcpStream::write_all_then_read`, `write_all_then_readable`,
// `try_read`) and oc-http's connection loop (`one_step_exchange`) are built on these; they are
// public only because those crates are separate. Users call oc-net's methods, which keep the
// socket's `Readiness` for them and say which half of an exchange failed (`oc_net::Exchange`).
#[doc(hidden)]
pub use exchange::{one_step_exchange, send_all_then_readable, send_all_then_recv, try_recv};
pub use file::{read_at, write_at};
pub use read::{read, readv, recv, recv_timeout};
pub(crate) use ready::wait_any;
pub use ready::{Interest, forget, wait};
#[doc(hidden)]
pub use standing::Readiness;
pub use write::{send, send_timeout, write, writev};

use crate::reactor::{self, Unparker};
use crate::scheduler::context;
use crate::task;

/// How the calling code waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Driver {
    /// A plain thread: block the thread.
    Thread,
    /// A coroutine whose worker was handed to another thread while it ran: it must move to a
    /// worker (by yielding) before it can wait.
    Migrate,
    /// A coroutine on a worker with an io_uring ring.
    Uring,
    /// A coroutine on a worker with an epoll instance.
    Epoll,
}

/// The calling context. Functions that then need the worker take it again (and let go before
/// suspending): it may have been handed to another thread in between.
fn driver() -> Driver {
    if !task::can_suspend() {
        // A plain thread, or a dropped coroutine being unwound (see `task/cell.rs`).
        return Driver::Thread;
    }
    match context::current_worker() {
        None => Driver::Migrate,
        Some(worker) if worker.reactor().ring().is_some() => Driver::Uring,
        Some(_) => Driver::Epoll,
    }
}

/// An error that sends the caller to the thread-blocking path: the worker is gone.
fn no_worker() -> io::Error {
    io::Error::new(io::ErrorKind::WouldBlock, "no worker to wait on")
}

/// When a call that waits gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    Never,
    At(Instant),
    /// This long after the call first has to wait: the clock is read only then (a call that
    /// completes at once reads no clock).
    After(Duration),
}

impl From<Option<Instant>> for Deadline {
    fn from(deadline: Option<Instant>) -> Deadline {
        deadline.map_or(Deadline::Never, Deadline::At)
    }
}

impl Deadline {
    /// A time-out (`None`: none) counted from the first wait.
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        timeout.map_or(Deadline::Never, Deadline::After)
    }

    /// The deadline as an instant (an `After` is fixed from now on), and the clock reading
    /// taken on the way if one was (`None` for `Never` and `At`).
    fn resolve(&mut self) -> (Option<Instant>, Option<Instant>) {
        match *self {
            Deadline::Never => (None, None),
            Deadline::At(d) => (Some(d), None),
            Deadline::After(t) => {
                let now = Instant::now();
                let d = now.checked_add(t);
                *self = d.map_or(Deadline::Never, Deadline::At);
                (d, Some(now))
            }
        }
    }
}

/// Whether the caller is a coroutine of a runtime on io_uring (its worker's ring is where its
/// operations go, unless the worker was handed away meanwhile: `uring_op` finds that out).
fn on_uring() -> bool {
    context::current_task().is_some_and(|t| {
        // SAFETY: the running task is alive while it runs.
        let header = unsafe { t.as_ref() };
        // A coroutine without a yielder is being unwound and cannot wait on a ring.
        header.shared.unparkers.first().is_some_and(Unparker::is_ring) && !header.yielder.get().is_null()
    })
}

/// The time left until `deadline`, or `TimedOut` if it has passed.
fn remaining(deadline: Option<Instant>) -> io::Result<Option<Duration>> {
    match deadline {
        None => Ok(None),
        Some(d) => {
            let now = Instant::now();
            if now >= d { Err(timed_out()) } else { Ok(Some(d - now)) }
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "operation timed out")
}

/// Converts a libc return value (`-1` and `errno`) into a result.
fn cvt(res: isize) -> io::Result<usize> {
    if res < 0 { Err(io::Error::last_os_error()) } else { Ok(res as usize) }
}

/// The io_uring form of an operation: how to build its entry, and how to read its result.
type UringForm<'a, T> = (&'a mut dyn FnMut() -> squeue::Entry, &'a dyn Fn(i32) -> T);

/// Runs `attempt` (a non-blocking system call) until it stops failing with `WouldBlock`,
/// waiting in between as the context requires. `uring`, when given, builds the io_uring
/// form of the same operation; its result replaces a further attempt.
///
/// # Safety
///
/// Every pointer in the entries `uring` builds must stay valid for as long as this function
/// runs.
unsafe fn run<T>(
    fd: RawFd,
    interest: Interest,
    mut deadline: Deadline,
    mut attempt: impl FnMut() -> io::Result<T>,
    mut uring: Option<UringForm<'_, T>>,
) -> io::Result<T> {
    // On a ring, a read goes straight to the kernel as an operation: a non-blocking attempt
    // first mostly fails in request/response traffic (the peer has not answered yet) and costs
    // a system call. Measured with benches/echo/run.sh: 6.8 µs of server CPU per echoed
    // message this way, 7.1 µs with the attempt first. Writes keep the attempt: it usually
    // succeeds at once.
    let mut ring_first = interest == Interest::Readable && uring.is_some() && on_uring();
    loop {
        let driver = if std::mem::take(&mut ring_first) {
            Driver::Uring
        } else {
            match attempt() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
            driver()
        };
        let (at, now) = deadline.resolve();
        match driver {
            Driver::Thread => thread_wait(fd, interest, at)?,
            Driver::Migrate => task::yield_now(),
            Driver::Epoll => epoll_wait(fd, interest, at)?,
            Driver::Uring => {
                let done = match uring.as_mut() {
                    Some((build, map)) => {
                        let now = now.or_else(|| at.map(|_| Instant::now()));
                        // SAFETY: forwarded from our caller.
                        match unsafe { uring_op(build(), Some(fd), at, now)? } {
                            Ok(res) => return Ok(map(res)),
                            // The kernel honoured O_NONBLOCK, or the worker is gone: wait for
                            // readiness instead.
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
                            Err(e) => return Err(e),
                        }
                    }
                    None => false,
                };
                if !done {
                    uring_poll(fd, interest, at)?;
                }
            }
        }
    }
}

/// Whether the calling coroutine's runtime is shutting down.
fn shutting_down() -> bool {
    // SAFETY: the running task is alive while it runs.
    context::current_task().is_some_and(|t| unsafe { t.as_ref() }.shared.is_shutting_down())
}

/// Cancels an io_uring operation on the ring that owns it (the coroutine may have moved).
/// Called by the coroutine that submitted it.
fn cancel_op(op: &reactor::Op, owner: usize) {
    let Some(task) = context::current_task() else {
        return;
    };
    // SAFETY: the running task is alive while it runs.
    let shared = &unsafe { task.as_ref() }.shared;
    match context::current_worker() {
        Some(w) if w.index() == owner && std::sync::Arc::ptr_eq(w.shared(), shared) => {
            if let Some(ring) = w.reactor().ring() {
                ring.cancel(op.user_data());
            }
        }
        _ => shared.unparkers[owner].request_cancel(op.user_data()),
    }
}

/// Blocks the thread until `fd` is ready or the deadline passes.
fn thread_wait(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    let events = match interest {
        Interest::Readable => libc::POLLIN,
        Interest::Writable => libc::POLLOUT,
    };
    loop {
        let timeout_ms = match remaining(deadline)? {
            None => -1,
            Some(left) => left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        };
        let mut pfd = libc::pollfd { fd, events, revents: 0 };
        // SAFETY: `pfd` is a valid pollfd array of length one.
        let n = unsafe { crate::sys::raw::poll(&mut pfd, 1, timeout_ms) };
        match n {
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => continue,
            -1 => return Err(io::Error::last_os_error()),
            0 => continue, // time-out: `remaining` reports it on the next turn
            _ => return Ok(()),
        }
    }
}

/// Parks the coroutine until `fd` is ready in this worker's poller or the deadline passes.
fn epoll_wait(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    remaining(deadline)?;
    // SAFETY: the waker stays in this frame, which ends before the coroutine does; what
    // waits on our behalf keeps clones (each with its own reference).
    let waker = unsafe { task::borrowed_waker() }.expect("in a coroutine");
    {
        let worker = context::current_worker();
        let Some(reactor) = worker.as_ref().and_then(|w| w.reactor().poller()) else {
            drop(worker);
            // The worker is gone: move to one; the caller tries again.
            task::yield_now();
            return remaining(deadline).map(drop);
        };
        reactor.register(fd, interest.into(), &waker)?;
        if let Some(w) = worker.as_ref() {
            w.shared().waiting.mark(fd, w.index());
        }
    }
    match deadline {
        Some(d) => task::park_until(d),
        None => task::park_forever(),
    }
    // Woken by readiness, by the deadline, or spuriously: the caller tries again, and the
    // deadline check reports a time-out.
    remaining(deadline).map(drop)
}

/// Waits for readiness with an io_uring poll (used when an operation has no ring form).
fn uring_poll(fd: RawFd, interest: Interest, deadline: Option<Instant>) -> io::Result<()> {
    match driver() {
        Driver::Uring => {}
        Driver::Thread => return thread_wait(fd, interest, deadline),
        Driver::Migrate | Driver::Epoll => {
            task::yield_now();
            return remaining(deadline).map(drop);
        }
    }
    let mask = match interest {
        Interest::Readable => libc::POLLIN,
        Interest::Writable => libc::POLLOUT,
    };
    let entry = io_uring::opcode::PollAdd::new(io_uring::types::Fd(fd), mask as u32).build();
    // SAFETY: a poll names no memory.
    match unsafe { uring_op(entry, Some(fd), deadline, None)? } {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            task::yield_now();
            remaining(deadline).map(drop)
        }
        Err(e) => Err(e),
    }
}

/// Submits `entry` to this worker's ring and waits for its completion. `now`, if given, is a
/// reading of the clock taken since the coroutine last resumed. `fd`, if given, is the
/// descriptor the operation waits on, marked so that closing it reaches this wait
/// (`closing.rs`).
///
/// Returns `Ok(Ok(res))` for a non-negative result, `Ok(Err(e))` for an error result (a
/// `WouldBlock` one when the coroutine no longer has a worker: wait some other way), and
/// `Err(TimedOut)` when the deadline passed and the operation was cancelled.
///
/// # Safety
///
/// Every pointer in `entry` must stay valid until this function returns (it returns only
/// after the completion).
unsafe fn uring_op(
    entry: squeue::Entry,
    fd: Option<RawFd>,
    deadline: Option<Instant>,
    now: Option<Instant>,
) -> io::Result<io::Result<i32>> {
    match (deadline, now) {
        (Some(d), Some(now)) if now >= d => return Err(timed_out()),
        (Some(_), Some(_)) => {}
        _ => drop(remaining(deadline)?),
    }
    let (op, owner) = {
        let worker = context::current_worker();
        let Some(w) = worker.as_ref() else {
            return Ok(Err(no_worker()));
        };
        let Some(reactor) = w.reactor().ring() else {
            return Ok(Err(no_worker()));
        };
        // SAFETY: forwarded from the caller: we do not return before the completion.
        let op = unsafe { reactor.submit(entry) };
        if let Some(fd) = fd {
            op.waits_on(fd);
            w.shared().waiting.mark(fd, w.index());
        }
        (op, w.index())
    };
    // SAFETY: the waker stays in this frame, which ends before the coroutine does; what
    // waits on our behalf keeps clones (each with its own reference).
    let waker = unsafe { task::borrowed_waker() }.expect("in a coroutine");
    // The deadline is a timer of the runtime, not a time-out linked to the operation in the
    // kernel (which costs a kernel timer and a second completion per operation): at the
    // deadline the operation is cancelled, and its completion still awaited.
    let mut cancel_sent = false;
    let mut expired = false;
    let mut woken = false;
    // Good for the first suspension only.
    let mut now = now;
    let res = loop {
        if let Some(res) = op.result_or_wait(&waker) {
            break res;
        }
        if woken && !cancel_sent {
            let cancelled = task::cancel_pending();
            expired = !cancelled && deadline.is_some_and(|d| Instant::now() >= d);
            if cancelled || expired {
                cancel_sent = true;
                cancel_op(&op, owner);
            }
        }
        match deadline {
            Some(d) if !cancel_sent => task::park_until_uncancellable(d, now.take()),
            _ => task::park_uncancellable(),
        }
        woken = true;
    };
    reactor::recycle(op);
    if res >= 0 {
        // Done, even if a cancellation raced with the completion: the result goes back to
        // the caller (an accepted descriptor, bytes received), which the pending cancellation
        // unwinds at its next wait. Unwinding here would lose it: an accepted socket would
        // stay open with nobody to serve or close it.
        return Ok(Ok(res));
    }
    // The kernel is done with the memory: a pending cancellation unwinds now.
    task::unwind_if_cancelled();
    if res == -libc::ECANCELED && expired {
        Err(timed_out())
    } else if res == -libc::ECANCELED && !shutting_down() {
        // Cancelled by `forget`: the descriptor was closed while the operation waited.
        Ok(Err(io::Error::from_raw_os_error(libc::EBADF)))
    } else if res == -libc::ECANCELED {
        // Cancelled by the runtime while it shuts down, during an unwind.
        Err(io::Error::new(io::ErrorKind::Interrupted, "operation cancelled: the runtime is shutting down"))
    } else {
        Ok(Err(io::Error::from_raw_os_error(-res)))
    }
}
