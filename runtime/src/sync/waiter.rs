//! One waiting party, and the queues of them that every primitive in `sync` keeps.
//!
//! # State
//!
//! A [`Waiter`] is a word and a way to wake its owner (a coroutine, a plain thread or an
//! async task). The word starts at `WAITING`; exactly one party moves it away from there:
//!
//! - a *claimer* (whoever made progress possible: an unlock, a send, a close) moves it to
//!   `CLAIMED + token`, where the token names the operation that became possible (the arm of
//!   a `select!`), then wakes the owner;
//! - the owner itself moves it to `ABORTED` when it stops waiting (time-out, cancellation,
//!   a dropped future, another arm of its `select!` completed).
//!
//! # Invariants
//!
//! - A waiter sits in the queues of the primitives it waits on (under their locks) until
//!   either a claimer pops it or its owner withdraws it; a queue may still hold a waiter that
//!   is no longer `WAITING` (claimed through another queue, or aborted): claimers skip it.
//! - A claim is a promise that the owner retries its operation. An owner that leaves after
//!   being claimed without retrying (it unwinds) *passes the claim on* to the next waiter,
//!   so that no wake-up is lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;
use std::thread::Thread;
use std::time::Instant;

use super::SpinLock;

const WAITING: usize = 0;
const ABORTED: usize = usize::MAX;
const CLAIMED: usize = 1;

/// How a waiter's owner is woken.
enum Wake {
    /// A coroutine: its task waker queues it on the runtime.
    Coroutine(Waker),
    /// A plain thread blocked in `std::thread::park`.
    Thread(Thread),
    /// An async task: its latest waker (the executor may hand a new one to each poll).
    Async(SpinLock<Waker>),
    /// Kept for reuse by the next wait on this thread (holds no task reference).
    Idle,
}

thread_local! {
    /// One spent waiter per thread, reused by the next wait: a wait then allocates nothing.
    static SPARE: std::cell::Cell<Option<Arc<Waiter>>> = const { std::cell::Cell::new(None) };
}

crate::tls_accessor! {
    /// Takes this thread's spare waiter. Not inlined: a coroutine may resume on another thread
    /// between two uses, and the thread-local's address must be looked up afresh each time.
    fn take_spare() -> Option<Arc<Waiter>> {
        // During thread exit (a wait in another thread-local's destructor) there is none.
        SPARE.try_with(std::cell::Cell::take).ok().flatten()
    }
}

crate::tls_accessor! {
    fn put_spare(waiter: Arc<Waiter>) {
        // A destroyed thread-local (thread exit) just lets the waiter go.
        let _ = SPARE.try_with(|spare| spare.set(Some(waiter)));
    }
}

/// One waiting party (named by [`Arm`](super::wait::Arm); opaque outside the runtime).
#[doc(hidden)]
pub struct Waiter {
    state: AtomicUsize,
    /// Written only while the writer holds the only reference (see [`Waiter::unique`]), and
    /// by the claimer, which moves a coroutine's waker out to wake it by value.
    wake: std::cell::UnsafeCell<Wake>,
    /// Whether the owner is a coroutine: what the owner reads while it waits (never `wake`,
    /// which its claimer may be emptying meanwhile). Written with `wake` when unique.
    coroutine: std::cell::Cell<bool>,
}

// SAFETY: `wake` and `coroutine` are written only through the only reference to the waiter
// (`unique`), and `wake` otherwise only by the one claimer (see `wake`), which the owner
// does not race: it reads `coroutine` instead; `Wake`'s contents (wakers, a `Thread`, a spin
// lock) are thread-safe.
unsafe impl Sync for Waiter {}
// SAFETY: as above.
unsafe impl Send for Waiter {}

impl Waiter {
    /// A waiter for the caller: the running coroutine, or else the calling thread.
    pub(crate) fn current() -> Arc<Waiter> {
        let wake = match crate::task::can_suspend().then(crate::task::waker).flatten() {
            Some(waker) => Wake::Coroutine(waker),
            None => Wake::Thread(std::thread::current()),
        };
        let coroutine = matches!(wake, Wake::Coroutine(_));
        if let Some(spare) = take_spare() {
            // Only when nothing else refers to it (no queue holds a stale entry of it).
            if Waiter::unique(&spare) {
                spare.state.store(WAITING, Ordering::Relaxed);
                spare.coroutine.set(coroutine);
                // SAFETY: `spare` is the only reference (checked just above).
                unsafe { *spare.wake.get() = wake };
                return spare;
            }
        }
        Arc::new(Waiter {
            state: AtomicUsize::new(WAITING),
            wake: std::cell::UnsafeCell::new(wake),
            coroutine: std::cell::Cell::new(coroutine),
        })
    }

    /// Whether `waiter` is the only reference. No `Weak` is ever made of a waiter, so the
    /// strong count says it all; the fence orders our later writes after the last use by
    /// whoever dropped the other references (their decrements release).
    fn unique(waiter: &Arc<Waiter>) -> bool {
        let unique = Arc::strong_count(waiter) == 1;
        if unique {
            std::sync::atomic::fence(Ordering::Acquire);
        }
        unique
    }

    /// The owner is done with `waiter` (withdrawn everywhere): keep it for the next wait on
    /// this thread if nothing else refers to it. Drops its task reference either way.
    pub(crate) fn recycle(waiter: Arc<Waiter>) {
        if Waiter::unique(&waiter) {
            // SAFETY: the only reference (checked just above).
            unsafe { *waiter.wake.get() = Wake::Idle };
            put_spare(waiter);
        }
    }

    fn wake_ref(&self) -> &Wake {
        // SAFETY: `wake` is only written through the only reference, which is not `self`
        // while anyone else can call this.
        unsafe { &*self.wake.get() }
    }

    /// A waiter for an async task polled with `waker`.
    pub(crate) fn for_async(waker: &Waker) -> Arc<Waiter> {
        Arc::new(Waiter {
            state: AtomicUsize::new(WAITING),
            wake: std::cell::UnsafeCell::new(Wake::Async(SpinLock::new(waker.clone()))),
            coroutine: std::cell::Cell::new(false),
        })
    }

    /// Whether nobody has claimed or aborted the waiter yet.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Claims the waiter for operation `token`; `false` if it was claimed or aborted already.
    /// The claimer must then [`wake`](Waiter::wake) it (best after dropping its own locks).
    pub(crate) fn claim(&self, token: usize) -> bool {
        self.state.compare_exchange(WAITING, CLAIMED + token, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// The owner stops waiting. Returns `None` if nobody had claimed the waiter (it is now
    /// aborted), or the token it was claimed for.
    pub(crate) fn abort(&self) -> Option<usize> {
        // Once claimed, the word never changes again: a load spares the read-modify-write.
        let state = self.state.load(Ordering::Acquire);
        if state != WAITING {
            return if state == ABORTED { None } else { Some(state - CLAIMED) };
        }
        match self.state.compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => None,
            Err(ABORTED) => None,
            Err(claimed) => Some(claimed - CLAIMED),
        }
    }

    /// Wakes the owner (after a successful [`claim`](Waiter::claim)).
    pub(crate) fn wake(&self) {
        match self.wake_ref() {
            Wake::Coroutine(_) => {
                // By value: the waker's task reference goes to the run queue instead of being
                // dropped later.
                // SAFETY: after a successful claim, the claimer (the caller) alone touches
                // `wake` until it drops its reference to the waiter: the owner reads
                // `coroutine` while it waits, and rewrites `wake` only once it holds the only
                // reference. A claim happens once, so nothing else moves the waker out.
                let wake = unsafe { std::mem::replace(&mut *self.wake.get(), Wake::Idle) };
                if let Wake::Coroutine(waker) = wake {
                    waker.wake();
                }
            }
            Wake::Thread(thread) => thread.unpark(),
            Wake::Async(waker) => {
                let waker = waker.lock().clone();
                waker.wake();
            }
            Wake::Idle => {}
        }
    }

    /// An async owner was polled again, maybe with a new waker; keeps the latest.
    pub(crate) fn set_waker(&self, new: &Waker) {
        if let Wake::Async(waker) = self.wake_ref() {
            let mut waker = waker.lock();
            if !waker.will_wake(new) {
                *waker = new.clone();
            }
        }
    }

    /// Blocks the owner (suspends the coroutine, or parks the thread) until the waiter is
    /// claimed (`true`) or `deadline` passes (`false`). A cancelled coroutine unwinds here:
    /// the caller's guard must withdraw the waiter.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> bool {
        loop {
            if !self.is_waiting() {
                return true;
            }
            match (self.coroutine.get(), deadline) {
                (true, None) => crate::task::park_forever(),
                (true, Some(deadline)) => {
                    if Instant::now() >= deadline {
                        return !self.is_waiting();
                    }
                    crate::task::park_until(deadline);
                }
                (false, None) => std::thread::park(),
                (false, Some(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return !self.is_waiting();
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// As [`wait`](Waiter::wait) with no deadline, but a cancelled coroutine does not unwind
    /// here (it does at its next suspension point): for waits that must finish, such as
    /// re-taking a mutex in `Condvar::wait`.
    pub(crate) fn wait_uncancellable(&self) {
        while self.is_waiting() {
            if self.coroutine.get() { crate::task::park_uncancellable() } else { std::thread::park() }
        }
    }
}

/// The waiter of one wait, made only when an operation must register it (a wait whose
/// first attempt succeeds makes none).
#[doc(hidden)]
pub struct WaiterCell {
    cell: std::cell::OnceCell<Arc<Waiter>>,
    /// The operations stay in place until their registrations are withdrawn (a blocking
    /// wait's, on the waiting stack), so a claimer may write a result into them.
    pinned: bool,
}

impl WaiterCell {
    /// A cell for a blocking wait: makes the caller's waiter ([`Waiter::current`]) on first
    /// use; the waiting operations stay in place while registered.
    pub(crate) fn new() -> WaiterCell {
        WaiterCell { cell: std::cell::OnceCell::new(), pinned: true }
    }

    /// A cell holding an async wait's `waiter`: the future may move between polls.
    pub(crate) fn for_async(waiter: Arc<Waiter>) -> WaiterCell {
        WaiterCell { cell: std::cell::OnceCell::from(waiter), pinned: false }
    }

    /// Whether the operations registered with this cell stay in place while registered.
    pub(crate) fn pinned(&self) -> bool {
        self.pinned
    }

    /// The waiter, made now if need be.
    pub(crate) fn get(&self) -> &Arc<Waiter> {
        self.cell.get_or_init(Waiter::current)
    }

    /// The waiter, if it was made.
    pub(crate) fn made(&self) -> Option<&Arc<Waiter>> {
        self.cell.get()
    }

    pub(crate) fn into_inner(self) -> Option<Arc<Waiter>> {
        self.cell.into_inner()
    }
}

/// A FIFO queue of waiters, each with the token a claim gives it. Kept under the lock of the
/// primitive that owns it.
pub(crate) struct WaitList {
    queue: VecDeque<(Arc<Waiter>, usize)>,
}

impl WaitList {
    pub(crate) const fn new() -> WaitList {
        WaitList { queue: VecDeque::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn push(&mut self, waiter: &Arc<Waiter>, token: usize) {
        self.queue.push_back((waiter.clone(), token));
    }

    /// Removes every entry of `waiter`; returns whether there was one.
    pub(crate) fn remove(&mut self, waiter: &Arc<Waiter>) -> bool {
        let before = self.queue.len();
        self.queue.retain(|(w, _)| !Arc::ptr_eq(w, waiter));
        self.queue.len() != before
    }

    /// Pops waiters until one can be claimed, and returns it for the caller to wake. Entries
    /// that can no longer be claimed are dropped on the way.
    pub(crate) fn claim_one(&mut self) -> Option<Arc<Waiter>> {
        while let Some((waiter, token)) = self.queue.pop_front() {
            if waiter.claim(token) {
                return Some(waiter);
            }
        }
        None
    }

    /// Empties the queue, claiming every waiter that can be: the caller wakes them (best
    /// after dropping its lock) with [`Woken::wake_all`].
    pub(crate) fn claim_all(&mut self) -> Woken {
        let mut woken = Woken(Vec::with_capacity(self.queue.len()));
        for (waiter, token) in self.queue.drain(..) {
            if waiter.claim(token) {
                woken.0.push(waiter);
            }
        }
        woken
    }
}

/// Claimed waiters to wake once the claimer's lock is released.
#[must_use]
pub(crate) struct Woken(Vec<Arc<Waiter>>);

impl Woken {
    pub(crate) fn wake_all(self) {
        for waiter in self.0 {
            waiter.wake();
        }
    }
}
