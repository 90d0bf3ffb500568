//! Unit tests of `op.rs` (kept apart: that file is also compiled into the loom models).

use std::task::Waker;

use super::op::{Op, Standing};

fn take(op: &Op) -> Option<i32> {
    match op.take_event_or_wait(Waker::noop()) {
        Standing::Event { res } => Some(res),
        _ => None,
    }
}

/// The kernel reports each wake-up's own events: a peer's data, then its shutdown (which
/// the poll looks up afresh: bytes and the end), then its data's wake-up again (bytes
/// only). A waiter that looks after all three must still learn of the end, which no
/// completion will report again.
#[test]
fn events_that_arrive_before_the_waiter_looks_are_merged() {
    let (bytes, end) = (libc::POLLIN as i32, libc::POLLRDHUP as i32);
    let op = Op::new(None);
    assert!(op.event(bytes).is_none() && op.event(bytes | end).is_none() && op.event(bytes).is_none());
    assert_eq!(take(&op), Some(bytes | end));
    // Taken: the next completion is reported alone.
    assert!(op.event(bytes).is_none());
    assert_eq!(take(&op), Some(bytes));
    assert_eq!(take(&op), None);
}

/// The final completion is merged with what the waiter has not taken; an error replaces it
/// and is not replaced.
#[test]
fn the_final_completion_is_merged_and_an_error_replaces_and_stays() {
    let (bytes, end) = (libc::POLLIN as i32, libc::POLLRDHUP as i32);
    let op = Op::new(None);
    assert!(op.event(end).is_none() && op.complete(bytes).is_none());
    assert_eq!(take(&op), Some(bytes | end));
    assert!(op.has_ended() && matches!(op.take_event_or_wait(Waker::noop()), Standing::Ended));
    let op = Op::new(None);
    assert!(op.event(bytes).is_none() && op.complete(-libc::ECANCELED).is_none());
    assert_eq!(take(&op), Some(-libc::ECANCELED));
    // An untaken error stays, whatever follows it.
    let op = Op::new(None);
    assert!(op.event(-libc::EIO).is_none() && op.complete(bytes).is_none());
    assert_eq!(take(&op), Some(-libc::EIO));
}
