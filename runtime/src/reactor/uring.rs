//! The io_uring backend: one ring per worker.
//!
//! # State
//!
//! - `ring`, `slots`, `unsubmitted`: owned by the worker; touched only on its thread.
//! - `Op`: shared between the coroutine that waits for an operation and the reactor that
//!   completes it; its state sits behind a spin lock held for a few instructions.
//! - `UringRemote`: what other threads may use: the wake-up eventfd, and an inbox of
//!   cancellation requests (a coroutine that must abandon an operation may run on another
//!   worker by then, and only the owning worker may submit to its ring).
//!
//! # Invariants
//!
//! - Every buffer, iovec, address and timespec an operation names stays alive until its
//!   completion arrives: the submitting coroutine waits for the completion without being
//!   cancellable (a time-out or cancellation submits `ASYNC_CANCEL` and still waits), and the
//!   reactor holds the `Op` until then. Deadlines are the runtime's timers, not time-outs
//!   linked to operations in the kernel.
//! - A slot's `user_data` carries a generation, so a late cancellation request cannot hit a
//!   later operation that reused the slot.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use io_uring::{IoUring, cqueue, opcode, squeue, types};

pub(crate) use super::op::{Op, Standing};

/// `user_data` of the multishot poll on the wake-up eventfd. The poll is armed again when
/// another thread comes to drive the worker, under the other token, so that the last
/// completion of the one it replaces is told apart.
const WAKE_TOKENS: [u64; 2] = [u64::MAX, u64::MAX - 2];
/// `user_data` of completions nobody waits for (cancellations).
const IGNORE_TOKEN: u64 = u64::MAX - 1;
const SQ_ENTRIES: u32 = 256;
const CQ_ENTRIES: u32 = 4096;

/// The part of a worker's ring that other threads may use.
pub(crate) struct UringRemote {
    eventfd: OwnedFd,
    notified: AtomicBool,
    cancels: Mutex<Vec<u64>>,
    /// Descriptors closed on other threads, each with the count of submissions this ring had
    /// seen by then: cancel the operations submitted before on them.
    closed: Mutex<Vec<(i32, u64)>>,
    /// Submissions so far (written by the owning worker only).
    submitted: std::sync::atomic::AtomicU64,
    has_cancels: AtomicBool,
    /// The thread that drives the ring's worker (`context::thread_token`), 0 before the
    /// first: written by that thread only (`UringReactor::driven_by`), read by any.
    driver: std::sync::atomic::AtomicU64,
    /// The owning worker sleeps (or is about to) in `io_uring_enter`. A request for it
    /// (a cancellation, a closed descriptor) wakes it only then: a worker that runs takes the
    /// requests at its next poll, within one turn of its scheduler. Waking a running worker
    /// for each (a coroutine that moved to another worker cancels its standing poll on the
    /// old ring) was one eventfd write per 15 requests of the TechEmpower json test with two
    /// workers.
    parked: AtomicBool,
    /// Sockets' standing polls registered on this ring (`io/standing.rs`): counted up when
    /// one is armed here, down when its registration goes, from any thread.
    standing: AtomicUsize,
}

impl UringRemote {
    /// The thread that drives the ring's worker (`UringReactor::driver`), read from any thread.
    pub(crate) fn driver(&self) -> u64 {
        self.driver.load(Ordering::Acquire)
    }

    /// Counts a standing poll registered on this ring, or one gone (`up == false`).
    pub(crate) fn count_standing(&self, up: bool) {
        if up {
            self.standing.fetch_add(1, Ordering::Relaxed);
        } else {
            self.standing.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The standing polls registered on this ring now.
    pub(crate) fn standing(&self) -> usize {
        self.standing.load(Ordering::Relaxed)
    }

    pub(crate) fn unpark(&self) {
        if !self.notified.swap(true, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a valid u64 to our eventfd.
            unsafe { crate::sys::raw::write(self.eventfd.as_raw_fd(), (&raw const one).cast(), 8) };
        }
    }

    /// Asks the owning worker to cancel the operation `user_data` (from any thread).
    pub(crate) fn request_cancel(&self, user_data: u64) {
        self.cancels.lock().unwrap_or_else(|e| e.into_inner()).push(user_data);
        self.requested();
    }

    /// A request was queued: wakes the owning worker if it sleeps. With `park`'s store of
    /// `parked` and load of `has_cancels` (both sequentially consistent), either this sees
    /// the worker parked or the worker sees the request before it sleeps.
    fn requested(&self) {
        self.has_cancels.store(true, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            // Force a wake-up even if one is pending, so the request is seen promptly.
            self.notified.store(false, Ordering::SeqCst);
            self.unpark();
        }
    }
}

impl UringRemote {
    /// `fd` is being closed on another thread: the owning worker cancels the operations its
    /// coroutines submitted on it so far (their waiters see `EBADF`). Operations submitted
    /// after this call are spared: the number may name a new file by then.
    pub(crate) fn close_fd_remote(&self, fd: i32) {
        let upto = self.submitted.load(Ordering::Acquire);
        self.closed.lock().unwrap_or_else(|e| e.into_inner()).push((fd, upto));
        self.requested();
    }
}

struct Slot {
    generation: u32,
    op: Option<Arc<Op>>,
    /// The ring's submission count before this operation.
    seq: u64,
}

pub(crate) struct UringReactor {
    ring: RefCell<IoUring>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    in_flight: Cell<usize>,
    /// Submissions so far (mirrored in `UringRemote::submitted`).
    seq: Cell<u64>,
    unsubmitted: Cell<u32>,
    wake_armed: Cell<bool>,
    /// Which of `WAKE_TOKENS` the wake-up poll is armed (or to be armed) under.
    wake_token: Cell<u64>,
    remote: Arc<UringRemote>,
    ready: RefCell<Vec<Waker>>,
    /// The remote's cancellation requests and closed descriptors, taken (`take_cancel_requests`).
    taken_cancels: RefCell<Vec<u64>>,
    taken_closed: RefCell<Vec<(i32, u64)>>,
}

/// At most this many finished operations are kept for reuse, per thread.
const SPARE_OPS: usize = 256;

thread_local! {
    /// Finished operations nobody else holds, for the next submissions on this thread: an
    /// operation then costs no allocation.
    static SPARE: RefCell<Vec<Arc<Op>>> = const { RefCell::new(Vec::new()) };
}

crate::tls_accessor! {
    /// Gives back an operation its waiter is done with (it has the result, or no longer wants
    /// it), to be reused by this thread's next submission if nobody else holds it.
    ///
    /// Never inlined: a coroutine may move to another thread between two calls in one function,
    /// and the compiler must not reuse the thread-local's address across them.
    pub(crate) fn recycle(mut op: Arc<Op>) {
        // Unique: the ring has let go too (the check synchronises with its drop).
        if Arc::get_mut(&mut op).is_some() {
            let _ = SPARE.try_with(|spare| {
                let mut spare = spare.borrow_mut();
                if spare.len() < SPARE_OPS {
                    spare.push(op);
                }
            });
        }
    }
}

crate::tls_accessor! {
    /// A finished operation given back on this thread, if there is one.
    fn reused_op() -> Option<Arc<Op>> {
        SPARE.try_with(|spare| spare.borrow_mut().pop()).ok().flatten()
    }
}

/// An operation without result (completing quietly with `quiet`): one given back on this
/// thread (no allocation), else a new one.
fn fresh_op(quiet: Option<i32>) -> Arc<Op> {
    if let Some(mut op) = reused_op() {
        // Only unique operations are given back, and nobody can have cloned one since: the
        // check proves it, and lets the operation be rewritten without its lock.
        if let Some(unique) = Arc::get_mut(&mut op) {
            *unique = Op::new(quiet);
            return op;
        }
    }
    Arc::new(Op::new(quiet))
}

/// Whether the kernel takes `IORING_RECVSEND_POLL_FIRST` on receives (Linux 5.19, as the
/// cooperative task running rings are built with).
static RECV_POLL_FIRST: AtomicBool = AtomicBool::new(false);

/// The `ioprio` of a socket receive submitted without trying the system call first: wait for
/// readiness before the first receive attempt (the socket was just found empty or its peer has
/// not answered yet), which spares the kernel a failed attempt. 0 on kernels before 5.19.
pub(crate) fn recv_ioprio() -> u16 {
    if RECV_POLL_FIRST.load(Ordering::Relaxed) { 1 } else { 0 }
}

impl UringReactor {
    pub(crate) fn new() -> io::Result<(UringReactor, Arc<UringRemote>)> {
        // Cooperative task running (Linux 5.19): the kernel does not interrupt a busy worker to
        // finish an operation; the work runs at the worker's next system call, or when it
        // sees IORING_SQ_TASKRUN and enters the kernel for it.
        //
        // Not set, though measured (docs/benchmarks.md, "Ring set-up flags"): SINGLE_ISSUER,
        // DEFER_TASKRUN and a registered ring descriptor. A ring is submitted to by whichever
        // thread drives its worker, and a hand-off gives that role to a carrier (a frozen
        // thread takes it back later). On a SINGLE_ISSUER ring the kernel refuses, with
        // EEXIST, every submission or wait and every io_uring_register (a synchronous cancel
        // too) from any thread but the one that enabled it; with DEFER_TASKRUN the completions'
        // task work runs only in that thread's io_uring_enter. A worker handed off because its
        // thread is stuck could then neither submit, nor cancel its coroutines' operations
        // (time-outs, closes, shutdown), nor with DEFER_TASKRUN see them complete, until the
        // stuck thread comes back: what hand-off exists to avoid. A ring per thread instead
        // leaves the operations in flight on the stuck thread's ring out of reach the same way.
        // Nor did the flags pay: side by side (80 rounds each), CPU per request moved by less
        // than 1% on json and plaintext, and DEFER_TASKRUN doubles the io_uring_enter calls per
        // json request (0.10 to 0.21), as its task work waits for an enter of its own where
        // cooperative task work rides on the coroutines' own receive system calls.
        let ring = match IoUring::builder()
            .setup_cqsize(CQ_ENTRIES)
            .setup_clamp()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(SQ_ENTRIES)
        {
            Ok(ring) => {
                // Linux 5.19 or later: receives can start with a readiness poll.
                RECV_POLL_FIRST.store(true, Ordering::Relaxed);
                ring
            }
            Err(_) => IoUring::builder().setup_cqsize(CQ_ENTRIES).setup_clamp().build(SQ_ENTRIES)?,
        };
        if !ring.params().is_feature_ext_arg() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks timed waits (IORING_FEAT_EXT_ARG, Linux 5.11)",
            ));
        }
        if !ring.params().is_feature_nodrop() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, "io_uring may drop completions (Linux 5.5)"));
        }
        let eventfd = crate::sys::eventfd()?;
        let remote = Arc::new(UringRemote {
            eventfd,
            notified: AtomicBool::new(false),
            cancels: Mutex::new(Vec::new()),
            closed: Mutex::new(Vec::new()),
            submitted: std::sync::atomic::AtomicU64::new(0),
            has_cancels: AtomicBool::new(false),
            driver: std::sync::atomic::AtomicU64::new(0),
            parked: AtomicBool::new(false),
            standing: AtomicUsize::new(0),
        });
        let reactor = UringReactor {
            ring: RefCell::new(ring),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            in_flight: Cell::new(0),
            seq: Cell::new(0),
            unsubmitted: Cell::new(0),
            wake_armed: Cell::new(false),
            wake_token: Cell::new(WAKE_TOKENS[0]),
            remote: remote.clone(),
            ready: RefCell::new(Vec::new()),
            taken_cancels: RefCell::new(Vec::new()),
            taken_closed: RefCell::new(Vec::new()),
        };
        Ok((reactor, remote))
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// The thread `token` drives the worker from now on (its first thread, a carrier after a
    /// hand-off, a frozen thread taking it back). The kernel runs the completion work of an
    /// operation in the thread that submitted it (cooperatively, at that thread's next
    /// system call, or by interrupting its sleep): an operation that lives long, such as a
    /// socket's standing poll, must be submitted again by the new driver, or every completion
    /// of it wakes a thread that no longer drives the worker (`io/standing.rs`).
    ///
    /// The ring's own wake-up poll is moved at once: it lives as long as the ring.
    pub(crate) fn driven_by(&self, token: u64) {
        // Only the driving thread writes it (a load and a store, no locked swap).
        let before = self.remote.driver.load(Ordering::Relaxed);
        self.remote.driver.store(token, Ordering::Release);
        if before != 0 && before != token && self.wake_armed.get() {
            let old = self.wake_token.get();
            self.cancel(old);
            self.wake_token.set(if old == WAKE_TOKENS[0] { WAKE_TOKENS[1] } else { WAKE_TOKENS[0] });
            self.wake_armed.set(false);
            self.arm_wake();
        }
    }

    /// The thread that drives the worker now (`driven_by`).
    #[inline]
    pub(crate) fn driver(&self) -> u64 {
        self.remote.driver.load(Ordering::Relaxed)
    }

    /// What other threads use to reach this ring.
    pub(crate) fn remote(&self) -> &Arc<UringRemote> {
        &self.remote
    }

    /// Queues `entry` (its `user_data` is assigned here).
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must stay valid until the returned operation has a result.
    pub(crate) unsafe fn submit(&self, entry: squeue::Entry) -> Arc<Op> {
        let (op, entry) = self.track(entry, None);
        self.push(&[entry]);
        op
    }

    /// `submit`, with a completion whose result is `quiet` waking nobody (see [`Op::new`]).
    ///
    /// # Safety
    ///
    /// As for `submit`.
    pub(crate) unsafe fn submit_quiet(&self, entry: squeue::Entry, quiet: i32) -> Arc<Op> {
        let (op, entry) = self.track(entry, Some(quiet));
        self.push(&[entry]);
        op
    }

    /// `fd` is being closed (`upto`: only operations submitted before the ring's submission
    /// count reached it; `u64::MAX` for all): cancels the operations its coroutines wait on
    /// with `fd` (recorded by `Op::waits_on`), whose waiters then see `EBADF`. A cancellation
    /// by `user_data` does not need the descriptor, so it may reach the kernel after the close.
    pub(crate) fn cancel_waits_on(&self, fd: i32, upto: u64) {
        let targets: Vec<u64> = self
            .slots
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.seq < upto && s.op.as_ref().is_some_and(|op| op.fd.get() == fd))
            .map(|(i, s)| (u64::from(s.generation) << 32) | i as u64)
            .collect();
        for user_data in targets {
            self.cancel(user_data);
        }
    }

    /// Queues two entries at once (`submit_quiet` and `submit`, with one look at the
    /// submission queue).
    ///
    /// # Safety
    ///
    /// As for `submit`, for both entries.
    pub(crate) unsafe fn submit_pair(
        &self,
        first: squeue::Entry,
        first_quiet: i32,
        second: squeue::Entry,
    ) -> (Arc<Op>, Arc<Op>) {
        let ((a, first), (b, second)) = (self.track(first, Some(first_quiet)), self.track(second, None));
        self.push(&[first, second]);
        (a, b)
    }

    /// An operation in a slot for `entry` (completing quietly with `quiet`), and the entry
    /// marked with the slot's `user_data`.
    fn track(&self, entry: squeue::Entry, quiet: Option<i32>) -> (Arc<Op>, squeue::Entry) {
        let op = fresh_op(quiet);
        let user_data = self.insert(op.clone());
        op.user_data.set(user_data);
        (op, entry.user_data(user_data))
    }

    /// Queues a cancellation of the operation `user_data` (on this worker's ring).
    pub(crate) fn cancel(&self, user_data: u64) {
        let entry = opcode::AsyncCancel::new(user_data).build().user_data(IGNORE_TOKEN);
        self.push(&[entry]);
    }

    /// Cancels every operation in flight.
    pub(crate) fn cancel_all(&self) {
        let targets: Vec<u64> = self
            .slots
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.op.is_some())
            .map(|(i, s)| (u64::from(s.generation) << 32) | i as u64)
            .collect();
        for user_data in targets {
            self.cancel(user_data);
        }
        self.flush();
    }

    fn insert(&self, op: Arc<Op>) -> u64 {
        let mut slots = self.slots.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                slots.push(Slot { generation: 0, op: None, seq: 0 });
                (slots.len() - 1) as u32
            }
        };
        let slot = &mut slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.op = Some(op);
        let seq = self.seq.get();
        slot.seq = seq;
        self.seq.set(seq + 1);
        self.remote.submitted.store(seq + 1, Ordering::Release);
        self.in_flight.set(self.in_flight.get() + 1);
        (u64::from(slot.generation) << 32) | u64::from(index)
    }

    /// Gives a completion with more to come to the standing operation `user_data` names,
    /// which keeps its slot; returns the waker to wake.
    fn event(&self, user_data: u64, res: i32) -> Option<Waker> {
        let index = (user_data & 0xffff_ffff) as usize;
        let generation = (user_data >> 32) as u32;
        let slots = self.slots.borrow();
        let slot = slots.get(index)?;
        if slot.generation != generation {
            return None;
        }
        slot.op.as_ref()?.event(res)
    }

    fn take(&self, user_data: u64) -> Option<Arc<Op>> {
        let index = (user_data & 0xffff_ffff) as usize;
        let generation = (user_data >> 32) as u32;
        let mut slots = self.slots.borrow_mut();
        let slot = slots.get_mut(index)?;
        if slot.generation != generation {
            return None;
        }
        let op = slot.op.take()?;
        self.free.borrow_mut().push(index as u32);
        self.in_flight.set(self.in_flight.get() - 1);
        Some(op)
    }

    fn push(&self, entries: &[squeue::Entry]) {
        loop {
            let pushed = {
                let mut ring = self.ring.borrow_mut();
                let mut sq = ring.submission();
                if sq.capacity() - sq.len() >= entries.len() {
                    // SAFETY: the caller of `submit` keeps the entries' memory alive until
                    // completion; cancellations and polls name no memory.
                    unsafe { sq.push_multiple(entries).is_ok() }
                } else {
                    false
                }
            };
            if pushed {
                self.unsubmitted.set(self.unsubmitted.get() + entries.len() as u32);
                return;
            }
            // The submission queue is full: hand it to the kernel and try again.
            self.flush();
            self.poll();
        }
    }

    /// Hands queued submissions to the kernel.
    pub(crate) fn flush(&self) {
        if self.unsubmitted.get() == 0 {
            return;
        }
        loop {
            if self.ring.borrow_mut().submission().is_empty() {
                break;
            }
            let result = self.ring.borrow().submit();
            match result {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                // Completions overflowed: reap them, then retry.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    self.poll();
                }
                Err(e) => {
                    // Nothing sensible is left to do with the queued entries; their waiters
                    // would hang, so fail loudly.
                    panic!("io_uring submit failed: {e}");
                }
            }
        }
        self.unsubmitted.set(0);
    }

    fn arm_wake(&self) {
        if !self.wake_armed.get() {
            let entry = opcode::PollAdd::new(types::Fd(self.remote.eventfd.as_raw_fd()), libc::POLLIN as u32)
                .multi(true)
                .build()
                .user_data(self.wake_token.get());
            self.push(&[entry]);
            self.wake_armed.set(true);
        }
    }

    fn take_cancel_requests(&self) {
        // A load first: requests are rare, and a swap on every poll is not free.
        if self.remote.has_cancels.load(Ordering::Relaxed) && self.remote.has_cancels.swap(false, Ordering::AcqRel) {
            super::take_swapped(&self.taken_cancels, &self.remote.cancels, |user_data| self.cancel(user_data));
            super::take_swapped(&self.taken_closed, &self.remote.closed, |(fd, upto)| self.cancel_waits_on(fd, upto));
        }
    }

    /// Reaps completions and wakes their waiters. Returns whether anything completed.
    pub(crate) fn poll(&self) -> bool {
        self.take_cancel_requests();
        // Completions waiting for task work (cooperative task running): enter the kernel.
        let taskrun = self.ring.borrow_mut().submission().taskrun();
        // The usual case between IO: nothing to reap and nothing to wake.
        if !taskrun && self.ring.borrow_mut().completion().is_empty() {
            return false;
        }
        if taskrun {
            let _ = self.ring.borrow().submit();
            self.unsubmitted.set(0);
        }
        let mut ready = self.ready.borrow_mut();
        {
            let mut ring = self.ring.borrow_mut();
            let mut drained_wake = false;
            for cqe in ring.completion() {
                match cqe.user_data() {
                    token if WAKE_TOKENS.contains(&token) => {
                        drained_wake = true;
                        if !cqueue::more(cqe.flags()) && token == self.wake_token.get() {
                            self.wake_armed.set(false);
                        }
                    }
                    IGNORE_TOKEN => {}
                    user_data if cqueue::more(cqe.flags()) => {
                        if let Some(waker) = self.event(user_data, cqe.result()) {
                            ready.push(waker);
                        }
                    }
                    user_data => {
                        if let Some(op) = self.take(user_data)
                            && let Some(waker) = op.complete(cqe.result())
                        {
                            ready.push(waker);
                        }
                    }
                }
            }
            if drained_wake {
                let mut buf = 0u64;
                // SAFETY: reading 8 bytes into a valid u64 from our non-blocking eventfd.
                unsafe { crate::sys::raw::read(self.remote.eventfd.as_raw_fd(), (&raw mut buf).cast(), 8) };
            }
        }
        let wakers = std::mem::take(&mut *ready);
        drop(ready);
        let any = !wakers.is_empty();
        super::epoll::wake_all(&self.ready, wakers);
        any
    }

    /// Sleeps in `io_uring_enter` until a completion, a wake-up or the time-out. The
    /// completions are reaped by the next `poll`.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        self.take_cancel_requests();
        self.arm_wake();
        if self.remote.notified.swap(false, Ordering::SeqCst) || timeout == Some(Duration::ZERO) {
            self.flush();
            return;
        }
        let pending = self.ring.borrow_mut().completion().len();
        self.remote.parked.store(true, Ordering::SeqCst);
        if self.remote.has_cancels.load(Ordering::SeqCst) {
            // A request came in after the look above: take it instead of sleeping.
            self.remote.parked.store(false, Ordering::SeqCst);
            self.flush();
            return;
        }
        if pending == 0 {
            let result = {
                let ring = self.ring.borrow();
                let submitter = ring.submitter();
                match timeout {
                    Some(t) => {
                        let ts = types::Timespec::from(t);
                        let args = types::SubmitArgs::new().timespec(&ts);
                        submitter.submit_with_args(1, &args)
                    }
                    None => submitter.submit_and_wait(1),
                }
            };
            match result {
                Ok(_) => self.unsubmitted.set(0),
                Err(e) => match e.raw_os_error() {
                    // Time-out, signal, overflowed completions: all mean "look at the queue".
                    // Whatever the kernel did not consume is submitted again.
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN) => self.flush(),
                    _ => panic!("io_uring wait failed: {e}"),
                },
            }
        } else {
            self.flush();
        }
        self.remote.parked.store(false, Ordering::SeqCst);
        self.remote.notified.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A ring, or `None` (the test is skipped) where the kernel has none, unless
    /// `OC_REQUIRE_IO_URING` says it must.
    fn ring() -> Option<(UringReactor, Arc<UringRemote>)> {
        match UringReactor::new() {
            Ok(pair) => Some(pair),
            Err(e) if std::env::var_os("OC_REQUIRE_IO_URING").is_none() => {
                eprintln!("skipped: no io_uring here ({e})");
                None
            }
            Err(e) => panic!("io_uring is required here: {e}"),
        }
    }

    #[test]
    fn taken_requests_leave_their_lists_room_for_the_next() {
        let Some((ring, remote)) = ring() else { return };
        // Two rounds: the lists swap with the ring's, and after both each has held requests.
        for round in 0..2 {
            for user_data in 0..100 {
                remote.request_cancel(user_data);
                remote.close_fd_remote(1_000 + user_data as i32);
            }
            ring.poll();
            assert!(remote.cancels.lock().unwrap().is_empty(), "round {round}: requests left");
            assert!(remote.closed.lock().unwrap().is_empty(), "round {round}: descriptors left");
        }
        // Requests made under the lock from now on find room: no allocation there.
        assert!(remote.cancels.lock().unwrap().capacity() >= 100);
        assert!(remote.closed.lock().unwrap().capacity() >= 100);
        ring.flush();
        ring.park(Some(Duration::from_millis(100)));
        ring.poll();
    }

    #[test]
    fn requests_wake_the_owning_worker_only_while_it_sleeps() {
        let Some((ring, remote)) = ring() else { return };
        // The owner runs: the request waits for its next poll, with no wake-up.
        remote.request_cancel(12_345);
        assert!(remote.has_cancels.load(Ordering::SeqCst));
        assert!(!remote.notified.load(Ordering::SeqCst), "a running worker was woken");
        ring.poll();
        assert!(!remote.has_cancels.load(Ordering::SeqCst), "the poll took the request");
        // Its cancellation (of nothing) completes: reaped here, so that the ring is quiet.
        ring.park(Some(Duration::from_millis(200)));
        ring.poll();
        // The owner sleeps: a request from another thread wakes it at once.
        let requester = {
            let remote = remote.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                while !remote.parked.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(10) {
                    std::thread::yield_now();
                }
                std::thread::sleep(Duration::from_millis(20));
                remote.request_cancel(67_890);
            })
        };
        let start = Instant::now();
        ring.park(Some(Duration::from_secs(20)));
        let slept = start.elapsed();
        requester.join().unwrap();
        // The request is taken with the completions, after the sleep.
        ring.poll();
        assert!(slept < Duration::from_secs(10), "the request did not wake the worker ({slept:?})");
        assert!(!remote.has_cancels.load(Ordering::SeqCst), "the wake-up took the request");
        assert!(!remote.parked.load(Ordering::SeqCst));
    }
}
