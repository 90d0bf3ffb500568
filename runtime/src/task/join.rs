//! Waiting for a coroutine's result: `JoinHandle` and `JoinError`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::current;
use super::raw::TaskRef;

/// Why a coroutine produced no value.
pub struct JoinError {
    id: u64,
    repr: Repr,
}

enum Repr {
    Panicked(Box<dyn Any + Send + 'static>),
    Cancelled,
    TimedOut,
    NoStack(io::Error),
    AlreadyJoined,
}

impl JoinError {
    pub(crate) fn panicked(id: u64, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError { id, repr: Repr::Panicked(payload) }
    }

    pub(crate) fn cancelled(id: u64) -> JoinError {
        JoinError { id, repr: Repr::Cancelled }
    }

    pub(crate) fn no_stack(id: u64, error: io::Error) -> JoinError {
        JoinError { id, repr: Repr::NoStack(error) }
    }

    pub(crate) fn timed_out(id: u64) -> JoinError {
        JoinError { id, repr: Repr::TimedOut }
    }

    pub(crate) fn already_joined(id: u64) -> JoinError {
        JoinError { id, repr: Repr::AlreadyJoined }
    }

    /// The coroutine panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panicked(_))
    }

    /// The coroutine was cancelled (by `JoinHandle::cancel` or runtime shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// `timeout_join` gave up waiting; the coroutine goes on running.
    pub fn is_timeout(&self) -> bool {
        matches!(self.repr, Repr::TimedOut)
    }

    /// The coroutine never started because no stack could be mapped for it (for example
    /// `vm.max_map_count` was reached). [`JoinError::io_error`] says why.
    pub fn is_no_stack(&self) -> bool {
        matches!(self.repr, Repr::NoStack(_))
    }

    /// The error that kept the coroutine from starting, if that is what happened.
    pub fn io_error(&self) -> Option<&io::Error> {
        match &self.repr {
            Repr::NoStack(e) => Some(e),
            _ => None,
        }
    }

    /// The id of the coroutine this error is about.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The panic payload, for `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// Panics if the error is not a panic.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic().unwrap_or_else(|e| panic!("`JoinError` is not a panic: {e}"))
    }

    /// The panic payload, or the error itself if it is not a panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panicked(payload) => Ok(payload),
            repr => Err(JoinError { id: self.id, repr }),
        }
    }

    /// The panic message, when the payload is a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panicked(p) => {
                p.downcast_ref::<&'static str>().copied().or_else(|| p.downcast_ref::<String>().map(String::as_str))
            }
            _ => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = self.id;
        match &self.repr {
            Repr::Panicked(_) => match self.panic_message() {
                Some(msg) => write!(f, "coroutine {id} panicked: {msg}"),
                None => write!(f, "coroutine {id} panicked"),
            },
            Repr::Cancelled => write!(f, "coroutine {id} was cancelled"),
            Repr::TimedOut => write!(f, "timed out waiting for coroutine {id}"),
            Repr::NoStack(e) => write!(f, "coroutine {id} could not start: {e}"),
            Repr::AlreadyJoined => write!(f, "the result of coroutine {id} was already taken"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.repr {
            Repr::Panicked(_) => "Panicked",
            Repr::Cancelled => "Cancelled",
            Repr::TimedOut => "TimedOut",
            Repr::NoStack(_) => "NoStack",
            Repr::AlreadyJoined => "AlreadyJoined",
        };
        f.debug_struct("JoinError")
            .field("id", &self.id)
            .field("kind", &kind)
            .field("message", &self.to_string())
            .finish()
    }
}

impl std::error::Error for JoinError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::NoStack(e) => Some(e),
            _ => None,
        }
    }
}

impl From<JoinError> for io::Error {
    fn from(e: JoinError) -> io::Error {
        let kind = match &e.repr {
            Repr::TimedOut => io::ErrorKind::TimedOut,
            Repr::NoStack(inner) => inner.kind(),
            Repr::Cancelled => io::ErrorKind::Interrupted,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.to_string())
    }
}

/// An owned permission to wait for a coroutine and take its result.
///
/// Dropping the handle detaches the coroutine: it runs on, and its result is dropped.
/// A `JoinHandle` is also a [`Future`] of `Result<T, JoinError>`.
pub struct JoinHandle<T> {
    task: TaskRef,
    taken: bool,
    _output: PhantomData<T>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = self.task.header();
        f.debug_struct("JoinHandle").field("id", &header.id).field("finished", &header.state.is_complete()).finish()
    }
}

// The output is moved out through the handle only, and T: Send is required at spawn.
impl<T> Unpin for JoinHandle<T> {}

impl<T: Send + 'static> JoinHandle<T> {
    pub(crate) fn new(task: TaskRef) -> JoinHandle<T> {
        JoinHandle { task, taken: false, _output: PhantomData }
    }

    /// The coroutine's id.
    pub fn id(&self) -> u64 {
        self.task.header().id
    }

    /// The coroutine's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.task.header().name.as_deref()
    }

    /// Whether the coroutine has finished (returned, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.task.header().state.is_complete()
    }

    /// Asks the coroutine to stop.
    ///
    /// Cancellation is cooperative: at its next suspension point (a sleep, a join, a yield, a
    /// wait on IO or on a runtime lock) the coroutine unwinds, running its destructors, and
    /// `join` then returns an error for which [`JoinError::is_cancelled`] is true. A
    /// coroutine that has not started yet never starts. A finished one is not affected.
    pub fn cancel(&self) {
        let header = self.task.header();
        if !header.state.cancel() {
            header.wake();
        }
    }

    /// Waits for the coroutine and returns its result.
    ///
    /// In a coroutine this suspends only the calling coroutine; on a plain thread it blocks
    /// the thread.
    pub fn join(mut self) -> Result<T, JoinError> {
        self.wait(None);
        self.take()
    }

    /// Waits at most `timeout` for the coroutine.
    ///
    /// On time-out the error says so ([`JoinError::is_timeout`]) and the handle stays usable:
    /// the coroutine runs on and can be joined again later.
    pub fn timeout_join(&mut self, timeout: Duration) -> Result<T, JoinError> {
        let deadline = Instant::now().checked_add(timeout);
        if self.wait(deadline) { self.take() } else { Err(JoinError::timed_out(self.id())) }
    }

    fn take(&mut self) -> Result<T, JoinError> {
        if self.taken {
            return Err(JoinError::already_joined(self.id()));
        }
        let mut out: Option<Result<T, JoinError>> = None;
        // SAFETY: `out` has this task's output type; the task is complete (wait returned true
        // after an acquire load of COMPLETE) and the handle is the only reader.
        unsafe { self.task.take_output((&raw mut out).cast()) };
        self.taken = true;
        out.unwrap_or_else(|| Err(JoinError::already_joined(self.id())))
    }

    /// Waits until the task is complete or the deadline passes; returns whether it completed.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let header = self.task.header();
        if header.state.is_complete() {
            return true;
        }
        match current::waker() {
            Some(waker) => {
                // In a coroutine: park it, with a timer for the deadline.
                loop {
                    *header.join_waker.lock() = Some(waker.clone());
                    if header.state.is_complete() {
                        return true;
                    }
                    if let Some(deadline) = deadline {
                        if Instant::now() >= deadline {
                            header.join_waker.lock().take();
                            return false;
                        }
                        current::park_until(deadline);
                    } else {
                        current::park_forever();
                    }
                }
            }
            None => {
                let waiter = Arc::new(ThreadWaiter(std::thread::current()));
                let waker = Waker::from(waiter);
                *header.join_waker.lock() = Some(waker);
                loop {
                    if header.state.is_complete() {
                        return true;
                    }
                    match deadline {
                        Some(deadline) => {
                            let now = Instant::now();
                            if now >= deadline {
                                header.join_waker.lock().take();
                                return header.state.is_complete();
                            }
                            std::thread::park_timeout(deadline - now);
                        }
                        None => std::thread::park(),
                    }
                }
            }
        }
    }
}

impl<T: Send + 'static> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let header = self.task.header();
        if !header.state.is_complete() {
            *header.join_waker.lock() = Some(cx.waker().clone());
            if !header.state.is_complete() {
                return Poll::Pending;
            }
        }
        Poll::Ready(self.take())
    }
}

/// Wakes a plain thread blocked in `join`.
struct ThreadWaiter(std::thread::Thread);

impl Wake for ThreadWaiter {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
