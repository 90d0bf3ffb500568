//! `spawn_blocking`: run CPU-heavy or unhookable blocking work (`getaddrinfo`, `open` on a
//! slow file system, a C library's own waits) on a pool of plain threads, and join its
//! result like a coroutine's.
//!
//! ```
//! let h = oc_runtime::spawn(|| {
//!     let job = oc_runtime::spawn_blocking(|| {
//!         std::net::ToSocketAddrs::to_socket_addrs("localhost:80").map(|a| a.count())
//!     });
//!     job.join().unwrap() // suspends this coroutine only
//! });
//! assert!(h.join().unwrap().unwrap() >= 1);
//! ```
//!
//! # State
//!
//! One pool per process, under a `std::sync::Mutex` (held by plain threads, and by a
//! coroutine only to queue a job): the queued jobs, the threads alive, how many of them wait
//! for work (`idle`) and how many wake-ups were sent to waiting threads (`wakeups`).
//!
//! # Invariants
//!
//! - `idle + wakeups` is the number of threads waiting on the condition variable: a job
//!   moves one unit from `idle` to `wakeups` when it wakes a thread, and a thread leaving the
//!   wait takes one unit back from `wakeups` if there is one, else from `idle`.
//! - A thread is started only when no waiting thread is left to wake and fewer than the
//!   maximum are alive; beyond that, jobs queue. A thread that finds no work for the
//!   keep-alive time exits.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::sync::channel::{self, Receiver, RecvArm, RecvTimeoutError};
use crate::sync::{__Waiter as Waiter, wait};
use crate::task::JoinError;

/// The most threads the pool runs at once, unless `OC_BLOCKING_THREADS` says otherwise.
pub const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;

/// How long an idle pool thread waits for work before it exits.
const KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

struct Pool {
    state: Mutex<State>,
    work: Condvar,
    max_threads: usize,
}

struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    wakeups: usize,
}

static POOL: OnceLock<Pool> = OnceLock::new();
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let max_threads = match std::env::var("OC_BLOCKING_THREADS") {
            Ok(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    tracing::warn!("ignoring OC_BLOCKING_THREADS={v:?}: not a positive whole number");
                    DEFAULT_MAX_BLOCKING_THREADS
                }
            },
            Err(_) => DEFAULT_MAX_BLOCKING_THREADS,
        };
        Pool {
            state: Mutex::new(State { queue: VecDeque::new(), threads: 0, idle: 0, wakeups: 0 }),
            work: Condvar::new(),
            max_threads,
        }
    })
}

/// Runs `f` on the blocking pool and returns a handle to join its result.
///
/// The pool grows on demand up to `OC_BLOCKING_THREADS` threads (default
/// [`DEFAULT_MAX_BLOCKING_THREADS`]); beyond that, jobs wait in a queue. Threads that stay
/// idle for 10 seconds exit. A job runs to its end even if its handle is dropped or the
/// coroutine joining it is cancelled.
pub fn spawn_blocking<F, T>(f: F) -> BlockingHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = channel::bounded(1);
    let job: Job = Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(|payload| JoinError::panicked(id, payload));
        // The handle may be gone: then nobody wants the result.
        let _ = tx.send(result);
    });
    let pool = pool();
    let mut state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    state.queue.push_back(job);
    if state.idle > 0 {
        state.idle -= 1;
        state.wakeups += 1;
        drop(state);
        pool.work.notify_one();
    } else if state.threads < pool.max_threads {
        state.threads += 1;
        drop(state);
        let started = std::thread::Builder::new().name("oc-blocking".into()).spawn(move || pool_thread(pool));
        if let Err(e) = started {
            // The job stays queued for a running thread; with none, fail the ones queued.
            let mut state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            state.threads -= 1;
            if state.threads == 0 {
                let jobs: Vec<Job> = state.queue.drain(..).collect();
                drop(state);
                tracing::error!("cannot start a blocking-pool thread: {e}");
                drop(jobs); // their handles see the job gone
            }
        }
    }
    BlockingHandle { id, rx, waiter: None, joined: false }
}

fn pool_thread(pool: &'static Pool) {
    let mut state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            job();
            state = pool.state.lock().unwrap_or_else(|e| e.into_inner());
            continue;
        }
        state.idle += 1;
        let (next, timeout) = pool.work.wait_timeout(state, KEEP_ALIVE).unwrap_or_else(|e| e.into_inner());
        state = next;
        if state.wakeups > 0 {
            state.wakeups -= 1;
        } else {
            state.idle -= 1;
        }
        if timeout.timed_out() && state.queue.is_empty() {
            state.threads -= 1;
            return;
        }
    }
}

/// Owned permission to wait for a [`spawn_blocking`] job and take its result.
///
/// `join` suspends a coroutine (blocks a plain thread); the handle is also a `Future`.
pub struct BlockingHandle<T> {
    id: u64,
    rx: Receiver<Result<T, JoinError>>,
    waiter: Option<Arc<Waiter>>,
    /// Whether `timeout_join` took the result.
    joined: bool,
}

impl<T> BlockingHandle<T> {
    /// Waits for the job and returns its result; a panic in the job comes back as a
    /// [`JoinError`] for which `is_panic` is true. Waiting is a cancellation point.
    pub fn join(mut self) -> Result<T, JoinError> {
        if self.joined {
            return Err(JoinError::already_joined(self.id));
        }
        self.joined = true;
        self.rx.recv().unwrap_or_else(|_| Err(JoinError::cancelled(self.id)))
    }

    /// Waits at most `timeout` for the job.
    ///
    /// On time-out the error says so ([`JoinError::is_timeout`]) and the handle stays usable:
    /// the job runs on (a blocking call cannot be interrupted) and can be joined again later.
    /// Waiting is a cancellation point.
    pub fn timeout_join(&mut self, timeout: Duration) -> Result<T, JoinError> {
        if self.joined {
            return Err(JoinError::already_joined(self.id));
        }
        match self.rx.recv_timeout(timeout) {
            Ok(result) => {
                self.joined = true;
                result
            }
            Err(RecvTimeoutError::Timeout) => Err(JoinError::timed_out(self.id)),
            Err(RecvTimeoutError::Disconnected) => Err(JoinError::cancelled(self.id)),
        }
    }

    /// Whether the job has finished.
    pub fn is_finished(&self) -> bool {
        !self.rx.is_empty() || self.rx.is_disconnected()
    }

    /// The job's id (its own sequence, distinct from coroutine ids).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl<T> Future for BlockingHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.joined {
            return Poll::Ready(Err(JoinError::already_joined(this.id)));
        }
        let mut arm = RecvArm::new(&this.rx);
        match wait::poll_arm(&mut arm, &mut this.waiter, cx) {
            Poll::Ready(()) => {
                this.joined = true;
                Poll::Ready(arm.take().unwrap_or_else(|_| Err(JoinError::cancelled(this.id))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Unpin for BlockingHandle<T> {}

impl<T> Drop for BlockingHandle<T> {
    fn drop(&mut self) {
        wait::drop_arm(&mut RecvArm::new(&self.rx), &mut self.waiter);
    }
}

impl<T> fmt::Debug for BlockingHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingHandle").field("id", &self.id).field("finished", &self.is_finished()).finish()
    }
}
