//! A gate that releases coroutines all at once (shared by the test suites of several crates).

use std::sync::{Arc, Mutex};

/// A gate that releases every coroutine once `n` have arrived.
pub(crate) struct Gate {
    n: usize,
    waiting: Mutex<Vec<oc_runtime::task::Coroutine>>,
    open: std::sync::atomic::AtomicBool,
}

impl Gate {
    pub(crate) fn new(n: usize) -> Arc<Gate> {
        Arc::new(Gate { n, waiting: Mutex::new(Vec::new()), open: std::sync::atomic::AtomicBool::new(false) })
    }

    /// Waits until `n` coroutines have called `arrive`.
    pub(crate) fn arrive(&self) {
        let me = oc_runtime::task::current().expect("in a coroutine");
        {
            let mut waiting = self.waiting.lock().unwrap();
            waiting.push(me);
            if waiting.len() == self.n {
                self.open.store(true, std::sync::atomic::Ordering::SeqCst);
                for c in waiting.drain(..) {
                    c.unpark();
                }
            }
        }
        while !self.open.load(std::sync::atomic::Ordering::SeqCst) {
            oc_runtime::task::park();
        }
    }
}
