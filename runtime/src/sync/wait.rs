//! How every primitive waits: an operation that can be tried, and a waiter registered under
//! the primitive's lock when the try fails. One driver blocks (a coroutine or a thread), the
//! same driver runs `select!` over several operations, and one poll function makes any of
//! them a `Future`.

use std::cell::Cell;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::waiter::{Waiter, WaiterCell};

/// One operation of a `select!` or of a single wait (a receive, a send, a lock).
///
/// Implemented by the primitives of `oc_runtime::sync`; not meant to be implemented
/// elsewhere (it names a runtime-internal type).
#[doc(hidden)]
pub trait Arm {
    /// Tries the operation once and keeps its outcome; `true` if it completed (or can never
    /// complete, e.g. the channel is disconnected: the outcome says so). When it cannot
    /// proceed yet and `register` is given, registers that waiter with its token, under the
    /// same lock as the check, so that no progress is missed.
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool;
    /// Removes `waiter`'s registration if it is still there. A send gets its value back, or
    /// learns that a receiver took it (then the next `attempt` reports the send done).
    fn withdraw(&mut self, waiter: &Waiter);
    /// The owner was claimed for this operation but leaves without retrying it (it unwinds,
    /// or another operation completed first): wake another waiter if this one could proceed.
    fn pass_on(&mut self);
    /// As [`withdraw`](Arm::withdraw), after `waiter` was claimed for this very operation.
    /// Operations whose claimers always remove the entry they claim skip the look-up.
    fn withdraw_claimed(&mut self, waiter: &Waiter) {
        self.withdraw(waiter);
    }
}

/// When a wait gives up.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Deadline {
    /// Do not wait at all (`select!`'s `default` arm, `try_*`).
    Now,
    /// At this instant.
    At(Instant),
    /// Never.
    Never,
}

impl Deadline {
    /// The deadline `timeout` from now (a time-out past the end of time never comes).
    pub fn after(timeout: std::time::Duration) -> Deadline {
        Instant::now().checked_add(timeout).map_or(Deadline::Never, Deadline::At)
    }
}

thread_local! {
    static SEED: Cell<u64> = const { Cell::new(0) };
}

crate::tls_accessor! {
    /// A cheap random number below `n` (a per-thread xorshift), for `select!`'s fair start.
    fn random_below(n: usize) -> usize {
        // During thread exit the seed is gone: start at the first arm then.
        SEED.try_with(|seed| {
            let mut x = seed.get();
            if x == 0 {
                // Different per thread and per run: the thread-local's address and the clock.
                let clock =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
                x = (seed as *const Cell<u64> as u64) ^ clock ^ 0x9e37_79b9_7f4a_7c15;
                x |= 1;
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            seed.set(x);
            (x % n as u64) as usize
        })
        .unwrap_or(0)
    }
}

/// Runs whichever of `arms` can complete first and returns its index, or `None` once the
/// deadline passes. Ready arms are tried from a random start so that none is favoured.
///
/// Waiting suspends the coroutine (or blocks the thread) and is a cancellation point: the
/// registrations are withdrawn as the coroutine unwinds.
#[doc(hidden)]
pub fn select_arms(arms: &mut [&mut dyn Arm], deadline: Deadline) -> Option<usize> {
    let n = arms.len();
    if n == 0 {
        return wait_for_nothing(deadline);
    }
    let start = if n > 1 { random_below(n) } else { 0 };
    // A single operation tries itself first when it registers (under the same lock).
    if n > 1
        && let Some(k) = try_all(arms, start)
    {
        return Some(k);
    }
    let deadline = match deadline {
        Deadline::Now => return if n == 1 && arms[0].attempt(None) { Some(0) } else { None },
        Deadline::At(at) => Some(at),
        Deadline::Never => None,
    };
    loop {
        // The waiter lives in `cell`, here, until every registration is withdrawn.
        let cell = WaiterCell::new();
        match wait_once(arms, start, &cell, deadline) {
            Once::Done(k) => return Some(k),
            Once::TimedOut => return None,
            Once::Again => {}
        }
    }
}

enum Once {
    Done(usize),
    TimedOut,
    Again,
}

/// Attempts every arm, registering the waiter (made on first need) with those that cannot
/// proceed; waits once, and withdraws it everywhere.
fn wait_once(arms: &mut [&mut dyn Arm], start: usize, cell: &WaiterCell, deadline: Option<Instant>) -> Once {
    let n = arms.len();
    let mut registered = 0;
    let mut done = None;
    for i in 0..n {
        let k = (start + i) % n;
        if arms[k].attempt(Some((cell, k))) {
            done = Some(k);
            break;
        }
        registered += 1;
    }
    if let Some(k) = done {
        let Some(waiter) = cell.made() else {
            return Once::Done(k); // registered nowhere
        };
        let claimed = waiter.abort();
        for i in 0..registered {
            arms[(start + i) % n].withdraw(waiter);
        }
        if let Some(j) = claimed.filter(|&j| j != k) {
            arms[j].pass_on();
        }
        return Once::Done(k);
    }
    let waiter = cell.get();
    let guard = Registered { arms, waiter };
    waiter.wait(deadline);
    let arms = guard.defuse();
    let claimed = waiter.abort();
    for (i, arm) in arms.iter_mut().enumerate() {
        if claimed == Some(i) { arm.withdraw_claimed(waiter) } else { arm.withdraw(waiter) }
    }
    match claimed {
        // `wait` returns unclaimed only at the deadline.
        None => Once::TimedOut,
        Some(k) => {
            if arms[k].attempt(None) {
                return Once::Done(k);
            }
            if n > 1
                && let Some(k) = try_all(arms, start)
            {
                return Once::Done(k);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) { Once::TimedOut } else { Once::Again }
        }
    }
}

fn try_all(arms: &mut [&mut dyn Arm], start: usize) -> Option<usize> {
    let n = arms.len();
    (0..n).map(|i| (start + i) % n).find(|&k| arms[k].attempt(None))
}

/// A `select!` without operations: waits for its time-out (or for ever, cancellably).
fn wait_for_nothing(deadline: Deadline) -> Option<usize> {
    match deadline {
        Deadline::Now => {}
        Deadline::At(at) => crate::task::sleep_until(at),
        Deadline::Never => loop {
            crate::task::sleep(std::time::Duration::from_secs(3600));
        },
    }
    None
}

/// Withdraws a waiter's registrations if the wait unwinds (a cancelled coroutine), passing
/// a claim on.
struct Registered<'a, 'b> {
    arms: &'a mut [&'b mut dyn Arm],
    waiter: &'a Waiter,
}

impl<'a, 'b> Registered<'a, 'b> {
    /// The wait returned normally: the caller takes over.
    fn defuse(self) -> &'a mut [&'b mut dyn Arm] {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the reference is moved out exactly once.
        unsafe { std::ptr::read(&this.arms) }
    }
}

impl Drop for Registered<'_, '_> {
    fn drop(&mut self) {
        let claimed = self.waiter.abort();
        for arm in self.arms.iter_mut() {
            arm.withdraw(self.waiter);
        }
        if let Some(k) = claimed {
            self.arms[k].pass_on();
        }
    }
}

/// Waits until `arm` completes or `deadline` passes; returns whether it completed.
///
/// The one-operation case of [`select_arms`] (the same steps, without the start index, the
/// other arms and dynamic dispatch): what every blocking `recv`, `send` and `lock` runs.
pub(crate) fn wait_arm<A: Arm>(arm: &mut A, deadline: Deadline) -> bool {
    let deadline = match deadline {
        Deadline::Now => return arm.attempt(None),
        Deadline::At(at) => Some(at),
        Deadline::Never => None,
    };
    loop {
        // The waiter lives in `cell`, here, until its registration is withdrawn.
        let cell = WaiterCell::new();
        // The attempt registers the waiter (made only then) if it cannot proceed.
        if arm.attempt(Some((&cell, 0))) {
            // An operation registers only when it cannot proceed; a waiter made anyway is
            // withdrawn before it goes (the queues do not keep it alive).
            if let Some(waiter) = cell.made() {
                waiter.abort();
                arm.withdraw(waiter);
            }
            return true;
        }
        let waiter = cell.get();
        let guard = RegisteredOne { arm, waiter };
        waiter.wait(deadline);
        let arm = guard.defuse();
        let claimed = waiter.abort().is_some();
        if claimed {
            arm.withdraw_claimed(waiter)
        } else {
            arm.withdraw(waiter)
        }
        // `wait` returns unclaimed only at the deadline.
        let done = claimed && arm.attempt(None);
        if done {
            return true;
        }
        if !claimed || deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
    }
}

/// [`Registered`] for the single operation of [`wait_arm`].
struct RegisteredOne<'a, A: Arm> {
    arm: &'a mut A,
    waiter: &'a Waiter,
}

impl<'a, A: Arm> RegisteredOne<'a, A> {
    /// The wait returned normally: the caller takes over.
    fn defuse(self) -> &'a mut A {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the reference is moved out exactly once.
        unsafe { std::ptr::read(&this.arm) }
    }
}

impl<A: Arm> Drop for RegisteredOne<'_, A> {
    fn drop(&mut self) {
        let claimed = self.waiter.abort();
        self.arm.withdraw(self.waiter);
        if claimed.is_some() {
            self.arm.pass_on();
        }
    }
}

/// Polls `arm` as a future whose registration lives in `slot`.
pub(crate) fn poll_arm(arm: &mut dyn Arm, slot: &mut Option<Arc<Waiter>>, cx: &mut Context<'_>) -> Poll<()> {
    if let Some(waiter) = slot {
        waiter.set_waker(cx.waker());
        if waiter.is_waiting() {
            return Poll::Pending;
        }
        let waiter = slot.take().expect("checked above");
        waiter.abort();
        arm.withdraw(&waiter);
    }
    if arm.attempt(None) {
        return Poll::Ready(());
    }
    let cell = WaiterCell::for_async(Waiter::for_async(cx.waker()));
    if arm.attempt(Some((&cell, 0))) {
        return Poll::Ready(());
    }
    *slot = cell.into_shared();
    Poll::Pending
}

/// A future polled with [`poll_arm`] is dropped: withdraws its registration, passing on a
/// claim it did not use.
pub(crate) fn drop_arm(arm: &mut dyn Arm, slot: &mut Option<Arc<Waiter>>) {
    if let Some(waiter) = slot.take() {
        let claimed = waiter.abort();
        arm.withdraw(&waiter);
        if claimed.is_some() {
            arm.pass_on();
        }
    }
}
