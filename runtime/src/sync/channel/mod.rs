//! Multi-producer multi-consumer channels for coroutines and threads: [`bounded`] (with
//! back-pressure, and `bounded(0)` for a rendezvous) and [`unbounded`].
//!
//! A blocking operation suspends the calling coroutine (its worker runs others) or blocks a
//! plain thread, and is a cancellation point. Receivers are also futures' sources
//! ([`Receiver::recv_async`]) and senders have [`Sender::send_async`], so async code and
//! coroutines can talk without blocking an executor. [`select!`](crate::select) waits on
//! several operations at once.
//!
//! ```
//! use oc_runtime::sync::channel;
//!
//! let (tx, rx) = channel::bounded(16);
//! let producers: Vec<_> = (0..4u64)
//!     .map(|p| {
//!         let tx = tx.clone();
//!         oc_runtime::spawn(move || (0..100).for_each(|i| tx.send(p * 1000 + i).unwrap()))
//!     })
//!     .collect();
//! drop(tx); // the channel disconnects when the producers' clones are gone too
//! let consumer = oc_runtime::spawn(move || rx.iter().count());
//! for p in producers {
//!     p.join().unwrap();
//! }
//! assert_eq!(consumer.join().unwrap(), 400);
//! ```

mod chan;
mod error;
mod ops;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use self::chan::{Chan, Recv, Send};
pub use self::error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError};
pub use self::ops::{RecvFuture, SendFuture};
// What `select!` expands to (through `Sender::__select_send` and `Receiver::__select_recv`):
// public because the macro's expansion in the user's crate names them, not for direct use.
#[doc(hidden)]
pub use self::ops::{RecvArm, SendArm};
use super::wait::{self, Deadline};

/// A channel that holds at most `cap` messages: `send` waits while it is full. With `cap`
/// 0, every `send` waits for a receiver to take its message (a rendezvous).
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(Some(cap)));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// A channel without a limit: `send` never waits.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan::new(None));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending side of a channel; clone it for more producers. When every `Sender` is gone,
/// receivers get the queued messages and then a disconnection error.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving side of a channel; clone it for more consumers (each message goes to
/// one). When every `Receiver` is gone, senders get their messages back in an error.
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full. Fails (giving the value back) once
    /// every receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        // Most sends need no wait (a receiver waits, or there is room): tried without the
        // wait's set-up, which the send then needs only when the channel is full.
        let value = match self.chan.try_send(value, None) {
            Send::Sent => return Ok(()),
            Send::Disconnected(value) => return Err(SendError(value)),
            Send::Full(value) => value.expect("not registered"),
        };
        // The next attempt registers a waiter (made only then) if it still cannot send.
        let mut arm = SendArm::new(self, value);
        wait::wait_arm(&mut arm, Deadline::Never);
        arm.take().map_err(|e| SendError(e.into_inner()))
    }

    /// Sends `value` if that needs no wait.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.try_send(value, None) {
            Send::Sent => Ok(()),
            Send::Disconnected(value) => Err(TrySendError::Disconnected(value)),
            Send::Full(value) => Err(TrySendError::Full(value.expect("not registered"))),
        }
    }

    /// Sends `value`, waiting at most `timeout` for room.
    pub fn send_timeout(&self, value: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline_inner(value, Deadline::after(timeout))
    }

    /// Sends `value`, waiting until `deadline` at the latest.
    pub fn send_deadline(&self, value: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        self.send_deadline_inner(value, Deadline::At(deadline))
    }

    fn send_deadline_inner(&self, value: T, deadline: Deadline) -> Result<(), SendTimeoutError<T>> {
        let mut arm = SendArm::new(self, value);
        if wait::wait_arm(&mut arm, deadline) {
            arm.take().map_err(|e| SendTimeoutError::Disconnected(e.into_inner()))
        } else {
            Err(SendTimeoutError::Timeout(arm.into_value()))
        }
    }

    /// Sends `value` from async code, waiting (without blocking the executor) for room.
    pub fn send_async(&self, value: T) -> SendFuture<'_, T> {
        SendFuture::new(SendArm::new(self, value))
    }

    /// Messages queued right now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing is queued right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity: `Some(n)` for a bounded channel, `None` for an unbounded one.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.cap
    }

    /// Whether every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        self.chan.is_disconnected()
    }

    /// Whether both ends belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// A `select!` arm sending `value` (used by the macro).
    #[doc(hidden)]
    pub fn __select_send(&self, value: T) -> SendArm<'_, T> {
        SendArm::new(self, value)
    }
}

impl<T> Receiver<T> {
    /// Receives a message, waiting until one comes. Fails once the channel is empty and every
    /// sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        // The first attempt registers a waiter (made only then) if nothing is queued.
        let mut arm = RecvArm::new(self);
        wait::wait_arm(&mut arm, Deadline::Never);
        arm.take()
    }

    /// Receives a message if one is queued.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        match self.chan.try_recv(None, None) {
            Recv::Message(message) => Ok(message),
            Recv::Empty => Err(TryRecvError::Empty),
            Recv::Disconnected => Err(TryRecvError::Disconnected),
        }
    }

    /// Receives a message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline_inner(Deadline::after(timeout))
    }

    /// Receives a message, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        self.recv_deadline_inner(Deadline::At(deadline))
    }

    fn recv_deadline_inner(&self, deadline: Deadline) -> Result<T, RecvTimeoutError> {
        let mut arm = RecvArm::new(self);
        if wait::wait_arm(&mut arm, deadline) {
            arm.take().map_err(RecvTimeoutError::from)
        } else {
            Err(RecvTimeoutError::Timeout)
        }
    }

    /// Receives a message from async code, waiting without blocking the executor.
    pub fn recv_async(&self) -> RecvFuture<'_, T> {
        RecvFuture::new(RecvArm::new(self))
    }

    /// A blocking iterator: each `next` is a `recv`, and the iteration ends when the channel
    /// is empty and disconnected.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages queued right now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Messages queued right now.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether nothing is queued right now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The capacity: `Some(n)` for a bounded channel, `None` for an unbounded one.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.cap
    }

    /// Whether every sender is gone (messages may still be queued).
    pub fn is_disconnected(&self) -> bool {
        self.chan.is_disconnected()
    }

    /// Whether both ends belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// A `select!` arm receiving a message (used by the macro).
    #[doc(hidden)]
    pub fn __select_recv(&self) -> RecvArm<'_, T> {
        RecvArm::new(self)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_senders();
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver { chan: self.chan.clone() }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_receivers();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").field("capacity", &self.chan.cap).field("len", &self.len()).finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("capacity", &self.chan.cap)
            .field("len", &self.len())
            .field("senders", &self.chan.senders_left())
            .finish()
    }
}

/// The iterator of [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// The iterator of [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// The iterator of a `Receiver` used by value in a `for` loop.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
