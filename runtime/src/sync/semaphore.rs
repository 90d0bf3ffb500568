//! `Semaphore`: a count of permits; taking one when none is left suspends the coroutine.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::SpinLock;
use super::wait::{self, Arm, Deadline};
use super::waiter::{WaitList, Waiter, WaiterCell};

/// A counting semaphore for coroutines and threads.
///
/// ```
/// use std::sync::Arc;
/// use oc_runtime::sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(2)); // at most two at a time
/// let handles: Vec<_> = (0..8)
///     .map(|_| {
///         let sem = sem.clone();
///         oc_runtime::spawn(move || {
///             let _permit = sem.acquire();
///             oc_runtime::sleep(std::time::Duration::from_millis(1));
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(sem.available_permits(), 2);
/// ```
pub struct Semaphore {
    inner: SpinLock<Inner>,
}

struct Inner {
    permits: usize,
    waiters: WaitList,
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub const fn new(permits: usize) -> Semaphore {
        Semaphore { inner: SpinLock::new(Inner { permits, waiters: WaitList::new() }) }
    }

    /// Takes a permit, waiting as long as it takes. Waiting is a cancellation point.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        let mut arm = AcquireArm { sem: self };
        wait::wait_arm(&mut arm, Deadline::Never);
        SemaphorePermit { sem: self }
    }

    /// Takes a permit if one is free.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        // A guard made and dropped on failure would release someone else's hold.
        if (AcquireArm { sem: self }).attempt(None) { Some(SemaphorePermit { sem: self }) } else { None }
    }

    /// Takes a permit, waiting at most `timeout`.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        let mut arm = AcquireArm { sem: self };
        // A guard made and dropped on failure would release someone else's hold.
        if wait::wait_arm(&mut arm, Deadline::after(timeout)) { Some(SemaphorePermit { sem: self }) } else { None }
    }

    /// Takes a permit from async code.
    pub fn acquire_async(&self) -> AcquireFuture<'_> {
        AcquireFuture { arm: AcquireArm { sem: self }, waiter: None }
    }

    /// Adds `n` permits, waking as many waiters.
    pub fn add_permits(&self, n: usize) {
        let mut inner = self.inner.lock();
        inner.permits = inner.permits.saturating_add(n);
        let mut woken = Vec::new();
        for _ in 0..n {
            match inner.waiters.claim_one() {
                Some(w) => woken.push(w),
                None => break,
            }
        }
        drop(inner);
        for w in woken {
            w.wake();
        }
    }

    /// How many permits are free right now.
    pub fn available_permits(&self) -> usize {
        self.inner.lock().permits
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore").field("permits", &self.available_permits()).finish()
    }
}

struct AcquireArm<'a> {
    sem: &'a Semaphore,
}

impl Arm for AcquireArm<'_> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        let mut inner = self.sem.inner.lock();
        if inner.permits > 0 {
            inner.permits -= 1;
            return true;
        }
        if let Some((waiter, token)) = register {
            inner.waiters.push(waiter.register(), token);
        }
        false
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        self.sem.inner.lock().waiters.remove(waiter);
    }

    fn pass_on(&mut self) {
        let mut inner = self.sem.inner.lock();
        let woken = if inner.permits > 0 { inner.waiters.claim_one() } else { None };
        drop(inner);
        if let Some(w) = woken {
            w.wake();
        }
    }

    fn withdraw_claimed(&mut self, _waiter: &Waiter) {
        // Its claimer popped the entry it claimed.
    }
}

/// A permit taken from a [`Semaphore`]; given back when dropped.
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good (the semaphore has one fewer).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.add_permits(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire_async`].
#[must_use = "futures do nothing unless polled"]
pub struct AcquireFuture<'a> {
    arm: AcquireArm<'a>,
    waiter: Option<Arc<Waiter>>,
}

impl<'a> Future for AcquireFuture<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let this = self.get_mut();
        wait::poll_arm(&mut this.arm, &mut this.waiter, cx).map(|()| SemaphorePermit { sem: this.arm.sem })
    }
}

impl Drop for AcquireFuture<'_> {
    fn drop(&mut self) {
        wait::drop_arm(&mut self.arm, &mut self.waiter);
    }
}
