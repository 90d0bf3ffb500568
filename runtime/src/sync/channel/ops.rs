//! A receive and a send as operations of a wait: what `recv`, `send`, their async forms and
//! `select!` are made of.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::chan::{Recv, Send};
use super::{Receiver, RecvError, SendError, Sender};
use crate::sync::wait::{self, Arm};
use crate::sync::waiter::{Waiter, WaiterCell};

/// A receive, as one operation of a wait or a `select!`.
pub struct RecvArm<'a, T> {
    rx: &'a Receiver<T>,
    /// Where a sender puts the message for this receiver while it waits (blocking waits
    /// only; see `chan.rs`).
    slot: Option<T>,
    out: Option<Result<T, RecvError>>,
}

impl<'a, T> RecvArm<'a, T> {
    pub(crate) fn new(rx: &'a Receiver<T>) -> RecvArm<'a, T> {
        RecvArm { rx, slot: None, out: None }
    }

    /// The outcome, once the operation completed.
    ///
    /// # Panics
    ///
    /// Panics if the operation has not completed (a bug in the caller).
    pub fn take(&mut self) -> Result<T, RecvError> {
        self.out.take().expect("the receive completed")
    }
}

impl<T> Arm for RecvArm<'_, T> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        if let Some(message) = self.slot.take() {
            // A sender handed it over while this side waited.
            self.out = Some(Ok(message));
            return true;
        }
        match self.rx.chan.try_recv(register, Some(NonNull::from(&mut self.slot))) {
            Recv::Message(message) => self.out = Some(Ok(message)),
            Recv::Disconnected => self.out = Some(Err(RecvError)),
            Recv::Empty => return false,
        }
        true
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        self.rx.chan.withdraw_receiver(waiter);
    }

    fn pass_on(&mut self) {
        self.rx.chan.pass_on_receiver(self.slot.take());
    }

    fn withdraw_claimed(&mut self, _waiter: &Waiter) {
        // Its claimer popped the entry it claimed.
    }
}

impl<T> fmt::Debug for RecvArm<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvArm").finish_non_exhaustive()
    }
}

/// A send, as one operation of a wait or a `select!`. While it waits, its message sits in
/// the channel's queue of waiting senders; it comes back if the wait ends otherwise.
pub struct SendArm<'a, T> {
    tx: &'a Sender<T>,
    /// The message, while this side holds it.
    value: Option<T>,
    out: Option<Result<(), SendError<T>>>,
}

impl<'a, T> SendArm<'a, T> {
    pub(super) fn new(tx: &'a Sender<T>, value: T) -> SendArm<'a, T> {
        SendArm { tx, value: Some(value), out: None }
    }

    /// The outcome, once the operation completed.
    ///
    /// # Panics
    ///
    /// Panics if the operation has not completed (a bug in the caller).
    pub fn take(&mut self) -> Result<(), SendError<T>> {
        self.out.take().expect("the send completed")
    }

    /// The message of a send that did not complete.
    pub(super) fn into_value(mut self) -> T {
        self.value.take().expect("a send that did not complete keeps its message")
    }
}

impl<T> Arm for SendArm<'_, T> {
    fn attempt(&mut self, register: Option<(&WaiterCell, usize)>) -> bool {
        let Some(value) = self.value.take() else {
            // A receiver took the message while this side waited.
            self.out = Some(Ok(()));
            return true;
        };
        match self.tx.chan.try_send(value, register) {
            Send::Sent => self.out = Some(Ok(())),
            Send::Disconnected(value) => self.out = Some(Err(SendError(value))),
            Send::Full(value) => {
                // `None` when registered: the channel holds the message meanwhile.
                self.value = value;
                return false;
            }
        }
        true
    }

    fn withdraw(&mut self, waiter: &Waiter) {
        if self.value.is_none() && self.out.is_none() {
            // `None` back means a receiver took it: the next attempt reports the send done.
            self.value = self.tx.chan.withdraw_sender(waiter);
            if self.value.is_none() {
                self.out = Some(Ok(()));
            }
        }
    }

    fn pass_on(&mut self) {}
}

impl<T> SendArm<'_, T> {
    fn done(&self) -> bool {
        self.out.is_some()
    }
}

impl<T> fmt::Debug for SendArm<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendArm").field("done", &self.done()).finish_non_exhaustive()
    }
}

/// The future of [`Receiver::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    arm: RecvArm<'a, T>,
    waiter: Option<Arc<Waiter>>,
}

impl<'a, T> RecvFuture<'a, T> {
    pub(super) fn new(arm: RecvArm<'a, T>) -> RecvFuture<'a, T> {
        RecvFuture { arm, waiter: None }
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let this = self.get_mut();
        wait::poll_arm(&mut this.arm, &mut this.waiter, cx).map(|()| this.arm.take())
    }
}

impl<T> Unpin for RecvFuture<'_, T> {}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        wait::drop_arm(&mut self.arm, &mut self.waiter);
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvFuture").finish_non_exhaustive()
    }
}

/// The future of [`Sender::send_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    arm: SendArm<'a, T>,
    waiter: Option<Arc<Waiter>>,
}

impl<'a, T> SendFuture<'a, T> {
    pub(super) fn new(arm: SendArm<'a, T>) -> SendFuture<'a, T> {
        SendFuture { arm, waiter: None }
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        let this = self.get_mut();
        wait::poll_arm(&mut this.arm, &mut this.waiter, cx).map(|()| this.arm.take())
    }
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        wait::drop_arm(&mut self.arm, &mut self.waiter);
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendFuture").finish_non_exhaustive()
    }
}
