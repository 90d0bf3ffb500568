//! One waiting party, and the queues of them that every primitive in `sync` keeps.
//!
//! # State
//!
//! A [`Waiter`] is a word and a way to wake its owner (a coroutine, a plain thread or an
//! async task). The word starts at `WAITING`; exactly one party moves it away from there:
//!
//! - a *claimer* (whoever made progress possible: an unlock, a send, a close) moves it to
//!   `CLAIMED + token`, where the token names the operation that became possible (the arm of
//!   a `select!`), then wakes the owner, and marks the word `WOKEN` as its last touch;
//! - the owner itself moves it to `ABORTED` when it stops waiting (time-out, cancellation,
//!   a dropped future, another arm of its `select!` completed).
//!
//! # Lifetime
//!
//! A blocking wait keeps its waiter on the waiting stack (an async one in an `Arc` its
//! future holds), and the queues name it by an uncounted [`WaiterRef`]. That is sound
//! because:
//!
//! - a claimer touches the waiter through a queue entry only under the lock of that queue,
//!   while the entry is queued; its owner withdraws every entry (under each queue's lock)
//!   before the waiter goes;
//! - a claimer that succeeded holds a [`Claimed`], which it may use after dropping the lock:
//!   it moves the means of waking out and marks the word `WOKEN`, after which it touches
//!   the waiter no more; the waiter's `Drop` waits for that mark.
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
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Waker;
use std::thread::Thread;
use std::time::Instant;

use super::SpinLock;

const WAITING: usize = 0;
const ABORTED: usize = usize::MAX;
const CLAIMED: usize = 1;
/// Set beside `CLAIMED + token` by the claimer once it is done with the waiter.
const WOKEN: usize = 1 << (usize::BITS - 2);

/// How a waiter's owner is woken.
enum Wake {
    /// A coroutine: its task waker queues it on the runtime.
    Coroutine(Waker),
    /// A plain thread blocked in `std::thread::park`.
    Thread(Thread),
    /// An async task: its latest waker (the executor may hand a new one to each poll).
    Async(SpinLock<Waker>),
    /// Moved out by the claimer.
    Taken,
}

/// One waiting party (named by [`Arm`](super::wait::Arm); opaque outside the runtime).
///
/// Queues refer to it without counting (see the module's "Lifetime"): it must stay in place
/// from its first registration until it is dropped.
#[doc(hidden)]
pub struct Waiter {
    state: AtomicUsize,
    /// Read by the owner only for an async wait's waker (behind its spin lock), emptied by
    /// the claimer after its claim (see [`Claimed`]), dropped with the waiter.
    wake: std::cell::UnsafeCell<Wake>,
    /// Whether the owner is a coroutine: what the owner reads while it waits.
    coroutine: bool,
}

// SAFETY: `wake` is touched by the one claimer between its claim and its `WOKEN` mark (the
// owner reads only `coroutine` meanwhile, and an async waker behind its spin lock), and by
// the owner's drop after the mark; `Wake`'s contents are thread-safe.
unsafe impl Sync for Waiter {}
// SAFETY: as above.
unsafe impl Send for Waiter {}

impl Waiter {
    /// A waiter for the caller: the running coroutine, or else the calling thread.
    pub(crate) fn current() -> Waiter {
        let wake = match crate::task::can_suspend().then(crate::task::waker).flatten() {
            Some(waker) => Wake::Coroutine(waker),
            None => Wake::Thread(std::thread::current()),
        };
        let coroutine = matches!(wake, Wake::Coroutine(_));
        Waiter { state: AtomicUsize::new(WAITING), wake: std::cell::UnsafeCell::new(wake), coroutine }
    }

    /// A waiter for an async task polled with `waker`.
    pub(crate) fn for_async(waker: &Waker) -> Arc<Waiter> {
        Arc::new(Waiter {
            state: AtomicUsize::new(WAITING),
            wake: std::cell::UnsafeCell::new(Wake::Async(SpinLock::new(waker.clone()))),
            coroutine: false,
        })
    }

    /// An entry for a queue.
    ///
    /// # Safety
    ///
    /// The caller keeps `self` in place until it is dropped, and withdraws the entry (under
    /// the queue's lock) before that unless a claimer popped it.
    pub(crate) unsafe fn entry(&self) -> WaiterRef {
        WaiterRef(NonNull::from(self))
    }

    /// Whether nobody has claimed or aborted the waiter yet.
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// The owner stops waiting. Returns `None` if nobody had claimed the waiter (it is now
    /// aborted), or the token it was claimed for.
    pub(crate) fn abort(&self) -> Option<usize> {
        // Once claimed, only the claimer's mark changes the word: a load spares the
        // read-modify-write.
        let state = self.state.load(Ordering::Acquire);
        if state != WAITING {
            return if state == ABORTED { None } else { Some((state & !WOKEN) - CLAIMED) };
        }
        match self.state.compare_exchange(WAITING, ABORTED, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => None,
            Err(ABORTED) => None,
            Err(claimed) => Some((claimed & !WOKEN) - CLAIMED),
        }
    }

    /// An async owner was polled again, maybe with a new waker; keeps the latest.
    pub(crate) fn set_waker(&self, new: &Waker) {
        // SAFETY: an async waiter's `Wake` stays `Async` (claimers clone its waker under the
        // spin lock instead of moving it out), so this shared read races no write.
        if let Wake::Async(waker) = unsafe { &*self.wake.get() } {
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
            match (self.coroutine, deadline) {
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
            if self.coroutine { crate::task::park_uncancellable() } else { std::thread::park() }
        }
    }
}

impl Drop for Waiter {
    /// Waits, if the waiter was claimed, for its claimer to be done with it (the `WOKEN`
    /// mark): a few instructions after the claim, unless the claimer's thread lost its CPU
    /// there.
    fn drop(&mut self) {
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state == WAITING || state == ABORTED || state & WOKEN != 0 {
                return;
            }
            if crate::task::can_suspend() {
                // Not a cancellation point: this may run while the coroutine unwinds.
                crate::task::yield_uncancellable();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// A queue's reference to a [`Waiter`]: not counted (see the module's "Lifetime"); valid
/// while it is queued, for whoever holds that queue's lock.
pub(crate) struct WaiterRef(NonNull<Waiter>);

// SAFETY: the waiter is `Sync`; the reference is used only under the rules above.
unsafe impl Send for WaiterRef {}
// SAFETY: as above.
unsafe impl Sync for WaiterRef {}

impl WaiterRef {
    /// Whether this entry names `waiter`.
    pub(crate) fn is(&self, waiter: &Waiter) -> bool {
        std::ptr::eq(self.0.as_ptr(), waiter)
    }

    /// Claims the waiter for operation `token`; `None` if it was claimed or aborted already.
    /// Called under the lock of the queue that holds this entry. The claim wakes the owner
    /// when it is dropped (best after dropping that lock).
    pub(crate) fn claim(&self, token: usize) -> Option<Claimed> {
        // SAFETY: the entry is queued and the caller holds its queue's lock: the owner has not
        // withdrawn it, so the waiter is alive.
        let waiter = unsafe { self.0.as_ref() };
        let claimed = CLAIMED + token;
        debug_assert!(claimed & WOKEN == 0, "token out of range");
        waiter.state.compare_exchange(WAITING, claimed, Ordering::AcqRel, Ordering::Acquire).ok()?;
        Some(Claimed { waiter: self.0, state: claimed })
    }
}

/// A successful claim: wakes the owner when dropped (or by [`wake`](Claimed::wake)).
#[must_use = "dropping a claim wakes its owner at once"]
pub(crate) struct Claimed {
    waiter: NonNull<Waiter>,
    state: usize,
}

// SAFETY: the waiter is `Sync`, and stays alive until the claim's `WOKEN` mark.
unsafe impl Send for Claimed {}

impl Claimed {
    /// Wakes the owner.
    pub(crate) fn wake(self) {
        drop(self);
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        // SAFETY: the owner's waiter waits for the `WOKEN` mark below before it goes.
        let waiter = unsafe { self.waiter.as_ref() };
        let woken = self.state | WOKEN;
        // SAFETY: after the claim only this claimer writes `wake`, until its mark; an async
        // owner's `set_waker` only reads it (and locks the waker), so an async waker is
        // cloned rather than moved out.
        if let Wake::Async(waker) = unsafe { &*waiter.wake.get() } {
            let waker = waker.lock().clone();
            // The last touch: from here the owner may drop the waiter.
            waiter.state.store(woken, Ordering::Release);
            waker.wake();
            return;
        }
        // SAFETY: as above.
        let wake = unsafe { std::mem::replace(&mut *waiter.wake.get(), Wake::Taken) };
        // The last touch: from here the owner may drop the waiter.
        waiter.state.store(woken, Ordering::Release);
        match wake {
            // By value: the coroutine's task reference goes to the run queue.
            Wake::Coroutine(waker) => waker.wake(),
            Wake::Thread(thread) => thread.unpark(),
            Wake::Async(_) | Wake::Taken => {}
        }
    }
}

/// The waiter of one wait, made only when an operation must register it (a wait whose
/// first attempt succeeds makes none). A blocking wait's cell holds the waiter itself, so
/// the cell must stay in place while anything is registered with it.
#[doc(hidden)]
pub struct WaiterCell {
    cell: std::cell::OnceCell<Waiter>,
    /// An async wait's waiter (the future keeps it between polls).
    shared: Option<Arc<Waiter>>,
}

impl WaiterCell {
    /// A cell for a blocking wait: makes the caller's waiter ([`Waiter::current`]) on first
    /// use, in place.
    pub(crate) fn new() -> WaiterCell {
        WaiterCell { cell: std::cell::OnceCell::new(), shared: None }
    }

    /// A cell holding an async wait's `waiter`: the future may move between polls.
    pub(crate) fn for_async(waiter: Arc<Waiter>) -> WaiterCell {
        WaiterCell { cell: std::cell::OnceCell::new(), shared: Some(waiter) }
    }

    /// Whether the operations registered with this cell stay in place while registered (a
    /// blocking wait's, on the waiting stack).
    pub(crate) fn pinned(&self) -> bool {
        self.shared.is_none()
    }

    /// The waiter, made now if need be.
    pub(crate) fn get(&self) -> &Waiter {
        match &self.shared {
            Some(waiter) => waiter,
            None => self.cell.get_or_init(Waiter::current),
        }
    }

    /// An entry for a queue, naming the waiter (made now if need be).
    pub(crate) fn register(&self) -> WaiterRef {
        // SAFETY: the wait drivers (`wait.rs`, `Mutex::lock_uncancellable`) keep a blocking
        // cell in place until it is dropped, an async waiter sits in its `Arc`, and every
        // driver withdraws its registrations before the waiter goes.
        unsafe { self.get().entry() }
    }

    /// The waiter, if it was made.
    pub(crate) fn made(&self) -> Option<&Waiter> {
        match &self.shared {
            Some(waiter) => Some(waiter),
            None => self.cell.get(),
        }
    }

    /// An async wait's waiter, for its future to keep.
    pub(crate) fn into_shared(self) -> Option<Arc<Waiter>> {
        self.shared
    }
}

/// A FIFO queue of waiters, each with the token a claim gives it. Kept under the lock of the
/// primitive that owns it.
pub(crate) struct WaitList {
    queue: VecDeque<(WaiterRef, usize)>,
}

impl WaitList {
    pub(crate) const fn new() -> WaitList {
        WaitList { queue: VecDeque::new() }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn push(&mut self, waiter: WaiterRef, token: usize) {
        self.queue.push_back((waiter, token));
    }

    /// Removes every entry of `waiter`; returns whether there was one.
    pub(crate) fn remove(&mut self, waiter: &Waiter) -> bool {
        let before = self.queue.len();
        self.queue.retain(|(w, _)| !w.is(waiter));
        self.queue.len() != before
    }

    /// Pops waiters until one can be claimed, and returns the claim for the caller to wake.
    /// Entries that can no longer be claimed are dropped on the way.
    pub(crate) fn claim_one(&mut self) -> Option<Claimed> {
        while let Some((waiter, token)) = self.queue.pop_front() {
            if let Some(claimed) = waiter.claim(token) {
                return Some(claimed);
            }
        }
        None
    }

    /// Empties the queue, claiming every waiter that can be: the caller wakes them (best
    /// after dropping its lock) with [`Woken::wake_all`].
    pub(crate) fn claim_all(&mut self) -> Woken {
        let mut woken = Woken(Vec::with_capacity(self.queue.len()));
        for (waiter, token) in self.queue.drain(..) {
            if let Some(claimed) = waiter.claim(token) {
                woken.0.push(claimed);
            }
        }
        woken
    }
}

/// Claimed waiters to wake once the claimer's lock is released.
#[must_use]
pub(crate) struct Woken(Vec<Claimed>);

impl Woken {
    pub(crate) fn wake_all(self) {
        for claimed in self.0 {
            claimed.wake();
        }
    }
}
