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
//! - A sender whose message went into the queue claims one waiting receiver, which retries.
//!   Another receiver may take the message first; the claimed one then waits again.
//! - A waiting sender's entry stays until its message is taken or its owner withdraws it; an
//!   entry whose owner can no longer be claimed (its `select!` completed elsewhere, it timed
//!   out) is skipped, never emptied, so the owner gets its message back.
//! - Without capacity, a message enters the queue only together with the claim of a waiting
//!   receiver (a rendezvous); a claimed receiver that then unwinds passes its claim on.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::SpinLock;
use super::super::waiter::{WaitList, Waiter, WaiterCell, Woken};

pub(super) struct Chan<T> {
    inner: SpinLock<Inner<T>>,
    /// `None`: unbounded.
    pub(super) cap: Option<usize>,
    pub(super) senders: AtomicUsize,
    pub(super) receivers: AtomicUsize,
}

struct Inner<T> {
    queue: VecDeque<T>,
    receivers_q: WaitList,
    senders_q: VecDeque<SendEntry<T>>,
    /// Every sender is gone.
    no_senders: bool,
    /// Every receiver is gone.
    no_receivers: bool,
}

struct SendEntry<T> {
    waiter: Arc<Waiter>,
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
    /// Takes the message of the first sender that can still be claimed, claiming it.
    fn take_from_sender(&mut self) -> Option<(T, Arc<Waiter>)> {
        let index = self.senders_q.iter().position(|e| e.waiter.claim(e.token))?;
        let entry = self.senders_q.remove(index).expect("found above");
        Some((entry.value.expect("a waiting sender holds its message"), entry.waiter))
    }
}

impl<T> Chan<T> {
    pub(super) fn new(cap: Option<usize>) -> Chan<T> {
        Chan {
            inner: SpinLock::new(Inner {
                queue: VecDeque::with_capacity(cap.unwrap_or(0).min(1024)),
                receivers_q: WaitList::new(),
                senders_q: VecDeque::new(),
                no_senders: false,
                no_receivers: false,
            }),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(super) fn try_recv(&self, register: Option<(&WaiterCell, usize)>) -> Recv<T> {
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
        if let Some((waiter, token)) = register {
            inner.receivers_q.push(waiter.get(), token);
        }
        Recv::Empty
    }

    pub(super) fn try_send(&self, value: T, register: Option<(&WaiterCell, usize)>) -> Send<T> {
        let mut inner = self.inner.lock();
        if inner.no_receivers {
            return Send::Disconnected(value);
        }
        let room = match self.cap {
            None => true,
            Some(cap) => inner.queue.len() < cap,
        };
        let woken = if room {
            inner.queue.push_back(value);
            inner.receivers_q.claim_one()
        } else if let Some(receiver) = inner.receivers_q.claim_one() {
            // Without capacity: a rendezvous with a waiting receiver.
            inner.queue.push_back(value);
            Some(receiver)
        } else {
            return match register {
                Some((waiter, token)) => {
                    inner.senders_q.push_back(SendEntry { waiter: waiter.get().clone(), token, value: Some(value) });
                    Send::Full(None)
                }
                None => Send::Full(Some(value)),
            };
        };
        drop(inner);
        if let Some(waiter) = woken {
            waiter.wake();
        }
        Send::Sent
    }

    pub(super) fn withdraw_receiver(&self, waiter: &Arc<Waiter>) {
        self.inner.lock().receivers_q.remove(waiter);
    }

    /// Removes a waiting sender's entry: `Some(message)` if it was still there, `None` if a
    /// receiver took the message.
    pub(super) fn withdraw_sender(&self, waiter: &Arc<Waiter>) -> Option<T> {
        let mut inner = self.inner.lock();
        let index = inner.senders_q.iter().position(|e| Arc::ptr_eq(&e.waiter, waiter))?;
        inner.senders_q.remove(index).and_then(|e| e.value)
    }

    /// A receiver claimed by this channel leaves without receiving: wake another if there
    /// is something to receive.
    pub(super) fn pass_on_receiver(&self) {
        let mut inner = self.inner.lock();
        let ready = !inner.queue.is_empty() || !inner.senders_q.is_empty() || inner.no_senders;
        let woken = if ready { inner.receivers_q.claim_one() } else { None };
        drop(inner);
        if let Some(waiter) = woken {
            waiter.wake();
        }
    }

    /// The last sender is gone: wake every receiver.
    pub(super) fn disconnect_senders(&self) {
        let mut inner = self.inner.lock();
        inner.no_senders = true;
        let woken: Woken = inner.receivers_q.claim_all();
        drop(inner);
        woken.wake_all();
    }

    /// The last receiver is gone: wake every sender (their messages stay in their entries
    /// for them to take back) and drop what was queued.
    pub(super) fn disconnect_receivers(&self) {
        let mut inner = self.inner.lock();
        inner.no_receivers = true;
        let queued = std::mem::take(&mut inner.queue);
        let woken: Vec<Arc<Waiter>> =
            inner.senders_q.iter().filter(|e| e.waiter.claim(e.token)).map(|e| e.waiter.clone()).collect();
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
