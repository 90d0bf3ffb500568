//! Spawning: `spawn`, the task `Builder`, priorities, and the `task!` macro's function.

use std::io;

use super::JoinHandle;
use crate::scheduler::{Shared, context};

/// The priority of a task that does not ask for one. Smaller numbers run first.
pub const DEFAULT_PRIORITY: i64 = 0;

/// Values usable as a task priority: any integer (smaller runs first), or an `Option` of one
/// (`None` is [`DEFAULT_PRIORITY`]).
pub trait IntoPriority {
    /// The priority as the scheduler orders it.
    fn into_priority(self) -> i64;
}

macro_rules! priority_from {
    ($($t: ty),*) => {$(
        impl IntoPriority for $t {
            fn into_priority(self) -> i64 {
                i64::try_from(self).unwrap_or(i64::MAX)
            }
        }
    )*};
}
priority_from!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);

impl<P: IntoPriority> IntoPriority for Option<P> {
    fn into_priority(self) -> i64 {
        self.map_or(DEFAULT_PRIORITY, IntoPriority::into_priority)
    }
}

/// Configures a coroutine before spawning it.
///
/// ```
/// let handle = oc_runtime::task::Builder::new()
///     .name("worker-1")
///     .priority(-1)
///     .stack_size(256 * 1024)
///     .spawn(|| 6 * 7)
///     .unwrap();
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    name: Option<String>,
    priority: i64,
    stack_size: usize,
    preemptible: bool,
}

impl Builder {
    /// A builder with the defaults: no name, [`DEFAULT_PRIORITY`], the runtime's stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine (shown in stack-overflow reports and by `current_name`).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the priority: among ready coroutines, smaller numbers run first. Lower priorities
    /// are not starved forever: one that has waited long is run anyway.
    pub fn priority(mut self, priority: impl IntoPriority) -> Builder {
        self.priority = priority.into_priority();
        self
    }

    /// Lets the runtime preempt this coroutine with a signal when it holds its worker past the
    /// time slice, instead of handing the worker's queue to another thread. Meant for pure
    /// computation; read `docs/preemption.md` for what must not run preemptible.
    pub fn preemptible(mut self, on: bool) -> Builder {
        self.preemptible = on;
        self
    }

    /// Sets the usable stack size in bytes (rounded up to whole pages).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = bytes;
        self
    }

    /// Spawns the coroutine on the runtime the caller runs on (the global runtime on a plain
    /// thread).
    ///
    /// Fails only when the runtime is shutting down. A coroutine whose stack cannot be mapped
    /// (memory or `vm.max_map_count` exhausted) never starts and its `join` says why.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match context::current_shared() {
            Some(shared) => self.spawn_on(&shared, f),
            None => self.spawn_on(&crate::global::shared(), f),
        }
    }

    pub(crate) fn spawn_on<F, T>(self, shared: &std::sync::Arc<Shared>, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        shared.spawn(f, self.name.map(String::into_boxed_str), self.priority, self.stack_size, self.preemptible)
    }
}

/// Spawns a coroutine on the runtime the caller runs on (the global runtime on a plain
/// thread) and returns a handle to join it.
///
/// # Panics
///
/// Panics if the runtime is shutting down; use [`Builder::spawn`] to get an error instead.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).unwrap_or_else(|e| panic!("failed to spawn a coroutine: {e}"))
}

/// Spawns `f(param)` with a priority; what `task!` expands to.
///
/// # Panics
///
/// As [`spawn`].
pub fn spawn_with<P, R, F>(f: F, param: P, priority: impl IntoPriority) -> JoinHandle<R>
where
    F: FnOnce(P) -> R + Send + 'static,
    P: Send + 'static,
    R: Send + 'static,
{
    Builder::new()
        .priority(priority)
        .spawn(move || f(param))
        .unwrap_or_else(|e| panic!("failed to spawn a coroutine: {e}"))
}
