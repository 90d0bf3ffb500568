//! A burst of wake-ups from one coroutine, for the wake-threshold tests.

use std::collections::HashSet;
use std::sync::mpsc;
use std::thread::ThreadId;
use std::time::Duration;

use oc_runtime::sync::channel;

/// Coroutines parked on channels, woken together.
pub(crate) struct Burst {
    senders: Senders,
    /// Each woken coroutine sends its thread here, then runs `after`.
    ran_on: mpsc::Receiver<ThreadId>,
}

impl Burst {
    /// Spawns `n` coroutines on `rt` that wait on a channel each; once woken, each reports
    /// its thread and runs `after(i)`.
    pub(crate) fn park(rt: &oc_runtime::Runtime, n: usize, after: impl Fn(usize) + Clone + Send + 'static) -> Burst {
        let (report, ran_on) = mpsc::channel();
        let senders = Senders(
            (0..n)
                .map(|i| {
                    let (tx, rx) = channel::bounded::<()>(1);
                    let report = report.clone();
                    let after = after.clone();
                    rt.spawn(move || {
                        rx.recv().unwrap();
                        report.send(std::thread::current().id()).unwrap();
                        after(i);
                    });
                    tx
                })
                .collect(),
        );
        Burst { senders, ran_on }
    }

    /// Wakes every parked coroutine from one coroutine of `rt`, once the other worker has had
    /// time to go to sleep. Returns the sleeping workers woken meanwhile (the `wakeups` metric
    /// from before the waker's own timer wake-up to after the sends), the waker's thread, and
    /// the threads that ran the woken coroutines.
    pub(crate) fn wake(self, rt: &oc_runtime::Runtime) -> (u64, ThreadId, HashSet<ThreadId>) {
        let n = self.senders.0.len();
        let senders = self.senders;
        let (woken, waker_thread) = rt
            .spawn(move || {
                // Counted from here: this coroutine's wake-up by its timer (the other worker
                // sleeps meanwhile), then its wake-ups.
                let before = oc_runtime::current_metrics().unwrap().wakeups;
                oc_runtime::sleep(Duration::from_millis(100));
                senders.send_all();
                let after = oc_runtime::current_metrics().unwrap().wakeups;
                (after - before, std::thread::current().id())
            })
            .join()
            .unwrap();
        let threads = (0..n).map(|_| self.ran_on.recv_timeout(Duration::from_secs(10)).unwrap()).collect();
        (woken, waker_thread, threads)
    }

    /// The senders, to wake the coroutines some other way; and where they report.
    pub(crate) fn split(self) -> (Senders, mpsc::Receiver<ThreadId>) {
        (self.senders, self.ran_on)
    }
}

/// One sender per parked coroutine of a [`Burst`].
pub(crate) struct Senders(Vec<channel::Sender<()>>);

impl Senders {
    /// Wakes every coroutine, in order (from a coroutine: the first woken waits in the
    /// waker's run-next slot, the others in its queue).
    pub(crate) fn send_all(&self) {
        for tx in &self.0 {
            tx.send(()).unwrap();
        }
    }
}
