//! The async bridge: a coroutine waits for any `Future`, and async code waits for
//! coroutines.
//!
//! - [`wait_future`] runs a future to completion from inside a coroutine: the coroutine is
//!   parked between polls and re-scheduled by the future's waker, so its worker runs other
//!   coroutines meanwhile. (Not to be confused with [`block_on`](crate::block_on), which runs
//!   a *closure* as a coroutine.) On a plain thread it blocks the thread.
//! - A [`JoinHandle`](crate::JoinHandle) is a `Future`: spawn a coroutine from any thread,
//!   including a tokio task, and `.await` its result there.
//! - Channels and the locks of [`sync`](crate::sync) have `*_async` methods.
//!
//! ```
//! use std::future::Future;
//! use std::pin::Pin;
//! use std::task::{Context, Poll};
//!
//! // A future that is ready on its second poll, after waking its task.
//! struct Twice(bool);
//! impl Future for Twice {
//!     type Output = &'static str;
//!     fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
//!         if self.0 {
//!             return Poll::Ready("done");
//!         }
//!         self.0 = true;
//!         cx.waker().wake_by_ref();
//!         Poll::Pending
//!     }
//! }
//!
//! let h = oc_runtime::spawn(|| oc_runtime::wait_future(Twice(false)));
//! assert_eq!(h.join().unwrap(), "done");
//! ```
//!
//! A future that needs its own runtime's context (a tokio timer or socket) must be created
//! and polled inside that runtime: hand it to a tokio task and wait for its result, for
//! example through a `tokio::sync::oneshot` or an oc channel's `recv_async`.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Waits for `future` and returns its output. In a coroutine, only the coroutine waits (its
/// worker runs others), and the wait is a cancellation point (the future is dropped as the
/// coroutine unwinds); on a plain thread, the thread blocks.
pub fn wait_future<F: Future>(future: F) -> F::Output {
    match wait(future, None) {
        Ok(output) => output,
        Err(Elapsed(())) => unreachable!("no deadline"),
    }
}

/// As [`wait_future`], giving up after `timeout` (the future is dropped then).
pub fn wait_future_timeout<F: Future>(future: F, timeout: Duration) -> Result<F::Output, Elapsed> {
    wait(future, Instant::now().checked_add(timeout))
}

/// [`wait_future_timeout`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future did not complete in time")
    }
}

impl std::error::Error for Elapsed {}

fn wait<F: Future>(future: F, deadline: Option<Instant>) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    if crate::task::can_suspend() {
        let waker = crate::task::waker().expect("in a coroutine");
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return Ok(output);
            }
            match deadline {
                None => crate::task::park_forever(),
                Some(deadline) if Instant::now() >= deadline => return Err(Elapsed(())),
                Some(deadline) => crate::task::park_until(deadline),
            }
        }
    }
    let signal = Arc::new(ThreadSignal { thread: std::thread::current(), woken: AtomicBool::new(false) });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        while !signal.woken.swap(false, Ordering::Acquire) {
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Elapsed(()));
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }
}

/// Wakes a plain thread waiting in `wait_future`.
struct ThreadSignal {
    thread: std::thread::Thread,
    woken: AtomicBool,
}

impl Wake for ThreadSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}
