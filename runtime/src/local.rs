//! Coroutine-local storage: `coroutine_local!`, the `thread_local!` that follows a coroutine
//! from worker to worker.
//!
//! A coroutine may resume on another worker thread after any suspension point, so a
//! `thread_local!` read before a `sleep`, a lock or a receive may be another thread's value
//! after it (see `docs/caveats.md`). A `coroutine_local!` value belongs to the coroutine: it
//! is made on first use in that coroutine, is the same value wherever the coroutine runs,
//! and is dropped when the coroutine finishes. Outside a coroutine it is an ordinary
//! thread-local.
//!
//! ```
//! use std::cell::Cell;
//!
//! oc_runtime::coroutine_local! {
//!     static REQUEST_ID: Cell<u64> = Cell::new(0);
//! }
//!
//! let handles: Vec<_> = (1..=3u64)
//!     .map(|id| {
//!         oc_runtime::spawn(move || {
//!             REQUEST_ID.set(id);
//!             oc_runtime::sleep(std::time::Duration::from_millis(5)); // may move to another worker
//!             REQUEST_ID.get()
//!         })
//!     })
//!     .collect();
//! let ids: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
//! assert_eq!(ids, [1, 2, 3]);
//! ```
//!
//! # State
//!
//! Every key gets a process-wide index on first use; a coroutine's values live in a vector
//! of boxed values in its task header, indexed by key. Only the coroutine itself touches
//! that vector (it runs on one thread at a time), and a value's box never moves or goes
//! away while the coroutine runs, so references handed to `with` stay valid even when a
//! nested `with` on another key grows the vector.

use std::any::Any;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The next key index to hand out.
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// A key of coroutine-local storage, made by [`coroutine_local!`](crate::coroutine_local).
pub struct LocalKey<T: 'static> {
    init: fn() -> T,
    fallback: &'static std::thread::LocalKey<T>,
    /// `index + 1` once assigned; 0 before first use.
    index: AtomicUsize,
}

impl<T: 'static> LocalKey<T> {
    /// What `coroutine_local!` expands to: public because the macro's expansion in the user's
    /// crate calls it, not for direct use.
    #[doc(hidden)]
    pub const fn __new(init: fn() -> T, fallback: &'static std::thread::LocalKey<T>) -> LocalKey<T> {
        LocalKey { init, fallback, index: AtomicUsize::new(0) }
    }

    fn index(&self) -> usize {
        let index = self.index.load(Ordering::Acquire);
        if index != 0 {
            return index - 1;
        }
        let fresh = NEXT_INDEX.fetch_add(1, Ordering::Relaxed) + 1;
        match self.index.compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => fresh - 1,
            Err(won) => won - 1,
        }
    }

    /// Runs `f` with a reference to the running coroutine's value (made with the key's
    /// initialiser on first use), or to the thread's value outside a coroutine.
    ///
    /// # Panics
    ///
    /// Panics if the key's initialiser uses the key itself.
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        match crate::scheduler::context::current_task() {
            Some(task) => {
                // SAFETY: the running task is alive while it runs: its runner holds a reference.
                let slots = &unsafe { task.as_ref() }.locals;
                let value = slots.get_or_init(self.index(), || Box::new((self.init)()) as Box<dyn Any>);
                // SAFETY: the value was made for this key, so it is a `T`; its box lives until the
                // coroutine finishes, which cannot happen while it runs `f`.
                f(unsafe { value.cast::<T>().as_ref() })
            }
            None => self.fallback.with(f),
        }
    }
}

impl<T: 'static> LocalKey<Cell<T>> {
    /// Sets the value.
    pub fn set(&'static self, value: T) {
        self.with(|cell| cell.set(value));
    }

    /// A copy of the value.
    pub fn get(&'static self) -> T
    where
        T: Copy,
    {
        self.with(Cell::get)
    }

    /// Replaces the value, returning the old one.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }

    /// Takes the value, leaving the default.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(Cell::take)
    }
}

impl<T: 'static> LocalKey<RefCell<T>> {
    /// Runs `f` with a shared borrow of the value.
    pub fn with_borrow<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        self.with(|cell| f(&cell.borrow()))
    }

    /// Runs `f` with a mutable borrow of the value.
    pub fn with_borrow_mut<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> R {
        self.with(|cell| f(&mut cell.borrow_mut()))
    }

    /// Sets the value.
    pub fn set(&'static self, value: T) {
        self.with(|cell| *cell.borrow_mut() = value);
    }

    /// Replaces the value, returning the old one.
    pub fn replace(&'static self, value: T) -> T {
        self.with(|cell| cell.replace(value))
    }

    /// Takes the value, leaving the default.
    pub fn take(&'static self) -> T
    where
        T: Default,
    {
        self.with(RefCell::take)
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKey").finish_non_exhaustive()
    }
}

/// A coroutine's values, by key index (in its task header).
pub(crate) struct Slots {
    values: UnsafeCell<Vec<Option<NonNull<dyn Any>>>>,
}

impl Slots {
    pub(crate) const fn new() -> Slots {
        Slots { values: UnsafeCell::new(Vec::new()) }
    }

    /// The value at `index`, made by `init` if missing. Called only by the coroutine that
    /// owns the slots.
    fn get_or_init(&self, index: usize, init: impl FnOnce() -> Box<dyn Any>) -> NonNull<dyn Any> {
        if let Some(Some(value)) = self.vec_get(index) {
            return value;
        }
        // The initialiser may use other keys (growing the vector): no borrow is held across it.
        let value = NonNull::from(Box::leak(init()));
        // SAFETY: only the owning coroutine touches the vector, and no reference into it is
        // live (the callers hold pointers to the boxes, never into the vector).
        let values = unsafe { &mut *self.values.get() };
        if values.len() <= index {
            values.resize(index + 1, None);
        }
        if values[index].is_some() {
            // SAFETY: `value` came from `Box::leak` above and is not shared.
            drop(unsafe { Box::from_raw(value.as_ptr()) });
            panic!("coroutine_local!: the initialiser of a key used the key itself");
        }
        values[index] = Some(value);
        value
    }

    fn vec_get(&self, index: usize) -> Option<Option<NonNull<dyn Any>>> {
        // SAFETY: as in `get_or_init`: a short read by the owning coroutine.
        unsafe { (&*self.values.get()).get(index).copied() }
    }

    /// Drops every value; called by the coroutine as it finishes. Values made by destructors
    /// of others are dropped too.
    pub(crate) fn destroy(&self) {
        loop {
            // SAFETY: the owning coroutine, with no `with` running (it has returned).
            let taken = std::mem::take(unsafe { &mut *self.values.get() });
            if taken.is_empty() {
                return;
            }
            for value in taken.into_iter().flatten() {
                // SAFETY: every slot holds a box leaked by `get_or_init`, taken out once here.
                drop(unsafe { Box::from_raw(value.as_ptr()) });
            }
        }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// Declares coroutine-local keys: like `thread_local!`, but each coroutine has its own value,
/// which follows it from worker to worker. Outside a coroutine, each thread has its own.
///
/// ```
/// use std::cell::RefCell;
///
/// oc_runtime::coroutine_local! {
///     /// The user the running request acts for.
///     pub static USER: RefCell<String> = RefCell::new(String::new());
/// }
///
/// let h = oc_runtime::spawn(|| {
///     USER.set("ada".to_string());
///     oc_runtime::task::yield_now();
///     USER.with_borrow(|u| u.clone())
/// });
/// assert_eq!(h.join().unwrap(), "ada");
/// ```
#[macro_export]
macro_rules! coroutine_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr; $($rest:tt)*) => {
        $crate::coroutine_local!($(#[$attr])* $vis static $name: $t = $init);
        $crate::coroutine_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty = $init:expr) => {
        $(#[$attr])* $vis static $name: $crate::local::LocalKey<$t> = {
            fn __init() -> $t {
                $init
            }
            ::std::thread_local!(static __FALLBACK: $t = __init());
            $crate::local::LocalKey::__new(__init, &__FALLBACK)
        };
    };
}
