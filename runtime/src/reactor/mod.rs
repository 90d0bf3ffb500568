//! The reactor: each worker's IO engine and the place where an idle worker sleeps.
//!
//! Two backends behind one small interface, chosen once per runtime:
//!
//! - **io_uring** (`uring.rs`): operations are submitted to the worker's ring and complete
//!   there; an idle worker sleeps in `io_uring_enter` until a completion, its first timer, or a
//!   wake-up through an eventfd the ring polls.
//! - **epoll** (`epoll.rs`, the `polling` crate): coroutines wait for readiness of a
//!   descriptor, then retry the system call; an idle worker sleeps in `epoll_wait`.
//!
//! `Builder::io_backend` or `OC_IO_BACKEND=auto|uring|epoll` chooses. `auto` probes io_uring
//! (a ring must be creatable and support timed waits, Linux 5.11+) and falls back to epoll.
//!
//! Other threads reach a worker's reactor only through its [`Unparker`]: to wake it, and (for
//! io_uring) to ask it to cancel an operation it owns.

mod epoll;
mod op;
#[cfg(test)]
mod op_tests;
mod uring;

use std::cell::RefCell;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use epoll::{EpollReactor, EpollRemote, Interest};
pub(crate) use uring::{Op, Standing, UringReactor, UringRemote, recv_ioprio, recycle};

/// Which IO backend a runtime uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IoBackend {
    /// io_uring when the kernel allows it, epoll otherwise.
    #[default]
    Auto,
    /// io_uring; building the runtime fails if the kernel refuses it.
    Uring,
    /// epoll (through the `polling` crate).
    Epoll,
}

impl IoBackend {
    /// The backend named by `OC_IO_BACKEND`, if it is set.
    pub(crate) fn from_env() -> io::Result<Option<IoBackend>> {
        match std::env::var("OC_IO_BACKEND") {
            Err(_) => Ok(None),
            Ok(v) => match v.trim() {
                "" | "auto" => Ok(Some(IoBackend::Auto)),
                "uring" | "io_uring" => Ok(Some(IoBackend::Uring)),
                "epoll" => Ok(Some(IoBackend::Epoll)),
                other => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("OC_IO_BACKEND={other:?}: expected auto, uring or epoll"),
                )),
            },
        }
    }
}

/// One worker's reactor.
pub(crate) enum Reactor {
    Uring(Box<UringReactor>),
    Epoll(EpollReactor),
}

/// The handle other threads use to wake a worker sleeping in its reactor.
#[derive(Clone)]
pub(crate) enum Unparker {
    Uring(Arc<UringRemote>),
    Epoll(Arc<EpollRemote>),
}

impl Reactor {
    /// Creates `n` reactors of the chosen backend (all or nothing); returns the backend used.
    pub(crate) fn create(backend: IoBackend, n: usize) -> io::Result<(IoBackend, Vec<(Reactor, Unparker)>)> {
        let create_uring = || -> io::Result<Vec<(Reactor, Unparker)>> {
            (0..n)
                .map(|_| UringReactor::new().map(|(r, u)| (Reactor::Uring(Box::new(r)), Unparker::Uring(u))))
                .collect()
        };
        let create_epoll = || -> io::Result<Vec<(Reactor, Unparker)>> {
            (0..n).map(|_| EpollReactor::new().map(|(r, u)| (Reactor::Epoll(r), Unparker::Epoll(u)))).collect()
        };
        match backend {
            IoBackend::Uring => create_uring().map(|r| (IoBackend::Uring, r)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "io_uring was requested (Builder::io_backend or OC_IO_BACKEND=uring) but \
                         the kernel refused it: {e}; use auto or epoll"
                    ),
                )
            }),
            IoBackend::Epoll => create_epoll().map(|r| (IoBackend::Epoll, r)),
            IoBackend::Auto => match create_uring() {
                Ok(r) => Ok((IoBackend::Uring, r)),
                Err(_) => create_epoll().map(|r| (IoBackend::Epoll, r)),
            },
        }
    }

    /// Sleeps until an event, a wake-up, or `timeout`. The coroutines whose IO is ready are
    /// woken by [`after_park`](Reactor::after_park), once the worker no longer counts as
    /// asleep: woken here, they would have the worker notify itself (an eventfd write and read
    /// to wake a worker that is awake), and count it as searching for work.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        match self {
            Reactor::Uring(r) => r.park(timeout),
            Reactor::Epoll(r) => r.park(timeout),
        }
    }

    /// Wakes the coroutines whose IO the last [`park`](Reactor::park) found ready.
    pub(crate) fn after_park(&self) {
        match self {
            Reactor::Uring(r) => {
                r.poll();
            }
            Reactor::Epoll(r) => r.after_park(),
        }
    }

    /// Wakes the coroutines whose IO is ready, without sleeping. Returns whether any was.
    pub(crate) fn poll(&self) -> bool {
        match self {
            Reactor::Uring(r) => r.poll(),
            Reactor::Epoll(r) => r.poll(),
        }
    }

    /// Whether polling is cheap enough to do on every scheduler tick (no system call).
    pub(crate) fn cheap_poll(&self) -> bool {
        matches!(self, Reactor::Uring(_))
    }

    /// Hands queued submissions to the kernel (io_uring); nothing for epoll.
    pub(crate) fn flush(&self) {
        if let Reactor::Uring(r) = self {
            r.flush();
        }
    }

    /// Shutdown: makes every coroutine waiting on this reactor wake up (io_uring operations
    /// are cancelled; their waiters wake at the cancellation's completion).
    pub(crate) fn wake_all(&self) {
        match self {
            Reactor::Uring(r) => r.cancel_all(),
            Reactor::Epoll(r) => r.wake_all(),
        }
    }

    /// The ring, when this reactor completes operations (io_uring); `None` when it reports
    /// readiness (epoll). IO code asks this instead of naming the backend.
    #[inline]
    pub(crate) fn ring(&self) -> Option<&UringReactor> {
        match self {
            Reactor::Uring(r) => Some(r),
            Reactor::Epoll(_) => None,
        }
    }

    /// The poller, when this reactor reports readiness (epoll); `None` for a ring.
    #[inline]
    pub(crate) fn poller(&self) -> Option<&EpollReactor> {
        match self {
            Reactor::Epoll(r) => Some(r),
            Reactor::Uring(_) => None,
        }
    }

    /// Drops what this reactor holds for `fd`, which is about to be closed: a poller forgets
    /// its registration; a ring cancels the operations waiting on `fd` if coroutines of this
    /// worker wait on it (`waited_here`).
    pub(crate) fn forget(&self, fd: i32, waited_here: bool) {
        match self {
            Reactor::Epoll(r) => r.forget(fd),
            Reactor::Uring(r) if waited_here => r.cancel_waits_on(fd, u64::MAX),
            Reactor::Uring(_) => {}
        }
    }

    /// The thread `token` (`context::thread_token`) drives the worker from now on: on a ring,
    /// the operations submitted from now on have their completion work run in that thread.
    pub(crate) fn driven_by(&self, token: u64) {
        if let Reactor::Uring(r) = self {
            r.driven_by(token);
        }
    }

    /// Operations or registrations in flight.
    pub(crate) fn in_flight(&self) -> usize {
        match self {
            Reactor::Uring(r) => r.in_flight(),
            Reactor::Epoll(r) => r.in_flight(),
        }
    }
}

impl Unparker {
    /// Whether the worker's reactor completes operations on a ring.
    #[inline]
    pub(crate) fn is_ring(&self) -> bool {
        matches!(self, Unparker::Uring(_))
    }

    /// Asks the worker to drop what its reactor holds for `fd` (about to be closed), at its
    /// next turn.
    pub(crate) fn forget(&self, fd: i32) {
        match self {
            Unparker::Epoll(remote) => remote.forget(fd),
            Unparker::Uring(remote) => remote.close_fd_remote(fd),
        }
    }

    /// Asks the worker to cancel the ring operation `user_data` it owns (a poller has none).
    pub(crate) fn request_cancel(&self, user_data: u64) {
        if let Unparker::Uring(remote) = self {
            remote.request_cancel(user_data);
        }
    }

    /// Wakes the worker, or makes its next park return at once.
    pub(crate) fn unpark(&self) {
        match self {
            Unparker::Uring(u) => u.unpark(),
            Unparker::Epoll(remote) => remote.unpark(),
        }
    }

    /// Sockets' standing polls registered on this worker's ring (none on epoll).
    pub(crate) fn standing_polls(&self) -> usize {
        match self {
            Unparker::Uring(u) => u.standing(),
            Unparker::Epoll(_) => 0,
        }
    }
}

/// Runs `each` on what other threads queued in `shared`, which is swapped with `mine` (emptied
/// after) so that both lists keep their capacity: a request made under the lock allocates only
/// while the lists grow (an allocation there once held a worker 10 ms behind malloc's own lock).
/// `mine` is out of its cell meanwhile: the io_uring reactor's full submission queue polls,
/// which may come back here. Both reactors take their cross-thread requests this way.
fn take_swapped<T: Copy>(mine: &RefCell<Vec<T>>, shared: &Mutex<Vec<T>>, mut each: impl FnMut(T)) {
    let mut taken = std::mem::take(&mut *mine.borrow_mut());
    std::mem::swap(&mut taken, &mut *shared.lock().unwrap_or_else(|e| e.into_inner()));
    for &item in &taken {
        each(item);
    }
    taken.clear();
    *mine.borrow_mut() = taken;
}
