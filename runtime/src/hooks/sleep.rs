//! Sleeps: in a coroutine they become timers on the worker.
//!
//! # Cancellation
//!
//! A cancellation (or the runtime's shutdown) that reaches a coroutine in a hooked sleep ends
//! the sleep at once, and is delivered again at the coroutine's next suspension point in the
//! runtime's own API (a hook may not unwind; see the `hooks` module). What the call reports
//! must stop the callers' retry loops, or the coroutine would spin there, cancelled again at
//! every retry: std's `thread::sleep` resumes an `EINTR`ed `clock_nanosleep` with what `rem`
//! says is left, so `rem` is zeroed, and a zero-length sleep is never interrupted.
//!
//! - `nanosleep`, relative `clock_nanosleep`: `EINTR`, `rem` zeroed (nothing more to sleep);
//! - `clock_nanosleep` with `TIMER_ABSTIME`: 0 (its callers retry with the same deadline);
//! - `sleep`: the seconds not slept, rounded up, as for a signal;
//! - `usleep`: `-1` with `EINTR`.
//!
//! A caller that loops (`loop { std::thread::sleep(..) }`) would then spin, every sleep ended
//! at once. So a second hooked sleep of a coroutine that is still cancelled is refused: the
//! sleeps report `ECANCELED` (`sleep(3)` reports every second as unslept), which std's
//! `thread::sleep` does not retry: it panics, in its own Rust code after the call returned, so
//! the unwind is an ordinary one, and the coroutine ends; `join` reports it cancelled.

use std::time::{Duration, Instant};

use libc::{c_int, c_uint, clockid_t, timespec};

use super::{OnCancel, active_in_coroutine, guard_with};
use crate::sys::raw;

fn duration(ts: &timespec) -> Option<Duration> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// How a hooked sleep of a coroutine ended.
#[derive(PartialEq, Eq)]
enum Slept {
    /// The whole time.
    Full,
    /// Cut short by a cancellation (or the runtime's own code failed).
    CutShort,
    /// Not begun: the coroutine was cancelled and a sleep already told it so.
    Refused,
}

/// Sleeps the coroutine for `d`. A zero-length sleep returns at once without suspending, so
/// it is never cut short.
fn coroutine_sleep(d: Duration) -> Slept {
    if d.is_zero() {
        return Slept::Full;
    }
    if crate::task::cancel_pending() && crate::task::cancel_told() {
        return Slept::Refused;
    }
    let slept = guard_with(OnCancel::Report, || {
        crate::task::sleep(d);
        0i8
    });
    if slept == Some(0) {
        Slept::Full
    } else {
        crate::task::cancel_told();
        Slept::CutShort
    }
}

/// `nanosleep(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: forwarded.
    unsafe { clock_nanosleep_impl(libc::CLOCK_MONOTONIC, 0, req, rem, true) }
}

/// `clock_nanosleep(2)`: returns the error number itself, as the libc function does.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn clock_nanosleep(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
) -> c_int {
    // SAFETY: forwarded.
    unsafe { clock_nanosleep_impl(clock, flags, req, rem, false) }
}

/// Both sleeps; `errno_style` picks nanosleep's `-1`/`errno` over clock_nanosleep's return
/// of the error number.
unsafe fn clock_nanosleep_impl(
    clock: clockid_t,
    flags: c_int,
    req: *const timespec,
    rem: *mut timespec,
    errno_style: bool,
) -> c_int {
    let report = |e: c_int| {
        if errno_style {
            raw::set_errno(e);
            -1
        } else {
            e
        }
    };
    if req.is_null() {
        return report(libc::EFAULT);
    }
    // SAFETY: the caller's timespec.
    let req_ts = unsafe { &*req };
    if active_in_coroutine() {
        let absolute = flags & libc::TIMER_ABSTIME != 0;
        let wanted = if absolute {
            let now = crate::sys::clock_now(clock).unwrap_or(timespec { tv_sec: 0, tv_nsec: 0 });
            match (duration(req_ts), duration(&now)) {
                (Some(at), Some(now)) => Some(at.saturating_sub(now)),
                _ => None,
            }
        } else {
            duration(req_ts)
        };
        let Some(d) = wanted else {
            return report(libc::EINVAL);
        };
        let slept = coroutine_sleep(d);
        if slept == Slept::Refused {
            return report(libc::ECANCELED);
        }
        let completed = slept == Slept::Full;
        if !absolute && !rem.is_null() {
            // Nothing left to sleep, whether it completed or was cut short by a cancellation
            // (see `# Cancellation`).
            // SAFETY: the caller's out-pointer.
            unsafe { *rem = timespec { tv_sec: 0, tv_nsec: 0 } };
        }
        return if completed || absolute { 0 } else { report(libc::EINTR) };
    }
    // SAFETY: forwarded.
    let res = unsafe { raw::clock_nanosleep(clock, flags, req, rem) };
    if res < 0 { report(raw::errno()) } else { 0 }
}

/// `sleep(3)`: returns the seconds left if interrupted.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn sleep(seconds: c_uint) -> c_uint {
    let d = Duration::from_secs(u64::from(seconds));
    let start = Instant::now();
    if active_in_coroutine() {
        return if coroutine_sleep(d) == Slept::Full { 0 } else { seconds_left(d, start) };
    }
    let ts = timespec { tv_sec: seconds as libc::time_t, tv_nsec: 0 };
    let mut left = timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid timespecs.
    if unsafe { raw::clock_nanosleep(libc::CLOCK_REALTIME, 0, &ts, &mut left) } < 0 {
        return seconds_left(d, start);
    }
    0
}

/// The whole seconds of `d` not yet slept since `start`, rounded up (as `sleep(3)` reports an
/// interruption).
fn seconds_left(d: Duration, start: Instant) -> c_uint {
    let left = d.saturating_sub(start.elapsed());
    (left.as_secs() + u64::from(left.subsec_nanos() > 0)) as c_uint
}

/// `usleep(3)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn usleep(usec: libc::useconds_t) -> c_int {
    let d = Duration::from_micros(u64::from(usec));
    if active_in_coroutine() {
        match coroutine_sleep(d) {
            Slept::Full => return 0,
            Slept::CutShort => raw::set_errno(libc::EINTR),
            Slept::Refused => raw::set_errno(libc::ECANCELED),
        }
        return -1;
    }
    let ts = timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as libc::c_long };
    // SAFETY: valid timespec.
    if unsafe { raw::clock_nanosleep(libc::CLOCK_REALTIME, 0, &ts, std::ptr::null_mut()) } < 0 { -1 } else { 0 }
}
