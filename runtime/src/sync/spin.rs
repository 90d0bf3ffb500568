//! A tiny lock for runtime-internal state held for a handful of instructions.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// A test-and-test-and-set lock with exponential back-off that yields the thread after
/// spinning a while.
///
/// Use it only for critical sections that never block and never call user code.
pub(crate) struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out one guard at a time, so `T` is reached from one thread at a time.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the `T`.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    pub(crate) const fn new(value: T) -> SpinLock<T> {
        SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    /// Takes the lock. A coroutine holding it cannot be preempted by a signal (another
    /// coroutine on the same thread would spin on it forever).
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        crate::task::no_preempt_enter();
        if self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_slow();
        }
        SpinGuard { lock: self }
    }

    #[cold]
    fn lock_slow(&self) {
        let mut rounds = 0u32;
        loop {
            // Back off before looking again, longer after each failed round (1, 2, 4 .. 512
            // pauses), then yield the thread: waiters that keep rereading the word keep its
            // cache line moving between CPUs and slow down the holder's release. Measured in
            // docs/sync.md ("On an idle machine, and the spin lock's back-off").
            if rounds < 10 {
                for _ in 0..1u32 << rounds {
                    std::hint::spin_loop();
                }
                rounds += 1;
            } else {
                std::thread::yield_now();
            }
            if !self.locked.load(Ordering::Relaxed)
                && self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok()
            {
                return;
            }
        }
    }
}

/// Access to the locked value; unlocks on drop.
pub(crate) struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: holding the guard means holding the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: holding the guard means holding the lock.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
        crate::task::no_preempt_exit();
    }
}
