//! `WaitGroup`: wait until a count of outstanding jobs drops to zero (Go's `sync.WaitGroup`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::SpinLock;
use super::wait::{self, Arm, Deadline};
use super::waiter::{WaitList, Waiter, WaiterCell};

/// A counter of outstanding jobs that coroutines and threads can wait on. Clones share the
/// count.
///
/// ```
/// use oc_runtime::sync::WaitGroup;
///
/// let wg = WaitGroup::new();
/// for _ in 0..4 {
///     wg.add(1);
///     let wg = wg.clone();
///     oc_runtime::spawn(move || {
///         oc_runtime::sleep(std::time::Duration::from_millis(1));
///         wg.done();
///     });
/// }
/// wg.wait();
/// assert_eq!(wg.count(), 0);
/// ```
#[derive(Clone)]
pub struct WaitGroup {
    inner: Arc<SpinLock<Inner>>,
}

struct Inner {
    count: usize,
    waiters: WaitList,
}

impl WaitGroup {
    /// A wait group with a count of zero.
    pub fn new() -> WaitGroup {
        WaitGroup { inner: Arc::new(SpinLock::new(Inner { count: 0, waiters: WaitList::new() })) }
    }

    /// Adds `n` outstanding jobs.
    pub fn add(&self, n: usize) {
        let mut inner = self.inner.lock();
        inner.count = inner.count.saturating_add(n);
    }

    /// One job is done; the waiters go on when the count reaches zero.
    ///
    /// # Panics
    ///
    /// Panics if the count is already zero (more `done` than `add`), as Go does.
    pub fn done(&self) {
        let mut inner = self.inner.lock();
        if inner.count == 0 {
            drop(inner);
            panic!("WaitGroup::done called more times than WaitGroup::add");
        }
        inner.count -= 1;
        if inner.count == 0 {
            let woken = inner.waiters.claim_all();
            drop(inner);
            woken.wake_all();
        }
    }

    /// The count of outstanding jobs.
    pub fn count(&self) -> usize {
        self.inner.lock().count
    }

    /// Waits until the count is zero. Waiting is a cancellation point.
    pub fn wait(&self) {
        wait::wait_arm(&mut ZeroArm { group: self }, Deadline::Never);
    }

    /// Waits at most `timeout`; returns whether the count reached zero.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        wait::wait_arm(&mut ZeroArm { group: self }, Deadline::after(timeout))
    }

    /// Waits from async code.
    pub fn wait_async(&self) -> WaitGroupFuture<'_> {
        WaitGroupFuture { arm: ZeroArm { group: self }, waiter: None }
    }
}

impl Default for WaitGroup {
    fn default() -> WaitGroup {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup").field("count", &self.count()).finish()
    }
}

struct ZeroArm<'a> {
    group: &'a WaitGroup,
}

impl Arm for ZeroArm<'_> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        let mut inner = self.group.inner.lock();
        if inner.count == 0 {
            return true;
        }
        if let Some((waiter, token)) = register {
            inner.waiters.push(waiter.register(), token);
        }
        false
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        self.group.inner.lock().waiters.remove(waiter);
    }

    fn pass_on(&mut self) {}

    fn withdraw_claimed(&mut self, _waiter: &Waiter) {
        // Its claimer popped the entry it claimed.
    }
}

/// The future of [`WaitGroup::wait_async`].
#[must_use = "futures do nothing unless polled"]
pub struct WaitGroupFuture<'a> {
    arm: ZeroArm<'a>,
    waiter: Option<Arc<Waiter>>,
}

impl Future for WaitGroupFuture<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        wait::poll_arm(&mut this.arm, &mut this.waiter, cx)
    }
}

impl Drop for WaitGroupFuture<'_> {
    fn drop(&mut self) {
        wait::drop_arm(&mut self.arm, &mut self.waiter);
    }
}
