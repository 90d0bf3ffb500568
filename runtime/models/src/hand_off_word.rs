//! Models of the hand-off word (`runtime/src/scheduler/driver.rs`): one thread at a time
//! drives a worker.
//!
//! The worker's non-thread-safe parts are modelled by a loom `UnsafeCell` that each thread
//! writes while it believes it drives the worker: loom fails the model if two writes are not
//! ordered by the protocol's own synchronisation.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

use crate::driver::{DriverWord, Mode};

/// Tokens of the thread stuck in a coroutine, and of the spare carrier it is handed to.
const STUCK: u64 = 1;
const SPARE: u64 = 2;

struct Worker {
    word: DriverWord,
    /// The worker's queues, timers and reactor.
    parts: UnsafeCell<u64>,
}

impl Worker {
    fn touch(&self, by: u64) {
        // SAFETY: the model's claim under test: only the thread that drives the worker
        // calls this; loom reports any unordered pair of accesses.
        self.parts.with_mut(|p| unsafe { *p = by });
    }
}

/// The coroutine's thread enters runtime code twice (`current_worker` guards), then
/// suspends (`leave_user`), while the monitor tries to hand the worker to a spare: whoever
/// wins, every touch of the worker is ordered, and exactly one thread ends up driving it.
#[test]
fn a_hand_off_and_the_coroutines_own_thread_never_drive_the_worker_at_once() {
    loom::model(|| {
        let worker = Arc::new(Worker { word: DriverWord::new(), parts: UnsafeCell::new(0) });
        // `enter_user`: the stuck thread resumed a coroutine.
        worker.word.store(STUCK, Mode::User);
        let monitor = {
            let worker = worker.clone();
            thread::spawn(move || {
                let (driver, mode) = worker.word.load();
                if mode == Mode::User && worker.word.swap(driver, Mode::User, Mode::Handed) {
                    // The carrier adopts it (`Worker::adopt`) and runs its queue.
                    worker.word.store(SPARE, Mode::Sched);
                    worker.touch(SPARE);
                    true
                } else {
                    false
                }
            })
        };
        let mut touched = 0;
        for _ in 0..2 {
            // `current_worker`: a guard moves User → Runtime, and its drop stores User back.
            if worker.word.swap(STUCK, Mode::User, Mode::Runtime) {
                worker.touch(STUCK);
                touched += 1;
                worker.word.store(STUCK, Mode::User);
            }
        }
        // `leave_user`: back to the scheduler, unless the worker was handed off.
        let kept = worker.word.swap(STUCK, Mode::User, Mode::Sched);
        if kept {
            worker.touch(STUCK);
        }
        let handed = monitor.join().unwrap();
        assert!(kept != handed, "kept by its thread: {kept}, handed off: {handed}");
        let (driver, mode) = worker.word.load();
        if handed {
            assert_eq!((driver, mode), (SPARE, Mode::Sched));
        } else {
            assert_eq!((driver, mode), (STUCK, Mode::Sched));
            assert_eq!(touched, 2, "no hand-off, so no guard was refused");
        }
    });
}

/// A frozen coroutine's thread gives the worker up to a spare (`release_to_spare`) while the
/// monitor tries to hand it off: exactly one of them succeeds.
#[test]
fn release_to_a_spare_and_a_hand_off_exclude_each_other() {
    loom::model(|| {
        let worker = Arc::new(Worker { word: DriverWord::new(), parts: UnsafeCell::new(0) });
        worker.word.store(STUCK, Mode::User);
        worker.touch(STUCK);
        let monitor = {
            let worker = worker.clone();
            thread::spawn(move || {
                let (driver, mode) = worker.word.load();
                mode == Mode::User && worker.word.swap(driver, Mode::User, Mode::Handed)
            })
        };
        let released = worker.word.swap(STUCK, Mode::User, Mode::Handed);
        let handed = monitor.join().unwrap();
        assert!(released != handed);
        assert_eq!(worker.word.load(), (STUCK, Mode::Handed));
        // Whoever won passes the worker on; the new driver's touch is ordered after the
        // stuck thread's.
        worker.word.store(SPARE, Mode::Sched);
        worker.touch(SPARE);
    });
}
