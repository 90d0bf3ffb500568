//! `poll` and `select`: in a coroutine, the readiness wait happens in the reactor.

use std::time::{Duration, Instant};

use libc::{c_int, fd_set, nfds_t, pollfd, timeval};

use super::{active_in_coroutine, guard};
use crate::sys::raw;

/// Polls without blocking, then waits in the reactor until something may be ready and polls
/// again, until an event or the deadline.
fn poll_in_coroutine(fds: *mut pollfd, nfds: nfds_t, deadline: Option<Instant>) -> c_int {
    loop {
        // SAFETY: the caller's array of `nfds` pollfds.
        let n = unsafe { raw::poll(fds, nfds, 0) };
        if n != 0 {
            return n;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return 0;
        }
        let interests: Vec<(c_int, i16)> = if fds.is_null() {
            Vec::new()
        } else {
            // SAFETY: as above.
            unsafe { std::slice::from_raw_parts(fds, nfds as usize) }
                .iter()
                .filter(|p| p.fd >= 0)
                .map(|p| (p.fd, p.events))
                .collect()
        };
        if interests.is_empty() {
            // Nothing to wait for but the time-out: a sleep.
            match deadline {
                Some(d) => crate::task::sleep_until(d),
                None => crate::task::park_forever(),
            }
            continue;
        }
        if let Err(e) = crate::io::wait_any(&interests, deadline) {
            if e.kind() == std::io::ErrorKind::TimedOut {
                return 0;
            }
            raw::set_errno(e.raw_os_error().unwrap_or(libc::EIO));
            return -1;
        }
    }
}

/// `poll(2)`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    if !active_in_coroutine() || timeout == 0 {
        // SAFETY: forwarded.
        return unsafe { raw::poll(fds, nfds, timeout) };
    }
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    guard(|| poll_in_coroutine(fds, nfds, deadline))
}

/// `select(2)`, through `poll` (descriptors below `FD_SETSIZE`). Like Linux, it leaves the
/// time left in `timeout`.
#[unsafe(no_mangle)]
pub(super) unsafe extern "C-unwind" fn select(
    nfds: c_int,
    readfds: *mut fd_set,
    writefds: *mut fd_set,
    exceptfds: *mut fd_set,
    timeout: *mut timeval,
) -> c_int {
    if !active_in_coroutine() {
        let ts = (!timeout.is_null()).then(|| {
            // SAFETY: the caller's timeval.
            let tv = unsafe { &*timeout };
            libc::timespec { tv_sec: tv.tv_sec, tv_nsec: tv.tv_usec * 1000 }
        });
        let tsp = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: forwarded; `tsp` is null or points to `ts`.
        return unsafe { raw::pselect6(nfds, readfds, writefds, exceptfds, tsp) };
    }
    guard(|| {
        let start = Instant::now();
        let limit = (!timeout.is_null()).then(|| {
            // SAFETY: the caller's timeval.
            let tv = unsafe { &*timeout };
            Duration::from_secs(tv.tv_sec.max(0) as u64) + Duration::from_micros(tv.tv_usec.max(0) as u64)
        });
        let nfds = nfds.clamp(0, libc::FD_SETSIZE as c_int);
        let is_set = |set: *mut fd_set, fd: c_int| {
            // SAFETY: `set` is the caller's fd_set and `fd` is below FD_SETSIZE.
            !set.is_null() && unsafe { libc::FD_ISSET(fd, set) }
        };
        let mut pfds: Vec<pollfd> = (0..nfds)
            .filter_map(|fd| {
                let mut events = 0;
                if is_set(readfds, fd) {
                    events |= libc::POLLIN;
                }
                if is_set(writefds, fd) {
                    events |= libc::POLLOUT;
                }
                if is_set(exceptfds, fd) {
                    events |= libc::POLLPRI;
                }
                (events != 0).then_some(pollfd { fd, events, revents: 0 })
            })
            .collect();
        let n = if limit == Some(Duration::ZERO) {
            // SAFETY: our own array.
            unsafe { raw::poll(pfds.as_mut_ptr(), pfds.len() as nfds_t, 0) }
        } else {
            poll_in_coroutine(pfds.as_mut_ptr(), pfds.len() as nfds_t, limit.map(|l| start + l))
        };
        if n < 0 {
            return -1;
        }
        for set in [readfds, writefds, exceptfds] {
            if !set.is_null() {
                // SAFETY: the caller's fd_set.
                unsafe { libc::FD_ZERO(set) };
            }
        }
        let mut count = 0;
        for p in &pfds {
            let mark = |set: *mut fd_set, hit: bool| {
                if hit && !set.is_null() {
                    // SAFETY: the caller's fd_set; `p.fd` is below FD_SETSIZE.
                    unsafe { libc::FD_SET(p.fd, set) };
                    1
                } else {
                    0
                }
            };
            if p.revents & libc::POLLNVAL != 0 {
                raw::set_errno(libc::EBADF);
                return -1;
            }
            count += mark(
                readfds,
                p.events & libc::POLLIN != 0 && p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0,
            );
            count += mark(writefds, p.events & libc::POLLOUT != 0 && p.revents & (libc::POLLOUT | libc::POLLERR) != 0);
            count += mark(exceptfds, p.events & libc::POLLPRI != 0 && p.revents & libc::POLLPRI != 0);
        }
        if let Some(limit) = limit {
            let left = limit.saturating_sub(start.elapsed());
            // SAFETY: the caller's timeval.
            unsafe {
                (*timeout).tv_sec = left.as_secs() as libc::time_t;
                (*timeout).tv_usec = left.subsec_micros() as libc::suseconds_t;
            }
        }
        count
    })
}
