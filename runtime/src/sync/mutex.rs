//! `Mutex`: mutual exclusion whose waiters suspend their coroutine, not their worker.
//!
//! # State
//!
//! One byte: `LOCKED` (someone holds it) and `PARKED` (the wait list may hold waiters).
//! Taking and releasing an uncontended mutex is one compare-and-swap each, as for
//! `std::sync::Mutex`.
//!
//! # Invariants
//!
//! - `PARKED` is set and cleared only under the wait-list lock, and is set whenever the list
//!   holds a waiter; an unlock that sees it wakes one waiter.
//! - A woken waiter competes again for the lock (no hand-off): a running coroutine may take
//!   it first, which keeps throughput up; the woken one waits again.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use super::SpinLock;
use super::wait::{self, Arm, Deadline};
use super::waiter::{WaitList, Waiter, WaiterCell};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

/// How many times a contended `lock` looks again before it waits: long enough to cover a
/// short critical section on another worker, short enough not to matter on one.
const SPINS: u32 = 32;

/// A mutual-exclusion lock for coroutines and threads.
///
/// `lock` returns the guard directly (there is no poisoning: a panic while holding the lock
/// just releases it). A coroutine that finds the lock taken is suspended and its worker runs
/// other coroutines; a plain thread blocks. Waiting is a cancellation point: a cancelled
/// coroutine leaves the wait queue as it unwinds. The guard may be held across suspension
/// points, and the coroutine may resume on another worker meanwhile.
///
/// ```
/// use std::sync::Arc;
/// use oc_runtime::sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0u64));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let counter = counter.clone();
///         oc_runtime::spawn(move || {
///             for _ in 0..100 {
///                 *counter.lock() += 1;
///             }
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 1000);
/// ```
pub struct Mutex<T: ?Sized> {
    state: AtomicU8,
    waiters: SpinLock<WaitList>,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `T` to one holder at a time, who may be on any thread.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above: `&Mutex<T>` gives exclusive access to `T` only through the lock.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new, unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex { state: AtomicU8::new(0), waiters: SpinLock::new(WaitList::new()), value: UnsafeCell::new(value) }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Takes the lock, waiting as long as it takes.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        if self.state.compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended(Deadline::Never);
        }
        MutexGuard { mutex: self }
    }

    /// Takes the lock if nobody holds it.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        // A guard made and dropped on failure would release someone else's hold.
        if self.try_lock_raw() { Some(MutexGuard { mutex: self }) } else { None }
    }

    /// Takes the lock, waiting at most `timeout`.
    pub fn try_lock_for(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        if self.try_lock_raw() || self.lock_contended(Deadline::after(timeout)) {
            Some(MutexGuard { mutex: self })
        } else {
            None
        }
    }

    /// Takes the lock from async code without blocking the executor's thread.
    pub fn lock_async(&self) -> LockFuture<'_, T> {
        LockFuture { arm: LockArm { mutex: self }, waiter: None }
    }

    /// Whether somebody holds the lock right now.
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// The value, through exclusive access to the mutex (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    #[inline]
    fn try_lock_raw(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & LOCKED == 0 {
            match self.state.compare_exchange_weak(state, state | LOCKED, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    #[cold]
    fn lock_contended(&self, deadline: Deadline) -> bool {
        for _ in 0..SPINS {
            std::hint::spin_loop();
            let state = self.state.load(Ordering::Relaxed);
            if state & PARKED != 0 {
                break; // others already wait: join them rather than barge
            }
            if state & LOCKED == 0 && self.try_lock_raw() {
                return true;
            }
        }
        wait::wait_arm(&mut LockArm { mutex: self }, deadline)
    }

    /// Takes the lock without unwinding on cancellation (see `Condvar::wait`).
    pub(crate) fn lock_uncancellable(&self) {
        let mut arm = LockArm { mutex: self };
        while !arm.attempt(None) {
            let cell = WaiterCell::new();
            if arm.attempt(Some((&cell, 0))) {
                return;
            }
            let waiter = cell.get();
            waiter.wait_uncancellable();
            waiter.abort();
            arm.withdraw(waiter);
        }
    }

    /// Releases the lock.
    ///
    /// # Safety
    ///
    /// The caller holds the lock and gives it up (its guard is gone or forgotten).
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self.state.compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed).is_err() {
            self.unlock_contended();
        }
    }

    #[cold]
    fn unlock_contended(&self) {
        let mut waiters = self.waiters.lock();
        let woken = waiters.claim_one();
        let state = if waiters.is_empty() { 0 } else { PARKED };
        self.state.store(state, Ordering::Release);
        drop(waiters);
        if let Some(waiter) = woken {
            waiter.wake();
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Mutex<T> {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_lock() {
            Some(guard) => f.debug_struct("Mutex").field("value", &&*guard).finish(),
            None => f.debug_struct("Mutex").field("value", &format_args!("<locked>")).finish(),
        }
    }
}

/// Taking the lock, as one operation of a wait.
struct LockArm<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

impl<T: ?Sized> Arm for LockArm<'_, T> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        let mutex = self.mutex;
        if mutex.try_lock_raw() {
            return true;
        }
        let Some((waiter, token)) = register else { return false };
        let mut waiters = mutex.waiters.lock();
        let mut state = mutex.state.load(Ordering::Relaxed);
        loop {
            let (next, taken) = if state & LOCKED == 0 { (state | LOCKED, true) } else { (state | PARKED, false) };
            match mutex.state.compare_exchange_weak(state, next, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) if taken => return true,
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        waiters.push(waiter.register(), token);
        false
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        let mut waiters = self.mutex.waiters.lock();
        if waiters.remove(waiter) && waiters.is_empty() {
            self.mutex.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
    }

    fn pass_on(&mut self) {
        let mut waiters = self.mutex.waiters.lock();
        if self.mutex.state.load(Ordering::Relaxed) & LOCKED != 0 {
            return; // the holder wakes the next one when it unlocks
        }
        let woken = waiters.claim_one();
        if waiters.is_empty() {
            self.mutex.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
        drop(waiters);
        if let Some(waiter) = woken {
            waiter.wake();
        }
    }

    fn withdraw_claimed(&mut self, _waiter: &Waiter) {
        // Its claimer popped the entry it claimed.
    }
}

/// Exclusive access to the value of a locked [`Mutex`]; unlocks when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

// SAFETY: a shared guard gives `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.mutex
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds the lock and is going away.
        unsafe { self.mutex.unlock() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The future of [`Mutex::lock_async`].
#[must_use = "futures do nothing unless polled"]
pub struct LockFuture<'a, T: ?Sized> {
    arm: LockArm<'a, T>,
    waiter: Option<Arc<Waiter>>,
}

impl<'a, T: ?Sized> Future for LockFuture<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = self.get_mut();
        wait::poll_arm(&mut this.arm, &mut this.waiter, cx).map(|()| MutexGuard { mutex: this.arm.mutex })
    }
}

impl<T: ?Sized> Drop for LockFuture<'_, T> {
    fn drop(&mut self) {
        wait::drop_arm(&mut self.arm, &mut self.waiter);
    }
}
