//! The epoll backend (through the `polling` crate): readiness, then the system call again.
//!
//! # State
//!
//! `fds` maps a descriptor to the coroutines waiting for it to become readable or writable
//! on this worker, and whether it is registered with this worker's poller. Touched only on
//! the worker's thread. Registrations are one-shot: an event disarms the descriptor, and a
//! waiter that is still interested arms it again.
//!
//! A descriptor may be registered with several workers' pollers at once (a coroutine that
//! waited on one worker and later on another); each poller then only ever wakes its own
//! waiters, and a stale one costs a spurious wake-up.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use polling::{Event, Events, Poller};

/// What a coroutine waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    Readable,
    Writable,
}

#[derive(Default)]
struct Waiters {
    read: Option<Waker>,
    write: Option<Waker>,
    registered: bool,
}

/// Hashes a descriptor number with one multiplication (the default SipHash costs more than
/// the rest of a lookup; descriptors are not chosen by an adversary).
#[derive(Default)]
struct FdHasher(u64);

impl std::hash::Hasher for FdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_i32(&mut self, fd: i32) {
        // Fibonacci hashing: the high bits, which the table uses too, depend on every bit.
        self.0 = (fd as u32 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type FdMap<V> = HashMap<RawFd, V, std::hash::BuildHasherDefault<FdHasher>>;

/// The part of an epoll reactor other threads may use: its poller's notify, and an inbox of
/// descriptors closed elsewhere whose waiters here must be woken.
pub(crate) struct EpollRemote {
    poller: Arc<Poller>,
    closed: Mutex<Vec<RawFd>>,
    has_closed: AtomicBool,
}

impl EpollRemote {
    /// Wakes the worker, or makes its next wait return at once.
    pub(crate) fn unpark(&self) {
        let _ = self.poller.notify();
    }

    /// `fd` is being closed on another thread: the owning worker wakes its waiters for it.
    pub(crate) fn forget(&self, fd: RawFd) {
        self.closed.lock().unwrap_or_else(|e| e.into_inner()).push(fd);
        self.has_closed.store(true, Ordering::Release);
        self.unpark();
    }
}

pub(crate) struct EpollReactor {
    poller: Arc<Poller>,
    remote: Arc<EpollRemote>,
    events: RefCell<Events>,
    fds: RefCell<FdMap<Waiters>>,
    ready: RefCell<Vec<Waker>>,
    /// The remote's closed descriptors, taken (`wait`).
    taken_closed: RefCell<Vec<RawFd>>,
}

impl EpollReactor {
    pub(crate) fn new() -> io::Result<(EpollReactor, Arc<EpollRemote>)> {
        let poller = Arc::new(Poller::new()?);
        let remote = Arc::new(EpollRemote {
            poller: poller.clone(),
            closed: Mutex::new(Vec::new()),
            has_closed: AtomicBool::new(false),
        });
        let reactor = EpollReactor {
            poller,
            remote: remote.clone(),
            events: RefCell::new(Events::new()),
            fds: RefCell::new(FdMap::default()),
            ready: RefCell::new(Vec::new()),
            taken_closed: RefCell::new(Vec::new()),
        };
        Ok((reactor, remote))
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.fds.borrow().values().filter(|w| w.read.is_some() || w.write.is_some()).count()
    }

    /// Arms `fd` so that `waker` is woken once it is ready for `interest`.
    pub(crate) fn register(&self, fd: RawFd, interest: Interest, waker: &Waker) -> io::Result<()> {
        let mut fds = self.fds.borrow_mut();
        let waiters = fds.entry(fd).or_default();
        match interest {
            Interest::Readable => waiters.read = Some(waker.clone()),
            Interest::Writable => waiters.write = Some(waker.clone()),
        }
        let event = Event::new(fd as usize, waiters.read.is_some(), waiters.write.is_some());
        let result = if waiters.registered {
            match self
                .poller
                // SAFETY: a borrowed descriptor the caller is operating on; see `add` below.
                .modify(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, event)
            {
                // The descriptor was closed and its number reused since: register afresh.
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => self.add(fd, event),
                other => other,
            }
        } else {
            match self.add(fd, event) {
                // Registered by an earlier life of this number that we forgot about.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    // SAFETY: as above.
                    self.poller
                        // SAFETY: a borrowed descriptor the caller is operating on; see `add` below.
                        .modify(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, event)
                }
                other => other,
            }
        };
        match result {
            Ok(()) => {
                waiters.registered = true;
                Ok(())
            }
            Err(e) => {
                match interest {
                    Interest::Readable => waiters.read = None,
                    Interest::Writable => waiters.write = None,
                }
                Err(e)
            }
        }
    }

    fn add(&self, fd: RawFd, event: Event) -> io::Result<()> {
        // SAFETY: polling asks that a source be deleted before it is closed. On epoll the
        // kernel drops the registration itself when the descriptor is closed, and a stale
        // entry in `fds` is repaired by the ENOENT/EEXIST handling in `register`.
        unsafe { self.poller.add(fd, event) }
    }

    /// Waits for events (at most `timeout`) and moves the wakers of the waiters they concern to
    /// `ready`, without waking them. Returns whether `ready` holds any.
    fn wait(&self, timeout: Option<Duration>) -> bool {
        let mut events = self.events.borrow_mut();
        events.clear();
        if let Err(e) = self.poller.wait(&mut events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            panic!("epoll_wait failed: {e}");
        }
        let mut ready = self.ready.borrow_mut();
        // Descriptors closed on other threads (their `forget` also woke this wait): their
        // waiters are ready like the others, woken after the wait as well.
        if self.remote.has_closed.load(Ordering::Relaxed) && self.remote.has_closed.swap(false, Ordering::AcqRel) {
            super::take_swapped(&self.taken_closed, &self.remote.closed, |fd| {
                if let Some(waiters) = self.unregister(fd) {
                    ready.extend([waiters.read, waiters.write].into_iter().flatten());
                }
            });
        }
        let mut fds = self.fds.borrow_mut();
        for event in events.iter() {
            let fd = event.key as RawFd;
            let Some(waiters) = fds.get_mut(&fd) else {
                continue;
            };
            // Errors and hang-ups are reported as both readable and writable by polling.
            if event.readable {
                ready.extend(waiters.read.take());
            }
            if event.writable {
                ready.extend(waiters.write.take());
            }
            // One-shot: the descriptor is disarmed now. Re-arm for a waiter still waiting.
            if waiters.read.is_some() || waiters.write.is_some() {
                let again = Event::new(fd as usize, waiters.read.is_some(), waiters.write.is_some());
                // SAFETY: see `add`.
                let _ = self.poller.modify(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, again);
            }
        }
        drop(fds);
        drop(events);
        !ready.is_empty()
    }

    /// Wakes the waiters `wait` found ready. Returns whether there were any.
    fn wake_ready(&self) -> bool {
        let wakers = std::mem::take(&mut *self.ready.borrow_mut());
        let any = !wakers.is_empty();
        wake_all(&self.ready, wakers);
        any
    }

    /// Wakes every waiter (shutdown).
    pub(crate) fn wake_all(&self) {
        let wakers: Vec<Waker> =
            self.fds.borrow_mut().values_mut().flat_map(|w| [w.read.take(), w.write.take()]).flatten().collect();
        for waker in wakers {
            waker.wake();
        }
    }

    pub(crate) fn poll(&self) -> bool {
        self.wait(Some(Duration::ZERO));
        self.wake_ready()
    }

    /// Sleeps until an event, a wake-up or `timeout`; the waiters found ready are woken by
    /// `after_park`.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        self.wait(timeout);
    }

    /// Wakes the waiters the last `park` found ready.
    pub(crate) fn after_park(&self) {
        self.wake_ready();
    }

    /// Forgets `fd` (it is being closed) and wakes its waiters: closing the descriptor drops
    /// its registration in the kernel, so no event would ever wake them. They try their call
    /// again, which fails (`EBADF`) once the descriptor is closed.
    pub(crate) fn forget(&self, fd: RawFd) {
        if let Some(waiters) = self.unregister(fd) {
            for waker in [waiters.read, waiters.write].into_iter().flatten() {
                waker.wake();
            }
        }
    }

    /// Drops `fd`'s registration; returns its waiters, not woken.
    fn unregister(&self, fd: RawFd) -> Option<Waiters> {
        let waiters = self.fds.borrow_mut().remove(&fd)?;
        if waiters.registered {
            // SAFETY: see `add`.
            let _ = self.poller.delete(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) });
        }
        Some(waiters)
    }
}

/// Wakes every waker, then gives the emptied vector back for reuse.
pub(super) fn wake_all(slot: &RefCell<Vec<Waker>>, mut wakers: Vec<Waker>) {
    for waker in wakers.drain(..) {
        waker.wake();
    }
    let mut slot = slot.borrow_mut();
    if slot.is_empty() {
        *slot = wakers;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Wake;
    use std::task::Waker;
    use std::time::Duration;

    use super::{EpollReactor, Interest};

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        (flag.clone(), Waker::from(flag))
    }

    /// `park` only sleeps: the waiters it finds ready are woken by `after_park`, once the
    /// worker counts as awake again (a wake-up inside `park` would queue coroutines while the
    /// worker still counts as asleep, and so wake the worker itself).
    #[test]
    fn park_wakes_nobody_and_after_park_wakes_the_ready() {
        let (reactor, _remote) = EpollReactor::new().unwrap();
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let (woken, waker) = flag();
        reactor.register(ours.as_raw_fd(), Interest::Readable, &waker).unwrap();
        peer.write_all(b"x").unwrap();
        reactor.park(Some(Duration::from_secs(5)));
        assert!(!woken.0.load(Ordering::SeqCst), "woken inside park");
        reactor.after_park();
        assert!(woken.0.load(Ordering::SeqCst), "not woken after park");
    }

    /// The same for a descriptor closed on another thread: its waiters are woken after the
    /// park, not in it.
    #[test]
    fn waiters_of_a_descriptor_closed_elsewhere_are_woken_after_park() {
        let (reactor, remote) = EpollReactor::new().unwrap();
        let (ours, _peer) = UnixStream::pair().unwrap();
        let (woken, waker) = flag();
        let fd = ours.as_raw_fd();
        reactor.register(fd, Interest::Readable, &waker).unwrap();
        std::thread::spawn(move || remote.forget(fd)).join().unwrap();
        reactor.park(Some(Duration::from_secs(5)));
        assert!(!woken.0.load(Ordering::SeqCst), "woken inside park");
        reactor.after_park();
        assert!(woken.0.load(Ordering::SeqCst), "not woken after park");
        assert_eq!(reactor.in_flight(), 0, "the closed descriptor is still registered");
    }

    /// The inbox of descriptors closed elsewhere is swapped with the reactor's own list, so a
    /// close reported under its lock allocates only while the lists grow.
    #[test]
    fn taken_closes_leave_the_list_room_for_the_next() {
        let (reactor, remote) = EpollReactor::new().unwrap();
        // Two rounds: the lists swap, and after both each has held descriptors.
        for round in 0..2 {
            for fd in 0..100 {
                remote.forget(1_000 + fd);
            }
            reactor.park(Some(Duration::from_secs(5)));
            reactor.after_park();
            assert!(remote.closed.lock().unwrap().is_empty(), "round {round}: descriptors left");
        }
        assert!(remote.closed.lock().unwrap().capacity() >= 100);
    }
}
