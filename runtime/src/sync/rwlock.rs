//! `RwLock`: many readers or one writer; waiting suspends the coroutine.
//!
//! # State
//!
//! Under one spin lock: the count of readers inside, whether a writer is inside, the queues
//! of waiting readers and writers, and `reader_batch`, set when a writer leaves and wakes the
//! readers that waited for it.
//!
//! # Invariants
//!
//! - A new reader is let in while no writer is inside and either no writer waits or a
//!   reader batch is open: writers are not starved by a stream of readers, and readers are
//!   not starved by a stream of writers (each writer's release lets the waiting readers in).
//! - The batch closes when a writer gets in.

use std::cell::UnsafeCell;
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::SpinLock;
use super::wait::{self, Arm, Deadline};
use super::waiter::{Claimed, WaitList, Waiter, WaiterCell, Woken};

/// A reader-writer lock for coroutines and threads; `read` and `write` return their guards
/// directly (no poisoning).
///
/// ```
/// use oc_runtime::sync::RwLock;
///
/// let lock = RwLock::new(vec![1, 2]);
/// {
///     let a = lock.read();
///     let b = lock.read(); // readers share
///     assert_eq!(a.len() + b.len(), 4);
/// }
/// lock.write().push(3);
/// assert_eq!(*lock.read(), [1, 2, 3]);
/// ```
pub struct RwLock<T: ?Sized> {
    inner: SpinLock<Inner>,
    value: UnsafeCell<T>,
}

struct Inner {
    readers: usize,
    writer: bool,
    reader_batch: bool,
    readers_q: WaitList,
    writers_q: WaitList,
}

impl Inner {
    fn may_read(&self) -> bool {
        !self.writer && (self.writers_q.is_empty() || self.reader_batch)
    }

    /// Whom to let in now that the lock changed hands.
    fn wake_next(&mut self) -> (Option<Claimed>, Option<Woken>) {
        if self.writer {
            return (None, None);
        }
        if self.readers == 0
            && let Some(w) = self.writers_q.claim_one()
        {
            return (Some(w), None);
        }
        if !self.readers_q.is_empty() && self.may_read() {
            return (None, Some(self.readers_q.claim_all()));
        }
        (None, None)
    }
}

fn wake((one, all): (Option<Claimed>, Option<Woken>)) {
    if let Some(w) = one {
        w.wake();
    }
    if let Some(all) = all {
        all.wake_all();
    }
}

// SAFETY: one writer or many readers at a time, from any thread.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers share `&T` across threads (needs `Sync`), a writer gets `&mut T` (`Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new, unlocked lock.
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            inner: SpinLock::new(Inner {
                readers: 0,
                writer: false,
                reader_batch: false,
                readers_q: WaitList::new(),
                writers_q: WaitList::new(),
            }),
            value: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Shared access, waiting while a writer holds or waits for the lock.
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        wait::wait_arm(&mut ReadArm { lock: self }, Deadline::Never);
        RwLockReadGuard { lock: self }
    }

    /// Shared access if it is free right now.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        // A guard made and dropped on failure would release someone else's hold.
        if (ReadArm { lock: self }).attempt(None) { Some(RwLockReadGuard { lock: self }) } else { None }
    }

    /// Shared access, waiting at most `timeout`.
    pub fn try_read_for(&self, timeout: Duration) -> Option<RwLockReadGuard<'_, T>> {
        // A guard made and dropped on failure would release someone else's hold.
        if wait::wait_arm(&mut ReadArm { lock: self }, Deadline::after(timeout)) {
            Some(RwLockReadGuard { lock: self })
        } else {
            None
        }
    }

    /// Exclusive access, waiting as long as it takes.
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        wait::wait_arm(&mut WriteArm { lock: self }, Deadline::Never);
        RwLockWriteGuard { lock: self }
    }

    /// Exclusive access if it is free right now.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        // A guard made and dropped on failure would release someone else's hold.
        if (WriteArm { lock: self }).attempt(None) { Some(RwLockWriteGuard { lock: self }) } else { None }
    }

    /// Exclusive access, waiting at most `timeout`.
    pub fn try_write_for(&self, timeout: Duration) -> Option<RwLockWriteGuard<'_, T>> {
        // A guard made and dropped on failure would release someone else's hold.
        if wait::wait_arm(&mut WriteArm { lock: self }, Deadline::after(timeout)) {
            Some(RwLockWriteGuard { lock: self })
        } else {
            None
        }
    }

    /// Shared access from async code.
    pub fn read_async(&self) -> ReadFuture<'_, T> {
        ReadFuture { arm: ReadArm { lock: self }, waiter: None }
    }

    /// Exclusive access from async code.
    pub fn write_async(&self) -> WriteFuture<'_, T> {
        WriteFuture { arm: WriteArm { lock: self }, waiter: None }
    }

    /// The value, through exclusive access to the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    fn read_unlock(&self) {
        let mut inner = self.inner.lock();
        inner.readers -= 1;
        let next = if inner.readers == 0 {
            inner.reader_batch = false;
            inner.wake_next()
        } else {
            (None, None)
        };
        drop(inner);
        wake(next);
    }

    fn write_unlock(&self) {
        let mut inner = self.inner.lock();
        inner.writer = false;
        // Readers that waited for this writer go first, then the next writer.
        let next = if inner.readers_q.is_empty() {
            inner.wake_next()
        } else {
            inner.reader_batch = true;
            (None, Some(inner.readers_q.claim_all()))
        };
        drop(inner);
        wake(next);
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_read() {
            Some(guard) => f.debug_struct("RwLock").field("value", &&*guard).finish(),
            None => f.debug_struct("RwLock").field("value", &format_args!("<locked>")).finish(),
        }
    }
}

struct ReadArm<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> Arm for ReadArm<'_, T> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        let mut inner = self.lock.inner.lock();
        if inner.may_read() {
            inner.readers += 1;
            return true;
        }
        if let Some((waiter, token)) = register {
            inner.readers_q.push(waiter.register(), token);
        }
        false
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        self.lock.inner.lock().readers_q.remove(waiter);
    }

    fn pass_on(&mut self) {
        let next = self.lock.inner.lock().wake_next();
        wake(next);
    }

    fn withdraw_claimed(&mut self, _waiter: &Waiter) {
        // Its claimer popped the entry it claimed.
    }
}

struct WriteArm<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

impl<T: ?Sized> Arm for WriteArm<'_, T> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        let mut inner = self.lock.inner.lock();
        if !inner.writer && inner.readers == 0 {
            inner.writer = true;
            inner.reader_batch = false;
            return true;
        }
        if let Some((waiter, token)) = register {
            inner.writers_q.push(waiter.register(), token);
        }
        false
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        let mut inner = self.lock.inner.lock();
        inner.writers_q.remove(waiter);
        // Readers held back only because this writer waited may go in now.
        let next = if inner.writers_q.is_empty() && !inner.writer && !inner.readers_q.is_empty() {
            (None, Some(inner.readers_q.claim_all()))
        } else {
            (None, None)
        };
        drop(inner);
        wake(next);
    }

    fn pass_on(&mut self) {
        let next = self.lock.inner.lock().wake_next();
        wake(next);
    }

    fn withdraw_claimed(&mut self, _waiter: &Waiter) {
        // Its claimer popped the entry it claimed.
    }
}

/// Shared access to an [`RwLock`]'s value; released when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: the guard gives `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: readers are inside, so no writer is.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.read_unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; released when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: a shared guard gives `&T` only.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer is alone inside.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the writer is alone inside.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.write_unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The future of [`RwLock::read_async`].
#[must_use = "futures do nothing unless polled"]
pub struct ReadFuture<'a, T: ?Sized> {
    arm: ReadArm<'a, T>,
    waiter: Option<Arc<Waiter>>,
}

impl<'a, T: ?Sized> Future for ReadFuture<'a, T> {
    type Output = RwLockReadGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RwLockReadGuard<'a, T>> {
        let this = self.get_mut();
        wait::poll_arm(&mut this.arm, &mut this.waiter, cx).map(|()| RwLockReadGuard { lock: this.arm.lock })
    }
}

impl<T: ?Sized> Drop for ReadFuture<'_, T> {
    fn drop(&mut self) {
        wait::drop_arm(&mut self.arm, &mut self.waiter);
    }
}

/// The future of [`RwLock::write_async`].
#[must_use = "futures do nothing unless polled"]
pub struct WriteFuture<'a, T: ?Sized> {
    arm: WriteArm<'a, T>,
    waiter: Option<Arc<Waiter>>,
}

impl<'a, T: ?Sized> Future for WriteFuture<'a, T> {
    type Output = RwLockWriteGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RwLockWriteGuard<'a, T>> {
        let this = self.get_mut();
        wait::poll_arm(&mut this.arm, &mut this.waiter, cx).map(|()| RwLockWriteGuard { lock: this.arm.lock })
    }
}

impl<T: ?Sized> Drop for WriteFuture<'_, T> {
    fn drop(&mut self) {
        wait::drop_arm(&mut self.arm, &mut self.waiter);
    }
}
