//! How an idle worker sleeps, and how others wake it.
//!
//! A `Parker` holds one wake-up token: `unpark` before `park` makes the next `park` return
//! at once, so a wake-up is never lost. The IO reactor takes this role over: its backends
//! sleep in `epoll_wait`/`io_uring_enter` and are woken through their own notify mechanism,
//! behind the same two calls.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// One worker's sleeping place.
pub(crate) struct Parker {
    token: Mutex<bool>,
    cvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            token: Mutex::new(false),
            cvar: Condvar::new(),
        }
    }

    /// Sleeps until unparked or `timeout` passes (`None`: no limit). May return early.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if !*token {
            token = match timeout {
                Some(timeout) => {
                    self.cvar
                        .wait_timeout(token, timeout)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.cvar.wait(token).unwrap_or_else(|e| e.into_inner()),
            };
        }
        *token = false;
    }

    /// Wakes the worker, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if !*token {
            *token = true;
            self.cvar.notify_one();
        }
    }
}
