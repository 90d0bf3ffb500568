//! Models of an io_uring operation's lifecycle (`runtime/src/reactor/op.rs`): the waiter
//! and the ring's completion, one-shot and standing (multishot).

use std::task::{Wake, Waker};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use crate::op::{Op, Standing};

/// A waker that counts its wake-ups (a std `Arc`: `Waker` needs one; the count is loom's).
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn waker() -> (Waker, std::sync::Arc<Count>) {
    let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
    (Waker::from(count.clone()), count)
}

fn new_op() -> Arc<Op> {
    quiet_op(None)
}

fn quiet_op(quiet: Option<i32>) -> Arc<Op> {
    let op = Op::new(quiet);
    op.user_data.set(1);
    Arc::new(op)
}

/// The ring completes the operation while its waiter looks: the waiter finds the result, or
/// its waker is woken (never neither), and the result is there afterwards.
#[test]
fn a_completion_racing_the_waiter_is_never_lost() {
    loom::model(|| {
        let op = new_op();
        let (waker, count) = waker();
        let ring = {
            let op = op.clone();
            thread::spawn(move || {
                if let Some(w) = op.complete(42) {
                    w.wake();
                }
            })
        };
        let seen = op.result_or_wait(&waker);
        ring.join().unwrap();
        let woken = count.0.load(Ordering::SeqCst);
        assert!(seen == Some(42) || woken == 1, "lost: saw {seen:?}, woken {woken} times");
        assert!(woken <= 1);
        assert_eq!(op.result_or_wait(&waker), Some(42));
        assert!(op.has_ended());
    });
}

/// A waiter that expects a result (`Op::new(Some(res))`, as a whole send's waiter expects the
/// send's length) and then waits loudly again: whatever the order, the loud wait is not lost.
#[test]
fn an_expected_result_is_quiet_but_a_loud_wait_is_never_lost() {
    loom::model(|| {
        let op = quiet_op(Some(-125));
        let (waker, count) = waker();
        assert_eq!(op.result_or_wait(&waker), None);
        let ring = {
            let op = op.clone();
            thread::spawn(move || {
                if let Some(w) = op.complete(-125) {
                    w.wake();
                }
            })
        };
        let loud = op.result_or_wait_loud(&waker);
        ring.join().unwrap();
        let woken = count.0.load(Ordering::SeqCst);
        assert!(loud == Some(-125) || woken == 1, "lost: loud wait saw {loud:?}, woken {woken} times");
    });
}

/// A standing operation delivers two events and then ends while its waiter takes them: the
/// waiter never waits without a wake-up to come, and sees every completion's events (merged
/// when several came before it looked) and the end.
#[test]
fn a_standing_operations_waiter_sees_its_end() {
    loom::model(|| {
        let op = new_op();
        let (waker, count) = waker();
        let ring = {
            let op = op.clone();
            thread::spawn(move || {
                for res in [1, 2] {
                    if let Some(w) = op.event(res) {
                        w.wake();
                    }
                }
                if let Some(w) = op.complete(4) {
                    w.wake();
                }
            })
        };
        let mut seen = 0;
        let mut waited = 0;
        loop {
            match op.take_event_or_wait(&waker) {
                Standing::Event { res } => {
                    assert_eq!(res & seen, 0, "events reported twice: {seen:#b}, then {res:#b}");
                    seen |= res;
                }
                Standing::Ended => break,
                Standing::Pending => {
                    // Parked until the ring wakes it: a wake-up must come (without one this
                    // loop never ends, and loom fails the model).
                    waited += 1;
                    while count.0.load(Ordering::SeqCst) < waited {
                        thread::yield_now();
                    }
                }
                Standing::Busy => unreachable!("one waiter"),
            }
        }
        ring.join().unwrap();
        assert_eq!(seen, 7, "every completion's events, the final one's included");
    });
}

/// The looks that take no lock (`is_done`, `has_event`, `has_ended`) agree with the state: a
/// waiter woken by the completion sees it through them, and one that sees it there finds the
/// result under the lock.
#[test]
fn looks_without_the_lock_agree_with_the_state() {
    loom::model(|| {
        let op = new_op();
        let (waker, count) = waker();
        assert_eq!(op.result_or_wait(&waker), None);
        let ring = {
            let op = op.clone();
            thread::spawn(move || {
                if let Some(w) = op.complete(7) {
                    w.wake();
                }
            })
        };
        let done = op.is_done();
        let ended = op.has_ended();
        let woken = count.0.load(Ordering::SeqCst) == 1;
        if woken {
            assert!(op.is_done() && op.has_ended(), "woken before the flags were published");
        }
        if done || ended {
            assert_eq!(op.result_or_wait(&waker), Some(7));
        }
        ring.join().unwrap();
        assert!(op.is_done() && op.has_ended());
    });
}

/// A standing operation's event is seen by `has_event` once its waiter is woken, and no
/// longer once the waiter took it.
#[test]
fn a_standing_event_is_seen_until_taken() {
    loom::model(|| {
        let op = new_op();
        let (waker, count) = waker();
        assert!(matches!(op.take_event_or_wait(&waker), Standing::Pending));
        let ring = {
            let op = op.clone();
            thread::spawn(move || {
                if let Some(w) = op.event(5) {
                    w.wake();
                }
            })
        };
        if count.0.load(Ordering::SeqCst) == 1 {
            assert!(op.has_event(), "woken before the event was published");
        }
        ring.join().unwrap();
        assert!(op.has_event() && !op.has_ended());
        assert!(matches!(op.take_event_or_wait(&waker), Standing::Event { res: 5 }));
        assert!(!op.has_event());
    });
}
