//! `OnceCell` and `LazyLock`: a value initialised once, with the other callers suspended
//! (not spinning, not blocking their worker) while the first one runs the initialiser.
//!
//! # State
//!
//! `EMPTY` → `RUNNING` (one caller runs the initialiser) → `DONE`. An initialiser that
//! panics or is cancelled puts the cell back to `EMPTY` and wakes the waiters, one of which
//! runs its own initialiser.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::sync::atomic::{AtomicU8, Ordering};

use super::SpinLock;
use super::wait::{self, Arm, Deadline};
use super::waiter::{WaitList, Waiter, WaiterCell};

const EMPTY: u8 = 0;
const RUNNING: u8 = 1;
const DONE: u8 = 2;

/// A cell written once, by the first caller of [`get_or_init`](OnceCell::get_or_init) or
/// [`set`](OnceCell::set); later callers wait for it (suspending their coroutine) and then
/// share the value.
///
/// ```
/// use oc_runtime::sync::OnceCell;
///
/// static CONFIG: OnceCell<String> = OnceCell::new();
/// let h = oc_runtime::spawn(|| CONFIG.get_or_init(|| "loaded".to_string()).len());
/// assert_eq!(h.join().unwrap(), 6);
/// assert_eq!(CONFIG.get().map(String::as_str), Some("loaded"));
/// ```
pub struct OnceCell<T> {
    state: AtomicU8,
    waiters: SpinLock<WaitList>,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once by one caller (the `RUNNING` state), before `DONE` is
// published with release ordering; afterwards it is only read.
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}
// SAFETY: moving the cell moves the value.
unsafe impl<T: Send> Send for OnceCell<T> {}

impl<T> OnceCell<T> {
    /// An empty cell.
    pub const fn new() -> OnceCell<T> {
        OnceCell {
            state: AtomicU8::new(EMPTY),
            waiters: SpinLock::new(WaitList::new()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if it has been set.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == DONE {
            // SAFETY: `DONE` (acquire) means the value was written and is never written again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// Sets the value if nobody has (waiting for a running initialiser to finish); gives
    /// `value` back if the cell was already set.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("taken once"));
        match value {
            None => Ok(()),
            Some(value) => Err(value),
        }
    }

    /// The value, running `init` first if nobody has set it. Callers that arrive while
    /// another runs its initialiser wait for it.
    pub fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
        let mut init = Some(init);
        loop {
            if let Some(value) = self.get() {
                return value;
            }
            if self.state.compare_exchange(EMPTY, RUNNING, Ordering::Acquire, Ordering::Acquire).is_ok() {
                let reset = ResetOnUnwind { cell: self };
                let f = init.take().expect("the initialiser runs once");
                let value = f();
                std::mem::forget(reset);
                // SAFETY: `RUNNING` gives this caller the only access to the slot.
                unsafe { (*self.value.get()).write(value) };
                self.finish(DONE);
                // SAFETY: just written.
                return unsafe { (*self.value.get()).assume_init_ref() };
            }
            wait::wait_arm(&mut NotRunningArm { cell: self }, Deadline::Never);
        }
    }

    /// The value, through exclusive access.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if *self.state.get_mut() == DONE {
            // SAFETY: `DONE` means written.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// Consumes the cell and returns the value, if set.
    pub fn into_inner(mut self) -> Option<T> {
        if *self.state.get_mut() == DONE {
            *self.state.get_mut() = EMPTY;
            // SAFETY: `DONE` means written; the state now says empty so `Drop` skips it.
            Some(unsafe { self.value.get_mut().assume_init_read() })
        } else {
            None
        }
    }

    fn finish(&self, state: u8) {
        let mut waiters = self.waiters.lock();
        self.state.store(state, Ordering::Release);
        let woken = waiters.claim_all();
        drop(waiters);
        woken.wake_all();
    }
}

/// Puts the cell back to empty if the initialiser unwinds.
struct ResetOnUnwind<'a, T> {
    cell: &'a OnceCell<T>,
}

impl<T> Drop for ResetOnUnwind<'_, T> {
    fn drop(&mut self) {
        self.cell.finish(EMPTY);
    }
}

struct NotRunningArm<'a, T> {
    cell: &'a OnceCell<T>,
}

impl<T> Arm for NotRunningArm<'_, T> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        if self.cell.state.load(Ordering::Acquire) != RUNNING {
            return true;
        }
        let Some((waiter, token)) = register else { return false };
        let mut waiters = self.cell.waiters.lock();
        if self.cell.state.load(Ordering::Acquire) != RUNNING {
            return true;
        }
        waiters.push(waiter.register(), token);
        false
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        self.cell.waiters.lock().remove(waiter);
    }

    fn pass_on(&mut self) {}

    fn withdraw_claimed(&mut self, _waiter: &Waiter) {
        // Its claimer popped the entry it claimed.
    }
}

impl<T> Drop for OnceCell<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() == DONE {
            // SAFETY: `DONE` means written, and this is the last use.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> OnceCell<T> {
        OnceCell::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OnceCell").field(&self.get()).finish()
    }
}

/// A value computed on first access by a function, once, with concurrent first accesses
/// waiting for it (suspending their coroutines).
///
/// ```
/// use oc_runtime::sync::LazyLock;
///
/// static TABLE: LazyLock<Vec<u32>> = LazyLock::new(|| (0..4).map(|i| i * i).collect());
/// assert_eq!(oc_runtime::spawn(|| TABLE[3]).join().unwrap(), 9);
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceCell<T>,
    init: UnsafeCell<Option<F>>,
}

// SAFETY: `init` is taken only by the caller that moved the cell to `RUNNING` (one at a
// time); the value is shared as for `OnceCell`.
unsafe impl<T: Send + Sync, F: Send> Sync for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A lazy value computed by `init` on first access.
    pub const fn new(init: F) -> LazyLock<T, F> {
        LazyLock { cell: OnceCell::new(), init: UnsafeCell::new(Some(init)) }
    }

    /// Computes the value if needed and returns it.
    ///
    /// # Panics
    ///
    /// Panics if an earlier initialisation panicked (the function is gone), as std's does.
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.cell.get_or_init(|| {
            // SAFETY: only the initialising caller (state `RUNNING`) gets here.
            let init = unsafe { (*this.init.get()).take() };
            match init {
                Some(f) => f(),
                None => panic!("LazyLock: an earlier initialisation panicked"),
            }
        })
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LazyLock").field(&self.cell.get()).finish()
    }
}
