//! A socket's standing readiness registration on io_uring: one multishot poll, armed by the
//! first wait and kept until the registration is dropped, where a poll per wait would be armed
//! (and its wait-queue entry added and removed) again for every request. The kernel posts a
//! completion each time bytes arrive; the registration keeps the latest until its waiter looks.
//!
//! A completion comes when bytes arrive, not while they wait to be read: after one, the socket
//! may hold bytes that no completion will announce, until a read finds its queue empty and
//! says so ([`Readiness::drained`]). A wait that begins before that checks the socket itself
//! (one `poll(2)`), so a caller that reads part of what arrived and waits again is not left
//! waiting for bytes that are already there.
//!
//! The end of the stream is announced once too, and may come in the same completion as the
//! last bytes (the peer sends, then shuts its side down, before the poll reports): a read
//! that takes the bytes is short and says the queue is empty, and no completion follows for
//! the end that is still to be read. So the poll also asks for `POLLRDHUP`, and a completion
//! that reports the peer's shutdown (or a hang-up or error) is remembered for good: every
//! later wait returns at once, and the read finds the end. The kernel reports each wake-up's
//! own events, so the shutdown's completion may be followed by one that reports bytes only
//! (the wake-up of the data that came with it): completions that arrive before the waiter
//! looks are merged (`reactor/op.rs`), and the end is not lost behind them.
//!
//! The poll holds a reference to the socket's file: dropping the registration cancels it, and
//! the socket is released once that cancellation reaches the kernel (with the owning worker's
//! next submission, which follows within one turn of its scheduler).

use std::fmt;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use io_uring::{opcode, types};

use super::exchange::{Sending, cancelled, earliest, on_this_ring, readable, send_on};
use super::timed_out;
use crate::reactor::{Op, Standing, UringReactor, UringRemote};
use crate::scheduler::context;
use crate::sync::SpinLock;
use crate::task;

/// A socket's standing readiness registration for
/// [`send_all_then_readable`](super::send_all_then_readable), kept beside the socket and
/// dropped before it (or with it).
///
/// On io_uring the first wait arms a multishot poll on the worker's ring and later waits reuse
/// it; elsewhere (epoll, a plain thread) it holds nothing. One coroutine waits on it at a time;
/// a second waiting at the same time waits the usual way.
pub struct Readiness {
    reg: SpinLock<Option<Registration>>,
    /// `HOLDS`: the socket may hold bytes no completion will announce (a completion was taken
    /// since a read last found the queue empty). `ENDED`: a completion reported the peer's
    /// shutdown, a hang-up or an error, which no completion will announce again.
    state: AtomicU8,
}

/// A coroutine stolen from another worker moves its standing poll to its new worker's ring
/// when the old ring holds more than this many polls beyond the new one's.
const MOVE_MARGIN: usize = 2;

const HOLDS: u8 = 1;
const ENDED: u8 = 2;
/// What a completion reports for the end of the stream (or of the connection).
const END_EVENTS: i32 = (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) as i32;

struct Registration {
    op: Arc<Op>,
    /// The ring the poll is on.
    remote: Arc<UringRemote>,
    /// The thread that drove the ring's worker when the poll was armed: the kernel runs each
    /// of its completions' work there (`UringReactor::driven_by`).
    driver: u64,
}

impl Readiness {
    /// No registration yet.
    pub const fn new() -> Readiness {
        Readiness { reg: SpinLock::new(None), state: AtomicU8::new(0) }
    }

    /// Tells the registration that a read found the socket's receive queue empty: it returned
    /// `WouldBlock`, or fewer bytes than asked for (and not 0, the end of the stream). The
    /// next wait then needs no look at the socket of its own.
    #[inline]
    pub fn drained(&self) {
        let state = self.state.load(Ordering::Relaxed);
        if state & HOLDS != 0 {
            self.state.store(state & !HOLDS, Ordering::Relaxed);
        }
    }

    /// Whether bytes (or the end of the stream) are waiting to be read, looked at now (when
    /// a completion may not announce them).
    fn holds_bytes(&self, fd: RawFd) -> bool {
        match self.state.load(Ordering::Relaxed) {
            0 => return false,
            state if state & ENDED != 0 => return true,
            _ => {}
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, no waiting.
        let n = unsafe { crate::sys::raw::poll(&mut pfd, 1, 0) };
        if n == 0 {
            // Nothing there: bytes that arrive from now on bring a completion.
            self.state.store(0, Ordering::Relaxed);
        }
        n != 0
    }

    /// A completion with poll mask `events` was taken.
    fn reported(&self, events: i32) {
        let state = if events & END_EVENTS != 0 { HOLDS | ENDED } else { HOLDS };
        self.state.store(self.state.load(Ordering::Relaxed) | state, Ordering::Relaxed);
    }

    /// The standing poll, armed on `ring` unless one is still armed: that one is kept, even on
    /// another worker's ring (the coroutine was stolen from there), as long as the thread that
    /// armed it still drives that ring and that ring holds no more than `MOVE_MARGIN` standing
    /// polls beyond `ring`'s. Its completion then wakes the coroutine over there, back where its
    /// socket's events arrive, instead of moving the poll (a cancellation through the other
    /// worker's inbox and a new poll) after every steal: with both CPUs loaded, 3-4% less CPU
    /// per json request (`docs/benchmarks.md`). But a ring that holds more polls than the
    /// thief's moves them until the two are even: otherwise the worker that armed most of them
    /// (the acceptor's: 241 of 257 json connections) receives every wake-up for good, and the
    /// other runs its coroutines only by stealing them, batch after batch (10,000 steals a
    /// second; even, 1,100). A poll armed by a thread that no longer drives its ring (a
    /// hand-off since) is cancelled: each of its completions would wake that thread first, for
    /// as long as the socket lives.
    fn standing_on(&self, ring: &UringReactor, fd: RawFd) -> Arc<Op> {
        let mut reg = self.reg.lock();
        if let Some(r) = &*reg
            && !r.op.has_ended()
            && r.driver == r.remote.driver()
            && (Arc::ptr_eq(&r.remote, ring.remote()) || r.remote.standing() <= ring.remote().standing() + MOVE_MARGIN)
        {
            return r.op.clone();
        }
        if let Some(old) = reg.take() {
            old.cancel();
        }
        let entry = opcode::PollAdd::new(types::Fd(fd), (libc::POLLIN | libc::POLLRDHUP) as u32).multi(true).build();
        // SAFETY: a poll names no memory.
        let op = unsafe { ring.submit(entry) };
        // Arming looks at the socket: bytes (or an end) already there bring a completion at
        // once.
        self.state.store(0, Ordering::Relaxed);
        ring.remote().count_standing(true);
        *reg = Some(Registration { op: op.clone(), remote: ring.remote().clone(), driver: ring.driver() });
        op
    }
}

impl Registration {
    /// Cancels the poll unless the kernel is done with it: directly when this thread drives
    /// the worker whose ring it is on, else through that worker's inbox.
    fn cancel(self) {
        if self.op.has_ended() {
            return;
        }
        let worker = context::current_worker();
        if let Some(w) = worker.as_ref()
            && let Some(ring) = w.reactor().ring()
            && Arc::ptr_eq(ring.remote(), &self.remote)
        {
            ring.cancel(self.op.user_data());
            return;
        }
        self.remote.request_cancel(self.op.user_data());
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.remote.count_standing(false);
    }
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness::new()
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        if let Some(reg) = self.reg.lock().take() {
            reg.cancel();
        }
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let armed = self.reg.lock().as_ref().is_some_and(|r| !r.op.has_ended());
        f.debug_struct("Readiness").field("armed", &armed).finish()
    }
}

/// `send_all_then_readable` on io_uring with a standing poll: the send (if any) is queued and
/// the coroutine waits for the poll's next completion; `None` when the coroutine has no ring
/// to submit to right now (its worker was handed away).
///
/// # Safety
///
/// `out` must stay valid until this function returns (it returns only after the send it
/// started has completed; it never unwinds before).
pub(super) unsafe fn on_ring(
    fd: RawFd,
    out: &[u8],
    readiness: &Readiness,
    write_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
) -> Option<io::Result<io::Result<()>>> {
    let now = Instant::now();
    let write_deadline = write_timeout.and_then(|t| now.checked_add(t));
    let read_deadline = read_timeout.and_then(|t| now.checked_add(t));
    let ((mut standing, send), owner) = on_this_ring(|ring| {
        let standing = readiness.standing_on(ring, fd);
        // SAFETY: forwarded from our caller.
        let send = (!out.is_empty()).then(|| unsafe { send_on(ring, fd, out) });
        (standing, send)
    })?;
    // SAFETY: the waker stays in this frame, which ends before the coroutine does; what
    // waits on our behalf keeps clones (each with its own reference).
    let waker = unsafe { task::borrowed_waker() }.expect("in a coroutine");
    let mut send = Sending::new(out, send.map(|op| (op, owner)));
    // Bytes already waiting (a read left some): no wait.
    let mut waited: Option<io::Result<()>> = readiness.holds_bytes(fd).then_some(Ok(()));
    // How the wait ended; `elsewhere` when it must be made the usual way once the send is
    // done (another coroutine waits on the registration, or none could be armed).
    let mut elsewhere = false;
    // Whether our waker may be left with the poll (a completion takes it, with its event).
    let mut registered = false;
    let mut now = Some(now);
    loop {
        if waited.is_none() && !elsewhere {
            let look = standing.take_event_or_wait(&waker);
            registered = matches!(look, Standing::Pending);
            match look {
                Standing::Pending => {}
                Standing::Event { res } if res >= 0 => {
                    readiness.reported(res);
                    waited = Some(Ok(()));
                }
                // Cancelled by the runtime's shutdown.
                Standing::Event { res } if res == -libc::ECANCELED => waited = Some(Err(cancelled())),
                Standing::Event { res } => waited = Some(Err(io::Error::from_raw_os_error(-res))),
                // The kernel ended the poll with nothing to report: arm another.
                Standing::Ended => match on_this_ring(|ring| readiness.standing_on(ring, fd)) {
                    Some((op, _)) => {
                        standing = op;
                        continue;
                    }
                    None => elsewhere = true,
                },
                Standing::Busy => elsewhere = true,
            }
        }
        let received = waited.is_some() || elsewhere;
        // As in the exchange: a whole send completes quietly while the wait goes on.
        if send.look(&waker, received) {
            // Short: the rest, while the wait goes on.
            // SAFETY: `out` outlives this function, which waits for every send it starts.
            unsafe { send.send_rest(fd) };
            continue;
        }
        // A failed send makes the wait pointless; a cancellation ends it (the send goes on:
        // its response was due, and its completion must now wake us: look at it again).
        if waited.is_none() && !elsewhere && (send.failed() || task::cancel_pending()) {
            waited = Some(Err(cancelled()));
            continue;
        }
        if send.done() && (waited.is_some() || elsewhere) {
            break;
        }
        let sending = send.in_flight();
        let waiting = waited.is_none() && !elsewhere;
        let deadline = earliest(write_deadline.filter(|_| sending), read_deadline.filter(|_| waiting));
        match deadline {
            Some(d) => task::park_until_uncancellable(d, now.take()),
            None => task::park_uncancellable(),
        }
        now = None;
        // What is overdue: the send is cancelled (its completion still comes), the wait ends.
        // Not when what we waited for has come (the usual wake-up): that costs no clock reading.
        let progressed = (waiting && standing.has_event()) || send.completed();
        if deadline.is_some() && !progressed {
            let now = Instant::now();
            if write_deadline.is_some_and(|d| now >= d) {
                send.expire();
            }
            if waiting && read_deadline.is_some_and(|d| now >= d) {
                waited = Some(Err(timed_out()));
            }
        }
    }
    // Between waits the registration holds no task.
    if registered {
        standing.forget_waker(&waker);
    }
    task::unwind_if_cancelled();
    let sent = send.into_result();
    if elsewhere {
        let left = read_deadline.map(|d| d.saturating_duration_since(Instant::now()));
        // SAFETY: the caller's descriptor, borrowed for this whole call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        return Some(sent.map(|()| match left {
            Some(left) if left.is_zero() => Err(timed_out()),
            left => readable(fd, left),
        }));
    }
    Some(sent.map(|()| waited.expect("the loop ends with the wait's result")))
}
