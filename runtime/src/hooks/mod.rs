//! Syscall hooks: libc functions defined in the final binary, so that ordinary blocking code
//! (`std::net`, `std::thread::sleep`, synchronous client libraries) suspends only its
//! coroutine.
//!
//! Each hook is a `#[no_mangle] extern "C"` definition of a libc function. When the caller
//! runs in a coroutine on a worker of a runtime with hooks enabled, the hook keeps the call's
//! blocking meaning for the caller but waits on the worker's reactor (or timers) instead of
//! blocking the thread. Everywhere else it makes the system call directly (`sys::raw`), which
//! is what the libc function does. See `docs/hooks.md` for the call-by-call contract.
//!
//! # Cost
//!
//! Outside a coroutine: one thread-local load. Inside: that, an fd-table lookup, and the
//! system call made non-blocking for one call (`MSG_DONTWAIT`) where the descriptor is
//! blocking.
//!
//! # Unwinding
//!
//! Hooks are called from C frames and from std through `extern "C"` declarations, which the
//! compiler treats as calls that cannot unwind: an unwind through them skips their cleanup,
//! and in optimised builds (LTO proves callers such as `std::thread::sleep` "cannot unwind")
//! it can abort the process or escape a `catch_unwind`. So a hook never *starts* an unwind:
//! each body runs under `guard`, which turns a cancellation into an error return (re-armed
//! for the coroutine's next suspension point in the runtime's own API) and a panic of the
//! hook's own code into `EIO`. An unwind the hook did not start (corosensei's forced unwind
//! of a task dropped while suspended in the hook) is resumed untouched: swallowing it would
//! leave the destroyed coroutine running outside any coroutine context. The hooks are
//! declared `extern "C-unwind"` so that such an unwind can leave them at all.
//!
//! # errno
//!
//! The end of a hooked call is a safe point where the coroutine may be switched out (a
//! deferred preemption, or a move back to a worker after a hand-off) and resume on another
//! thread, after other coroutines ran on this one. `errno` is thread-local, so `end_of_call`
//! reads it before the switch and writes it back on whichever thread resumes.
//!
//! # fork
//!
//! A child made by `fork` shares the parent's epoll instances and io_uring rings but has none
//! of its threads. A `pthread_atfork` child handler makes the hooks inert there (every call
//! goes straight to the kernel; `close` only closes) until the child starts a runtime of its
//! own.

mod fd;
mod io;
mod poll;
mod sleep;
mod table;

use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::io::Interest;
use crate::sys::raw;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Set in a child process after `fork` (see `after_fork_in_child`), cleared when a runtime
/// starts: while set, `set_active` never turns the hooks on.
static FORKED: AtomicBool = AtomicBool::new(false);

crate::tls_accessor! {
    /// Whether hooks apply to the calling code: a coroutine on a worker with hooks enabled.
    pub(crate) fn active() -> bool {
        count_entry();
        ACTIVE.get()
    }
}

/// `active`, for the hooks that park the coroutine themselves (sleeps, `poll`, `select`): also
/// asks for a current coroutine. A thread's flag stays on while a task dropped inside another
/// coroutine is unwound there with no current coroutine; a sleep in its destructors would fall
/// back to `std::thread::sleep`, that is to this same hook, for ever.
fn active_in_coroutine() -> bool {
    active() && crate::task::in_coroutine()
}

/// `active`, inlined: for the first line of a hook only, before anything can suspend (a
/// thread-local address computed before a suspension must not be used after it).
#[inline(always)]
fn active_at_entry() -> bool {
    count_entry();
    ACTIVE.get()
}

#[cfg(test)]
thread_local! {
    static ENTRIES: Cell<u64> = const { Cell::new(0) };
}

/// Unit tests only: counts the calling thread's entries into hooks (every hook asks
/// `active`/`active_at_entry` or the fd table on its way), so that a test can tell whether a
/// call reached a hook (`sys::raw`'s tests: its wrappers must not).
#[inline(always)]
fn count_entry() {
    #[cfg(test)]
    ENTRIES.set(ENTRIES.get() + 1);
}

/// Unit tests only: the calling thread's count of hook entries so far.
#[cfg(test)]
pub(crate) fn entries() -> u64 {
    ENTRIES.get()
}

crate::tls_accessor! {
    /// Set by a worker around each resume of a coroutine. Never on in a forked child that has not
    /// started a runtime of its own.
    pub(crate) fn set_active(on: bool) {
        ACTIVE.set(on && !FORKED.load(Ordering::Relaxed));
    }
}

/// Called when a runtime starts: keeps every hook linked, and makes the hooks inert in the
/// child of a later `fork` (see the module's `# fork`). A runtime started in such a child
/// turns them back on there.
pub(crate) fn install() {
    link();
    static ATFORK: std::sync::Once = std::sync::Once::new();
    ATFORK.call_once(|| {
        // The handler only stores to an atomic and a const-initialised thread-local. ENOMEM is
        // the only documented failure; the hooks then stay active in children.
        let res = crate::sys::at_fork_child(after_fork_in_child);
        debug_assert!(res.is_ok(), "pthread_atfork failed");
    });
    FORKED.store(false, Ordering::Relaxed);
}

/// The `pthread_atfork` child handler: the child's only thread (a copy of the one that
/// called `fork`, perhaps a worker in a coroutine) must not reach the parent's reactors.
///
/// # Signal safety
///
/// Runs in the child of a multi-threaded process, where only async-signal-safe code may run:
/// an atomic store and a store to a const-initialised thread-local `Cell` (no allocation, no
/// lock, no lazy initialisation).
extern "C" fn after_fork_in_child() {
    FORKED.store(true, Ordering::Relaxed);
    ACTIVE.set(false);
}

/// Whether hooks are compiled in and not disabled by `OC_HOOKS=0`.
pub(crate) fn enabled_by_env() -> bool {
    !matches!(std::env::var("OC_HOOKS").as_deref(), Ok("0") | Ok("false") | Ok("off"))
}

/// Makes the linker keep every hook: archive members are linked only when referenced.
fn link() {
    let hooks: [usize; 30] = [
        io::read as *const () as usize,
        io::readv as *const () as usize,
        io::pread as *const () as usize,
        io::write as *const () as usize,
        io::writev as *const () as usize,
        io::pwrite as *const () as usize,
        io::recv as *const () as usize,
        io::recvfrom as *const () as usize,
        io::recvmsg as *const () as usize,
        io::send as *const () as usize,
        io::sendto as *const () as usize,
        io::sendmsg as *const () as usize,
        fd::accept as *const () as usize,
        fd::accept4 as *const () as usize,
        fd::connect as *const () as usize,
        poll::poll as *const () as usize,
        poll::select as *const () as usize,
        sleep::nanosleep as *const () as usize,
        sleep::clock_nanosleep as *const () as usize,
        sleep::sleep as *const () as usize,
        sleep::usleep as *const () as usize,
        fd::close as *const () as usize,
        fd::shutdown as *const () as usize,
        fd::socket as *const () as usize,
        fd::setsockopt as *const () as usize,
        fd::fcntl as *const () as usize,
        fd::ioctl as *const () as usize,
        fd::dup as *const () as usize,
        fd::dup2 as *const () as usize,
        fd::dup3 as *const () as usize,
    ];
    std::hint::black_box(hooks);
}

/// How a hook reports a cancellation that reached it (it may not unwind; see `# Unwinding`).
#[derive(Clone, Copy)]
enum OnCancel {
    /// `-1` with `errno` set to `ECANCELED`.
    Fail,
    /// The body's caller decides: `guard_with` returns `None`.
    Report,
}

/// Runs a hook body: see the module's `# Unwinding` and `# errno`. A cancellation gives `-1`
/// with `errno` set to `ECANCELED`, a panic of the hook's own code `-1` with `EIO`.
fn guard<T: From<i8>>(body: impl FnOnce() -> T) -> T {
    guard_with(OnCancel::Fail, body).unwrap_or_else(|| T::from(-1))
}

/// `guard`, with the choice of how a cancellation is reported; `None` is a cancellation
/// under `OnCancel::Report`.
fn guard_with<T: From<i8>>(on_cancel: OnCancel, body: impl FnOnce() -> T) -> Option<T> {
    crate::task::no_preempt_enter();
    let result = catch_unwind(AssertUnwindSafe(body));
    crate::task::no_preempt_exit();
    match result {
        Ok(v) => {
            end_of_call();
            Some(v)
        }
        Err(payload) if crate::task::is_cancel_payload(&*payload) => {
            // A coroutine that is already unwinding from a panic (a destructor making the call)
            // ends anyway; delivering the cancellation again there would unwind out of a
            // destructor during unwinding, which aborts.
            if !std::thread::panicking() {
                // Deliver it again at the next suspension point the runtime controls.
                crate::task::rearm_cancel();
            }
            match on_cancel {
                OnCancel::Fail => Some(fail(libc::ECANCELED)),
                OnCancel::Report => None,
            }
        }
        Err(payload) if payload.is::<&'static str>() || payload.is::<String>() => {
            // A panic of the runtime's own code in the hook (its payload is a message): a
            // failed call, since it may not unwind into the caller.
            Some(fail(libc::EIO))
        }
        // Not of the hook's making: corosensei unwinding a task dropped while suspended here.
        // It must reach the coroutine's root.
        Err(payload) => resume_unwind(payload),
    }
}

/// The end of a hooked call: a safe point for a deferred preemption or a move back to a worker
/// after a hand-off. `errno` is the caller's answer, so it goes with the coroutine to
/// whichever thread resumes it (and survives other coroutines' calls on this one).
#[inline]
fn end_of_call() {
    let errno = raw::errno();
    crate::task::preempt_if_pending();
    raw::set_errno(errno);
}

fn deadline(timeout: Option<Duration>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(t))
}

/// Waits for `fd` in the reactor; a time-out is `EAGAIN`, as a socket time-out reports it.
fn wait(fd: libc::c_int, interest: Interest, deadline: Option<Instant>) -> Result<(), libc::c_int> {
    // SAFETY: the caller of the hook passed `fd`; we only wait on it while the call lasts.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    match crate::io::wait(borrowed, interest, deadline) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(libc::EAGAIN),
        Err(e) => Err(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// `-1` with `errno` set to `e`.
fn fail<T: From<i8>>(e: libc::c_int) -> T {
    raw::set_errno(e);
    T::from(-1)
}
