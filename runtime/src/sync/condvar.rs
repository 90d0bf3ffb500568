//! `Condvar`: wait for a condition guarded by a [`Mutex`], suspending the coroutine.

use std::fmt;
use std::time::{Duration, Instant};

use super::SpinLock;
use super::mutex::{Mutex, MutexGuard};
use super::waiter::{WaitList, Waiter};

/// A condition variable for coroutines and threads, used with [`Mutex`].
///
/// `wait` releases the mutex, suspends the caller until a notification (or spuriously), and
/// takes the mutex again before it returns, so callers check their condition in a loop (or
/// use [`Condvar::wait_while`]). A cancelled coroutine unwinds out of `wait` holding the
/// mutex again, so its guard's destructor releases it as usual.
///
/// ```
/// use std::sync::Arc;
/// use oc_runtime::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = pair.clone();
/// let h = oc_runtime::spawn(move || {
///     let (ready, cv) = &*pair2;
///     let mut ready = ready.lock();
///     cv.wait_while(&mut ready, |r| !*r);
///     "woken"
/// });
/// *pair.0.lock() = true;
/// pair.1.notify_all();
/// assert_eq!(h.join().unwrap(), "woken");
/// ```
pub struct Condvar {
    waiters: SpinLock<WaitList>,
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Condvar {
        Condvar { waiters: SpinLock::new(WaitList::new()) }
    }

    /// Releases `guard`'s mutex, waits for a notification, and takes the mutex again.
    pub fn wait<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>) {
        self.wait_until_inner(guard, None);
    }

    /// As [`wait`](Condvar::wait), for at most `timeout`; returns `true` if it timed out.
    pub fn wait_for<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>, timeout: Duration) -> bool {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => !self.wait_until_inner(guard, Some(deadline)),
            None => {
                self.wait(guard);
                false
            }
        }
    }

    /// Waits while `condition` holds for the guarded value.
    pub fn wait_while<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>, mut condition: impl FnMut(&mut T) -> bool) {
        while condition(&mut **guard) {
            self.wait(guard);
        }
    }

    /// As [`wait_while`](Condvar::wait_while), for at most `timeout`; returns `true` if it
    /// timed out with the condition still holding.
    pub fn wait_while_for<T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        while condition(&mut **guard) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return true;
            }
            self.wait_until_inner(guard, deadline);
        }
        false
    }

    /// Wakes one waiter, if any.
    pub fn notify_one(&self) -> bool {
        let woken = self.waiters.lock().claim_one();
        woken.map(|w| w.wake()).is_some()
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        let woken = self.waiters.lock().claim_all();
        woken.wake_all();
    }

    /// Returns whether it was notified.
    fn wait_until_inner<T: ?Sized>(&self, guard: &mut MutexGuard<'_, T>, deadline: Option<Instant>) -> bool {
        let mutex = guard.mutex();
        let waiter = Waiter::current();
        // SAFETY: `waiter` stays in this frame until it is dropped, and `Relock` withdraws
        // the entry (or a claimer popped it) before that, on every way out.
        self.waiters.lock().push(unsafe { waiter.entry() }, 0);
        // SAFETY: the guard holds the lock; `Relock` takes it again before the guard can be
        // used or dropped, on every path out of here (including an unwinding cancellation).
        unsafe { mutex.unlock() };
        let relock = Relock { condvar: self, waiter: &waiter, mutex };
        let notified = waiter.wait(deadline);
        drop(relock);
        notified
    }
}

/// On every way out of `wait`: leaves the wait list and takes the mutex again. A waiter that
/// unwinds after being notified passes the notification on.
struct Relock<'a, T: ?Sized> {
    condvar: &'a Condvar,
    waiter: &'a Waiter,
    mutex: &'a Mutex<T>,
}

impl<T: ?Sized> Drop for Relock<'_, T> {
    fn drop(&mut self) {
        match self.waiter.abort() {
            None => {
                self.condvar.waiters.lock().remove(self.waiter);
            }
            Some(_) if std::thread::panicking() => {
                self.condvar.notify_one();
            }
            Some(_) => {}
        }
        self.mutex.lock_uncancellable();
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
