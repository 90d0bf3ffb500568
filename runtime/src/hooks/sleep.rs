//! Sleeps: in a coroutine they become timers on the worker.

use std::time::{Duration, Instant};

use libc::{c_int, c_uint, clockid_t, timespec};

use super::{active, guard};
use crate::sys::raw;

fn duration(ts: &timespec) -> Option<Duration> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Sleeps the coroutine for `d`; returns 0, or -1 with `ECANCELED` if cancelled.
fn coroutine_sleep(d: Duration) -> c_int {
    guard(|| {
        crate::task::sleep(d);
        0
    })
}

/// `nanosleep(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn nanosleep(req: *const timespec, rem: *mut timespec) -> c_int {
    // SAFETY: forwarded.
    unsafe { clock_nanosleep_impl(libc::CLOCK_MONOTONIC, 0, req, rem, true) }
}

/// `clock_nanosleep(2)`: returns the error number itself, as the libc function does.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn clock_nanosleep(
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
    if active() {
        let wanted = if flags & libc::TIMER_ABSTIME != 0 {
            let mut now = timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: valid out-pointer.
            unsafe { libc::clock_gettime(clock, &mut now) };
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
        if coroutine_sleep(d) < 0 {
            return report(libc::EINTR);
        }
        if !rem.is_null() {
            // SAFETY: the caller's out-pointer.
            unsafe { *rem = timespec { tv_sec: 0, tv_nsec: 0 } };
        }
        return 0;
    }
    // SAFETY: forwarded.
    let res = unsafe { raw::clock_nanosleep(clock, flags, req, rem) };
    if res < 0 { report(raw::errno()) } else { 0 }
}

/// `sleep(3)`: returns the seconds left if interrupted.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn sleep(seconds: c_uint) -> c_uint {
    let d = Duration::from_secs(u64::from(seconds));
    if active() {
        return if coroutine_sleep(d) < 0 { seconds } else { 0 };
    }
    let start = Instant::now();
    let ts = timespec { tv_sec: seconds as libc::time_t, tv_nsec: 0 };
    let mut left = timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid timespecs.
    if unsafe { raw::clock_nanosleep(libc::CLOCK_REALTIME, 0, &ts, &mut left) } < 0 {
        let slept = start.elapsed();
        return d.saturating_sub(slept).as_secs_f64().ceil() as c_uint;
    }
    0
}

/// `usleep(3)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C" fn usleep(usec: libc::useconds_t) -> c_int {
    let d = Duration::from_micros(u64::from(usec));
    if active() {
        return coroutine_sleep(d);
    }
    let ts = timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as libc::c_long };
    // SAFETY: valid timespec.
    if unsafe { raw::clock_nanosleep(libc::CLOCK_REALTIME, 0, &ts, std::ptr::null_mut()) } < 0 { -1 } else { 0 }
}
