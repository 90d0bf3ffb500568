//! Thread-local accessors that stay out of line: [`tls_accessor!`](crate::tls_accessor).
//!
//! A coroutine may resume on another thread at any suspension point. When a function that
//! touches a `thread_local!` is inlined into a caller that suspends between two of its calls,
//! the compiler may compute the thread-local's address once and reuse it after the switch:
//! the second call then reads or writes the previous thread's value, racing with that thread.
//! A function that is never inlined looks the address up on every call, on the thread that
//! runs it. So every function of the runtime that touches one of its thread-locals is
//! defined with `tls_accessor!`, which marks it `#[inline(never)]`.
//!
//! `runtime/tests/tls_accessors.rs` keeps the rule: it fails when a thread-local of the
//! runtime (or of oc-http) is touched in a function not defined with the macro, unless that
//! function is one of the few it names with the reason it may be inlined (it runs where
//! nothing suspends: a plain thread, a signal handler, the first line of a hook), and it fails
//! when the macro no longer marks its functions `#[inline(never)]`.

/// Defines a function that reads or writes thread-locals and is never inlined, so that a
/// coroutine that calls it, suspends, and calls it again (perhaps on another thread) gets the
/// calling thread's value each time.
///
/// ```
/// use std::cell::Cell;
///
/// thread_local! {
///     static HITS: Cell<u64> = const { Cell::new(0) };
/// }
///
/// oc_runtime::tls_accessor! {
///     /// Counts a hit on the calling thread.
///     fn hit() -> u64 {
///         HITS.set(HITS.get() + 1);
///         HITS.get()
///     }
/// }
///
/// assert_eq!(hit(), 1);
/// ```
///
/// See `docs/caveats.md` on thread-locals across suspension points.
#[macro_export]
macro_rules! tls_accessor {
    ($(#[$attr:meta])* $vis:vis fn $name:ident $($rest:tt)*) => {
        $(#[$attr])*
        #[inline(never)]
        $vis fn $name $($rest)*
    };
}
