//! The shared core of a channel: a queue, its capacity, and who waits on either side.
//!
//! # State
//!
//! Under one spin lock: the queued messages, the receivers waiting for a message, and the
//! senders waiting for room, each holding its message in its queue entry. Counts of live
//! `Sender`s and `Receiver`s sit beside it.
//!
//! # Invariants
//!
//! - A receiver that takes a message from a full queue moves the first waiting sender's
//!   message into the freed place (or, without capacity, takes it straight from that
//!   sender) and claims that sender, whose send is then done. So senders never retry: their
//!   messages keep their order.
//! - A sender that finds a receiver waiting in a blocking wait hands the message straight
//!   into that receiver's operation (its `slot`, on the receiver's stack) and claims it: the
//!   receiver returns the message without taking the lock again, and no other receiver can
//!   overtake it. A receiver that waits from async code (its future may move) has no slot: it
//!   is claimed after the message went into the queue, and retries; another receiver may
//!   take the message first, and the claimed one then waits again.
//! - A slot is written only under the lock and only while its entry is queued; its owner
//!   reads it only after a claim for that operation, or after withdrawing the entry under
//!   the lock.
//! - A waiting sender's entry stays until its message is taken or its owner withdraws it; an
//!   entry whose owner can no longer be claimed (its `select!` completed elsewhere, it timed
//!   out) is skipped, never emptied, so the owner gets its message back.
//! - Without capacity, a message enters the queue only together with the claim of a waiting
//!   receiver (a rendezvous); a claimed receiver that then unwinds passes its claim on.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::SpinLock;
use super::super::waiter::{Claimed, Waiter, WaiterCell, WaiterRef};

pub(super) struct Chan<T> {
    inner: SpinLock<Inner<T>>,
    /// `None`: unbounded.
    pub(super) cap: Option<usize>,
    pub(super) senders: AtomicUsize,
    pub(super) receivers: AtomicUsize,
}

struct Inner<T> {
    queue: VecDeque<T>,
    receivers_q: VecDeque<RecvEntry<T>>,
    senders_q: VecDeque<SendEntry<T>>,
    /// Every sender is gone.
    no_senders: bool,
    /// Every receiver is gone.
    no_receivers: bool,
}

struct RecvEntry<T> {
    waiter: WaiterRef,
    token: usize,
    /// Where a sender may put the message, for a receiver in a blocking wait.
    slot: Option<NonNull<Option<T>>>,
}

// SAFETY: the slot is touched only under the channel's lock (see the module's invariants);
// the message it receives is a `T: Send` moving to its receiver.
unsafe impl<T: std::marker::Send> std::marker::Send for RecvEntry<T> {}

struct SendEntry<T> {
    waiter: WaiterRef,
    token: usize,
    value: Option<T>,
}

/// What a receive attempt found.
pub(super) enum Recv<T> {
    Message(T),
    Empty,
    Disconnected,
}

/// What a send attempt did.
pub(super) enum Send<T> {
    Sent,
    /// No room (or no receiver waiting, without capacity); the message comes back unless the
    /// sender registered, which then holds it.
    Full(Option<T>),
    Disconnected(T),
}

impl<T> Inner<T> {
    /// Gives `value` to the first waiting receiver that can be claimed: into its slot, or
    /// into the queue for a receiver without one. Returns the claimed receiver, or the value
    /// if none waits.
    fn hand_to_receiver(&mut self, mut value: T) -> Result<Claimed, T> {
        while let Some(entry) = self.receivers_q.pop_front() {
            match entry.slot {
                Some(slot) => {
                    // SAFETY: the entry is queued and we hold the lock: its owner has not
                    // withdrawn it, so the slot is alive and nobody else touches it.
                    unsafe { *slot.as_ptr() = Some(value) };
                    if let Some(claimed) = entry.waiter.claim(entry.token) {
                        return Ok(claimed);
                    }
                    // Not claimable: its owner reads the slot only after a claim for it.
                    // SAFETY: as above.
                    value = unsafe { (*slot.as_ptr()).take() }.expect("just written");
                }
                None => {
                    if let Some(claimed) = entry.waiter.claim(entry.token) {
                        self.queue.push_back(value);
                        return Ok(claimed);
                    }
                }
            }
        }
        Err(value)
    }

    /// Claims every waiting receiver (they retry and find the channel disconnected).
    fn claim_all_receivers(&mut self) -> Vec<Claimed> {
        self.receivers_q.drain(..).filter_map(|e| e.waiter.claim(e.token)).collect()
    }

    /// Takes the message of the first sender that can still be claimed, claiming it.
    fn take_from_sender(&mut self) -> Option<(T, Claimed)> {
        let (index, claimed) =
            self.senders_q.iter().enumerate().find_map(|(i, e)| e.waiter.claim(e.token).map(|c| (i, c)))?;
        let entry = self.senders_q.remove(index).expect("found above");
        Some((entry.value.expect("a waiting sender holds its message"), claimed))
    }
}

impl<T> Chan<T> {
    pub(super) fn new(cap: Option<usize>) -> Chan<T> {
        Chan {
            inner: SpinLock::new(Inner {
                queue: VecDeque::with_capacity(cap.unwrap_or(0).min(1024)),
                receivers_q: VecDeque::new(),
                senders_q: VecDeque::new(),
                no_senders: false,
                no_receivers: false,
            }),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    /// Tries to receive; when nothing is there and `register` is given, queues the waiter,
    /// with `slot` for a sender to fill when the wait is pinned (see the module's invariants).
    pub(super) fn try_recv(&self, register: Option<(&WaiterCell, usize)>, slot: Option<NonNull<Option<T>>>) -> Recv<T> {
        let mut inner = self.inner.lock();
        if let Some(message) = inner.queue.pop_front() {
            let refill = if self.cap.is_some() { inner.take_from_sender() } else { None };
            let woken = refill.map(|(value, waiter)| {
                inner.queue.push_back(value);
                waiter
            });
            drop(inner);
            if let Some(waiter) = woken {
                waiter.wake();
            }
            return Recv::Message(message);
        }
        if let Some((message, waiter)) = inner.take_from_sender() {
            drop(inner);
            waiter.wake();
            return Recv::Message(message);
        }
        if inner.no_senders {
            return Recv::Disconnected;
        }
        if let Some((cell, token)) = register {
            let slot = slot.filter(|_| cell.pinned());
            inner.receivers_q.push_back(RecvEntry { waiter: cell.register(), token, slot });
        }
        Recv::Empty
    }

    pub(super) fn try_send(&self, value: T, register: Option<(&WaiterCell, usize)>) -> Send<T> {
        let mut inner = self.inner.lock();
        if inner.no_receivers {
            return Send::Disconnected(value);
        }
        // Receivers wait only while the queue is empty: the first of them gets this message.
        let value = match inner.hand_to_receiver(value) {
            Ok(receiver) => {
                drop(inner);
                receiver.wake();
                return Send::Sent;
            }
            Err(value) => value,
        };
        let room = match self.cap {
            None => true,
            Some(cap) => inner.queue.len() < cap,
        };
        if room {
            inner.queue.push_back(value);
            return Send::Sent;
        }
        match register {
            Some((waiter, token)) => {
                inner.senders_q.push_back(SendEntry { waiter: waiter.register(), token, value: Some(value) });
                Send::Full(None)
            }
            None => Send::Full(Some(value)),
        }
    }

    pub(super) fn withdraw_receiver(&self, waiter: &Waiter) {
        self.inner.lock().receivers_q.retain(|e| !e.waiter.is(waiter));
    }

    /// Removes a waiting sender's entry: `Some(message)` if it was still there, `None` if a
    /// receiver took the message.
    pub(super) fn withdraw_sender(&self, waiter: &Waiter) -> Option<T> {
        let mut inner = self.inner.lock();
        let index = inner.senders_q.iter().position(|e| e.waiter.is(waiter))?;
        inner.senders_q.remove(index).and_then(|e| e.value)
    }

    /// A receiver claimed by this channel leaves without receiving (it unwinds, or another
    /// arm of its `select!` won): the message handed to it, if any, goes to the next waiting
    /// receiver or back to the front of the queue; and another receiver is woken if there is
    /// something to receive.
    pub(super) fn pass_on_receiver(&self, handed: Option<T>) {
        let mut inner = self.inner.lock();
        let woken = match handed {
            Some(message) => match inner.hand_to_receiver(message) {
                Ok(receiver) => Some(receiver),
                Err(message) => {
                    inner.queue.push_front(message);
                    None
                }
            },
            None => {
                if let Some(message) = inner.queue.pop_front() {
                    match inner.hand_to_receiver(message) {
                        Ok(receiver) => Some(receiver),
                        Err(message) => {
                            inner.queue.push_front(message);
                            None
                        }
                    }
                } else if !inner.senders_q.is_empty() || inner.no_senders {
                    // A waiting sender's message, or the disconnection: one receiver retries.
                    loop {
                        match inner.receivers_q.pop_front() {
                            Some(e) => {
                                if let Some(claimed) = e.waiter.claim(e.token) {
                                    break Some(claimed);
                                }
                            }
                            None => break None,
                        }
                    }
                } else {
                    None
                }
            }
        };
        drop(inner);
        if let Some(waiter) = woken {
            waiter.wake();
        }
    }

    /// The last sender is gone: wake every receiver.
    pub(super) fn disconnect_senders(&self) {
        let mut inner = self.inner.lock();
        inner.no_senders = true;
        let woken = inner.claim_all_receivers();
        drop(inner);
        for waiter in woken {
            waiter.wake();
        }
    }

    /// The last receiver is gone: wake every sender (their messages stay in their entries
    /// for them to take back) and drop what was queued.
    pub(super) fn disconnect_receivers(&self) {
        let mut inner = self.inner.lock();
        inner.no_receivers = true;
        let queued = std::mem::take(&mut inner.queue);
        let woken: Vec<Claimed> = inner.senders_q.iter().filter_map(|e| e.waiter.claim(e.token)).collect();
        drop(inner);
        for waiter in woken {
            waiter.wake();
        }
        drop(queued);
    }

    pub(super) fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    pub(super) fn is_disconnected(&self) -> bool {
        let inner = self.inner.lock();
        inner.no_senders || inner.no_receivers
    }

    pub(super) fn senders_left(&self) -> usize {
        self.senders.load(Ordering::Relaxed)
    }
}
