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
//! # Never unwinding
//!
//! Hooks are called from C frames (and from std through `extern "C"` declarations), so no
//! panic may leave one: each runs under `guard`, which turns a cancellation into `ECANCELED`
//! (re-armed, so that the coroutine's next runtime suspension point unwinds) and anything
//! else into `EIO`.

mod fd;
mod io;
mod poll;
mod sleep;
mod table;

use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::io::Interest;
use crate::sys::raw;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// Whether hooks apply to the calling code: a coroutine on a worker with hooks enabled.
#[inline(never)]
pub(crate) fn active() -> bool {
    ACTIVE.get()
}

/// `active`, inlined: for the first line of a hook only, before anything can suspend (a
/// thread-local address computed before a suspension must not be used after it).
#[inline(always)]
fn active_at_entry() -> bool {
    ACTIVE.get()
}

/// Set by a worker around each resume of a coroutine.
#[inline(never)]
pub(crate) fn set_active(on: bool) {
    ACTIVE.set(on);
}

/// Whether hooks are compiled in and not disabled by `OC_HOOKS=0`.
pub(crate) fn enabled_by_env() -> bool {
    !matches!(std::env::var("OC_HOOKS").as_deref(), Ok("0") | Ok("false") | Ok("off"))
}

/// Makes the linker keep every hook: archive members are linked only when referenced.
pub(crate) fn link() {
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

/// Runs a hook body, turning any unwind into `-1` with `errno` set.
fn guard<T: From<i8>>(body: impl FnOnce() -> T) -> T {
    crate::task::no_preempt_enter();
    let result = catch_unwind(AssertUnwindSafe(body));
    crate::task::no_preempt_exit();
    match result {
        Ok(v) => {
            // The end of a hooked call is a safe point for a deferred preemption.
            crate::task::preempt_if_pending();
            v
        }
        Err(payload) => {
            if crate::task::is_cancel_payload(&*payload) {
                // Deliver it again at the next suspension point the runtime controls.
                crate::task::rearm_cancel();
                raw::set_errno(libc::ECANCELED);
            } else {
                raw::set_errno(libc::EIO);
            }
            T::from(-1)
        }
    }
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
