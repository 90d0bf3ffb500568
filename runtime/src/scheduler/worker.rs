//! A worker: the loop that runs coroutines on one OS thread.
//!
//! # State
//!
//! Everything in `Worker` is touched only by its own thread: the loop itself, and the
//! coroutines it resumes (spawning pushes to `local`, waking fills `run_next`, sleeping arms
//! `timers`). Other threads reach the worker only through its `Stealer`, its `Parker` and
//! its counters in `Shared`.
//!
//! # Picking the next task
//!
//! 1. Due timers are fired (their coroutines join the local queue).
//! 2. A queued task more urgent than the default priority runs first, unless local work has
//!    been passed over for `AGING`.
//! 3. Every 61st pick looks at the global injector first, so that it is never starved by a
//!    busy local queue; every 16th pick runs a long-waiting low-priority task.
//! 4. Every other pick while the local queue holds work: a preempted coroutine frozen on its
//!    thread, waiting for its turn (`freeze.rs`).
//! 5. The run-next slot (a coroutine just woken by another), at most 16 times in a row.
//! 6. A coroutine that yielded with the local queue empty, then the local queue, then ready
//!    IO, the injector, frozen coroutines, and the other workers' queues (in batches).
//! 7. Tasks less urgent than the default.
//!
//! Then the worker sleeps in its parker, until woken or until its first timer is due.

use std::cell::{Cell, RefCell};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

use crossbeam_deque::{Steal, Worker as Deque};

use super::driver::DriverWord;
pub(crate) use super::driver::Mode;
use super::priority::AGING;
use super::{Shared, context};
use crate::metrics::bump;

fn bump_shared(counter: &std::sync::atomic::AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
use crate::reactor::Reactor;
use crate::stack::{Stack, StackCache};
use crate::task::{DEFAULT_PRIORITY, Header, Run, Suspend, TaskRef};
use crate::time::TimerHeap;

/// How many ids a worker reserves at once.
const ID_BLOCK: u64 = 1024;
/// How often (in picks) the injector is checked before the local queue.
const INJECTOR_INTERVAL: u32 = 61;
/// How often (in picks) a starved low-priority task is looked for.
const STARVED_INTERVAL: u32 = 16;
/// How many times in a row the run-next slot may go first.
const RUN_NEXT_STREAK: u32 = 16;
/// How often (in picks) queued IO submissions are handed to the kernel while busy.
const FLUSH_INTERVAL: u32 = 16;
/// Longest sleep of a worker while the runtime shuts down and coroutines are still alive.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);

/// What the worker loop does next.
enum Next {
    /// Run a task taken off a queue.
    Run(TaskRef),
    /// Run the task taken from the run-next slot (its state already says `RUNNING`).
    Woken(TaskRef),
    /// Run again the task that yielded into the `yielded` slot (its state still says
    /// `RUNNING`).
    Resume(TaskRef),
    /// Give the worker to the thread frozen with this task (`freeze.rs`), if the freeze word
    /// still reads this.
    Thaw(TaskRef, u32),
}

/// How a thread's turn at driving a worker ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The runtime shut down and the worker has exited.
    Exited,
    /// The worker was handed to another thread while this one ran a coroutine.
    Lost,
}

/// One worker: a run queue, a reactor, timers and a stack cache, driven by one thread at a
/// time (normally its own; after a hand-off, a carrier).
///
/// # Invariants
///
/// - Only the thread whose token is in `driver` touches the `Cell`/`RefCell` fields, the
///   deque's owner side and the reactor.
/// - `driver` and `mode` change hands only as `context.rs` describes.
pub(crate) struct Worker {
    index: usize,
    /// The driving thread and what it does (`driver.rs`).
    state: DriverWord,
    /// Coroutines resumed so far; the monitor watches it move.
    resumes: AtomicU64,
    /// Whether the coroutine being run may be preempted by a signal.
    preemptible: AtomicBool,
    /// The monitor asked for a preemption signal to be acted on.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    preempt_request: AtomicBool,
    /// Preemption signals this worker's handler had to defer (unsafe point).
    deferrals: AtomicU64,
    /// Where the last deferred signal interrupted the code, and how many deferrals in a row
    /// found it at that same instruction (a thread blocked in a system call or stuck in one
    /// place; code that merely spends much of its time in libc moves between signals).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    deferral_pc: AtomicU64,
    deferrals_same_pc: AtomicU64,
    /// Preempted coroutines frozen on their threads, waiting for their turn here (never
    /// stolen), each with the freeze word read when it was queued (`freeze.rs`). Driver only.
    pinned: RefCell<std::collections::VecDeque<(TaskRef, u32)>>,
    /// A coroutine just frozen, offered by its thread (a counted task pointer, or null);
    /// the driver moves it to `pinned`.
    frozen_slot: AtomicPtr<Header>,
    /// `pthread_t` of the driving thread.
    thread: AtomicU64,
    /// Kernel thread id of the driving thread.
    tid: AtomicI32,
    /// A preemptible coroutine that was handed off with its thread: that thread's kernel id
    /// (0: none) and token, until the coroutine suspends. The monitor keeps signalling it
    /// there, so that it is preempted again (and goes back to the pool) once it runs on.
    detached_tid: AtomicI32,
    detached_token: AtomicU64,
    detached_request: AtomicBool,
    reactor: Reactor,
    shared: Arc<Shared>,
    local: Deque<TaskRef>,
    run_next: Cell<Option<TaskRef>>,
    run_next_streak: Cell<u32>,
    /// A coroutine that yielded while the local queue was empty: the back of the queue was
    /// its front, so it waits here instead of going through the deque (a push and a pop,
    /// whose pop is a locked instruction), and its state stays `RUNNING` (two more saved).
    /// Anything queued after it runs after it. Nobody else can take it: shutdown and `exit`
    /// drop it like any queued task.
    yielded: Cell<Option<TaskRef>>,
    timers: RefCell<TimerHeap>,
    stacks: RefCell<StackCache>,
    ids: Cell<(u64, u64)>,
    tick: Cell<u32>,
    rng: Cell<u32>,
    searching: Cell<bool>,
    /// Since when local default-priority work has been passed over for urgent work.
    passed_over: Cell<Option<Instant>>,
    /// Where a stuck coroutine's backtrace is taken (`preempt/sample.rs`).
    sample: crate::preempt::sample::Sample,
}

// SAFETY: the non-thread-safe fields are touched only by the driving thread (see the
// invariants above and `context.rs`); everything else is atomic or immutable.
unsafe impl Sync for Worker {}
// SAFETY: as above; a worker moves between threads only through a hand-off.
unsafe impl Send for Worker {}

/// A coroutine handed off with its thread (`Worker::try_hand_off`).
pub(crate) struct Handed {
    /// Whether it was spawned preemptible (the monitor then keeps signalling it there).
    pub(crate) preemptible: bool,
    /// Kernel id and token of the thread it keeps running on.
    pub(crate) tid: i32,
    pub(crate) token: u64,
}

impl Worker {
    pub(crate) fn new(index: usize, shared: Arc<Shared>, local: Deque<TaskRef>, reactor: Reactor) -> Worker {
        Worker {
            index,
            state: DriverWord::new(),
            resumes: AtomicU64::new(0),
            preemptible: AtomicBool::new(false),
            preempt_request: AtomicBool::new(false),
            deferrals: AtomicU64::new(0),
            deferral_pc: AtomicU64::new(0),
            deferrals_same_pc: AtomicU64::new(0),
            pinned: RefCell::new(std::collections::VecDeque::new()),
            frozen_slot: AtomicPtr::new(std::ptr::null_mut()),
            thread: AtomicU64::new(0),
            tid: AtomicI32::new(0),
            detached_tid: AtomicI32::new(0),
            detached_token: AtomicU64::new(0),
            detached_request: AtomicBool::new(false),
            reactor,
            shared,
            local,
            run_next: Cell::new(None),
            run_next_streak: Cell::new(0),
            yielded: Cell::new(None),
            timers: RefCell::new(TimerHeap::new()),
            stacks: RefCell::new(StackCache::new(index)),
            ids: Cell::new((0, 0)),
            tick: Cell::new(0),
            rng: Cell::new(0x9E37_79B9 ^ (index as u32).wrapping_mul(0x85EB_CA6B) | 1),
            searching: Cell::new(false),
            passed_over: Cell::new(None),
            sample: crate::preempt::sample::Sample::new(),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Debug builds: panics unless the calling thread drives this worker (the only thread
    /// allowed to touch its queues, timers, stacks and reactor).
    #[inline]
    fn check_driver(&self) {
        if cfg!(debug_assertions) {
            let (driver, mode) = self.driver_and_mode();
            assert!(
                driver == context::thread_token() && mode != Mode::Handed,
                "worker {} touched by thread {} while thread {driver} drives it ({mode:?})",
                self.index,
                context::thread_token(),
            );
        }
    }

    /// The id of the thread driving this worker, and what it does.
    pub(crate) fn driver_and_mode(&self) -> (u64, Mode) {
        self.state.load()
    }

    /// Driver only: sets the mode (never from `Handed`, which only the monitor leaves).
    pub(crate) fn set_mode(&self, mode: Mode) {
        self.set_mode_as(context::thread_token(), mode);
    }

    /// As [`set_mode`](Worker::set_mode), for a caller that has the driver's token at hand.
    pub(crate) fn set_mode_as(&self, token: u64, mode: Mode) {
        self.state.store(token, mode);
    }

    /// Moves the worker from `from` to `to` if thread `driver` drives it in mode `from`.
    fn swap_mode(&self, driver: u64, from: Mode, to: Mode) -> bool {
        self.state.swap(driver, from, to)
    }

    /// A coroutine enters runtime code: `User` → `Runtime`. Fails once the worker is handed.
    /// The caller passes its own [`thread_token`](context::thread_token).
    pub(crate) fn enter_runtime_as(&self, token: u64) -> bool {
        self.swap_mode(token, Mode::User, Mode::Runtime)
    }

    /// Monitor only: takes the worker from a thread stuck in a coroutine's own code, if that
    /// thread still runs the coroutine the monitor watched (run number `resumes`). Returns
    /// what was handed off.
    ///
    /// What the monitor saw may be stale by the time it acts (securing a carrier can take a
    /// thread start): the watched coroutine may have suspended and another, perhaps not
    /// preemptible, be running. So the run number is checked first, and whether the
    /// coroutine is preemptible is read after the swap, when its old thread can no longer
    /// start another run on this worker and its new driver has not yet started one.
    pub(crate) fn try_hand_off(&self, resumes: u64) -> Option<Handed> {
        let (driver, mode) = self.driver_and_mode();
        if mode != Mode::User
            || self.resumes.load(Ordering::Acquire) != resumes
            || !self.swap_mode(driver, Mode::User, Mode::Handed)
        {
            return None;
        }
        Some(Handed { preemptible: self.preemptible.load(Ordering::Relaxed), tid: self.tid(), token: driver })
    }

    /// Monitor only: what to watch.
    pub(crate) fn activity(&self) -> (u64, Mode, bool) {
        (self.resumes.load(Ordering::Acquire), self.driver_and_mode().1, self.preemptible.load(Ordering::Relaxed))
    }

    /// The sample slot for stuck-coroutine backtraces.
    ///
    /// # Signal safety
    ///
    /// Returns a reference to a field.
    pub(crate) fn sample(&self) -> &crate::preempt::sample::Sample {
        &self.sample
    }

    /// Coroutine runs started on this worker so far.
    ///
    /// # Signal safety
    ///
    /// One atomic load.
    pub(crate) fn resumes(&self) -> u64 {
        self.resumes.load(Ordering::Acquire)
    }

    /// Monitor only: the next preemption signal to this worker's thread is meant.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    pub(crate) fn request_preemption(&self) {
        self.preempt_request.store(true, Ordering::Release);
    }

    /// Signal handler: whether the monitor asked (clearing the request).
    ///
    /// # Signal safety
    ///
    /// One atomic swap.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    pub(crate) fn take_preemption_request(&self) -> bool {
        self.preempt_request.swap(false, Ordering::AcqRel)
    }

    /// Signal handler: counts a preemption deferred at instruction `pc` (0 when unknown).
    ///
    /// # Signal safety
    ///
    /// Atomic loads, stores and adds only; the handler runs on the worker's own thread, the
    /// only writer of these fields.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    pub(crate) fn count_deferral(&self, pc: usize) {
        self.deferrals.fetch_add(1, Ordering::Relaxed);
        let pc = pc as u64;
        if pc != 0 && self.deferral_pc.load(Ordering::Relaxed) == pc {
            self.deferrals_same_pc.fetch_add(1, Ordering::Relaxed);
        } else {
            self.deferral_pc.store(pc, Ordering::Relaxed);
            self.deferrals_same_pc.store(1, Ordering::Relaxed);
        }
    }

    /// Monitor only: how many of the latest deferrals in a row interrupted the same
    /// instruction.
    pub(crate) fn deferrals_at_one_place(&self) -> u64 {
        self.deferrals_same_pc.load(Ordering::Relaxed)
    }

    /// Monitor only: deferred preemptions so far.
    pub(crate) fn deferrals(&self) -> u64 {
        self.deferrals.load(Ordering::Relaxed)
    }

    /// Signal handler: whether this thread runs a coroutine's own code on this worker.
    ///
    /// # Signal safety
    ///
    /// One atomic load.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    pub(crate) fn in_user_code(&self) -> bool {
        self.driver_and_mode().1 == Mode::User
    }

    /// The thread driving this worker (for preemption signals).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    pub(crate) fn thread(&self) -> libc::pthread_t {
        self.thread.load(Ordering::Acquire) as libc::pthread_t
    }

    /// Kernel thread id of the driving thread.
    pub(crate) fn tid(&self) -> i32 {
        self.tid.load(Ordering::Acquire)
    }

    /// Monitor only: the preemptible coroutine just handed off keeps running on the thread
    /// with kernel id `tid` and token `token`.
    pub(crate) fn remember_detached(&self, tid: i32, token: u64) {
        self.detached_token.store(token, Ordering::Release);
        self.detached_tid.store(tid, Ordering::Release);
    }

    /// Monitor only: whether a handed-off preemptible coroutine still runs on its thread.
    pub(crate) fn has_detached(&self) -> bool {
        self.detached_tid.load(Ordering::Acquire) != 0
    }

    /// Monitor only: the thread to signal for the handed-off preemptible coroutine, if it
    /// still runs there; marks the signal as meant.
    pub(crate) fn detached_target(&self) -> Option<i32> {
        let tid = self.detached_tid.load(Ordering::Acquire);
        (tid != 0).then(|| {
            self.detached_request.store(true, Ordering::Release);
            tid
        })
    }

    /// The old thread: its handed-off coroutine suspended.
    fn forget_detached(&self) {
        if self.detached_token.load(Ordering::Acquire) == context::thread_token() {
            self.detached_tid.store(0, Ordering::Release);
        }
    }

    /// Signal handler: whether this thread runs the handed-off preemptible coroutine and the
    /// monitor asked (clearing the request).
    ///
    /// # Signal safety
    ///
    /// Atomic loads and one swap.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
    pub(crate) fn take_detached_request(&self, token: u64) -> bool {
        self.detached_tid.load(Ordering::Acquire) != 0
            && self.detached_token.load(Ordering::Acquire) == token
            && self.detached_request.swap(false, Ordering::AcqRel)
    }

    /// A new thread starts driving this worker.
    pub(crate) fn adopt(&self) {
        self.thread.store(crate::sys::pthread_self(), Ordering::Release);
        self.tid.store(crate::sys::gettid(), Ordering::Release);
        self.reactor.driven_by(context::thread_token());
        self.set_mode(Mode::Sched);
    }

    /// About to resume a coroutine: its code runs from now on.
    pub(crate) fn enter_user(&self, preemptible: bool) {
        self.preemptible.store(preemptible, Ordering::Relaxed);
        self.resumes.store(self.resumes.load(Ordering::Relaxed) + 1, Ordering::Release);
        self.set_mode(Mode::User);
    }

    /// The coroutine suspended: back in the scheduler, unless the worker was handed off
    /// (to another thread, which may already be running coroutines of its own on it).
    fn leave_user(&self) -> bool {
        self.swap_mode(context::thread_token(), Mode::User, Mode::Sched)
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    fn counters(&self) -> &crate::metrics::WorkerCounters {
        &self.shared.counters[self.index]
    }

    /// The worker loop, on the thread that drives the worker. Returns when the runtime shuts
    /// down, or when the worker was handed to another thread.
    pub(crate) fn run(&self) -> Outcome {
        self.adopt();
        context::set_current_worker(self);
        loop {
            match self.next_task() {
                Some(Next::Run(task)) => {
                    self.found_work();
                    if !self.run_task(task, true) {
                        self.forget_detached();
                        context::set_current_worker(std::ptr::null());
                        return Outcome::Lost;
                    }
                    continue;
                }
                Some(Next::Woken(task)) => {
                    self.found_work();
                    if !self.run_task(task, false) {
                        self.forget_detached();
                        context::set_current_worker(std::ptr::null());
                        return Outcome::Lost;
                    }
                    continue;
                }
                Some(Next::Resume(task)) => {
                    if !self.run_task(task, false) {
                        self.forget_detached();
                        context::set_current_worker(std::ptr::null());
                        return Outcome::Lost;
                    }
                    continue;
                }
                Some(Next::Thaw(task, word)) => {
                    self.found_work();
                    if super::freeze::thaw(self, &task, word) {
                        // The frozen thread drives this worker now: hands off.
                        context::set_current_worker(std::ptr::null());
                        return Outcome::Lost;
                    }
                    continue;
                }
                None => {}
            }
            if self.shared.is_shutting_down() {
                self.fire_all_timers();
                self.reactor.wake_all();
                self.reactor.poll();
                if !self.local.is_empty() {
                    continue;
                }
                if self.shared.force_exit.load(std::sync::atomic::Ordering::Acquire) || self.shared.alive() == 0 {
                    break;
                }
            }
            self.park();
        }
        self.exit();
        Outcome::Exited
    }

    fn exit(&self) {
        if self.searching.replace(false) {
            self.shared.idle.stop_searching();
        }
        // Tasks left here are dropped by the last reference holder; with the runtime gone
        // they will not run again.
        // Both slots hold tasks marked running: as queued ones they may be unwound in place.
        for task in [self.run_next.take(), self.yielded.take()].into_iter().flatten() {
            task.header().state.yield_run();
            drop(task);
        }
        self.drain_frozen();
        // Frozen threads run on without this worker (it does not run again).
        for (task, word) in self.pinned.borrow_mut().drain(..) {
            super::freeze::release(&task, word);
        }
        while let Some(task) = self.local.pop() {
            drop(task);
        }
        while let Some(waker) = self.timers.borrow_mut().pop_any() {
            drop(waker);
        }
        self.shared.stacks.release_cache(&mut self.stacks.borrow_mut());
        self.counters().stack_cache.store(0, std::sync::atomic::Ordering::Relaxed);
        context::set_current_worker(std::ptr::null());
    }

    fn next_task(&self) -> Option<Next> {
        self.check_driver();
        self.drain_frozen();
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        self.fire_timers();
        if tick.is_multiple_of(FLUSH_INTERVAL) {
            self.reactor.flush();
        }
        if self.reactor.cheap_poll() || tick.is_multiple_of(INJECTOR_INTERVAL) {
            self.reactor.poll();
        }

        if let Some(top) = self.shared.priority.top() {
            if top < DEFAULT_PRIORITY {
                let local_waiting = !self.local.is_empty() || self.has_run_next();
                let starved = local_waiting && self.passed_over.get().is_some_and(|since| since.elapsed() >= AGING);
                if !starved && let Some(task) = self.shared.priority.pop() {
                    if local_waiting && self.passed_over.get().is_none() {
                        self.passed_over.set(Some(Instant::now()));
                    }
                    return Some(Next::Run(task));
                }
            } else if tick.is_multiple_of(STARVED_INTERVAL)
                && let Some(task) = self.shared.priority.pop_starved()
            {
                return Some(Next::Run(task));
            }
        }
        self.passed_over.set(None);

        if tick.is_multiple_of(INJECTOR_INTERVAL)
            && let Some(task) = self.steal_injector()
        {
            return Some(Next::Run(task));
        }
        // Preempted coroutines take turns with a busy local queue. With nothing local they
        // wait behind ready IO and the injector (the end of their slice means the back of
        // the line: a coroutine spawned from a plain thread does not wait behind them).
        if tick.is_multiple_of(2)
            && (!self.local.is_empty() || self.has_yielded())
            && let Some(next) = self.pop_pinned()
        {
            return Some(next);
        }
        if self.run_next_streak.get() < RUN_NEXT_STREAK
            && let Some(task) = self.run_next.take()
        {
            self.run_next_streak.set(self.run_next_streak.get() + 1);
            return Some(Next::Woken(task));
        }
        self.run_next_streak.set(0);
        if let Some(task) = self.yielded.take() {
            return Some(Next::Resume(task));
        }
        if let Some(task) = self.local.pop() {
            return Some(Next::Run(task));
        }
        if let Some(task) = self.run_next.take() {
            return Some(Next::Woken(task));
        }
        // Nothing local: hand queued IO to the kernel and collect what is ready.
        self.reactor.flush();
        if self.reactor.poll() {
            if let Some(task) = self.run_next.take() {
                return Some(Next::Woken(task));
            }
            if let Some(task) = self.local.pop() {
                return Some(Next::Run(task));
            }
        }
        if let Some(task) = self.steal_injector() {
            return Some(Next::Run(task));
        }
        if let Some(next) = self.pop_pinned() {
            return Some(next);
        }
        if let Some(task) = self.search() {
            return Some(Next::Run(task));
        }
        self.shared.priority.pop().map(Next::Run)
    }

    fn pop_pinned(&self) -> Option<Next> {
        let (task, word) = self.pinned.borrow_mut().pop_front()?;
        Some(Next::Thaw(task, word))
    }

    /// Moves a coroutine just frozen from the slot to the pinned queue (if it still waits).
    #[inline]
    fn drain_frozen(&self) {
        if self.frozen_slot.load(Ordering::Relaxed).is_null() {
            return;
        }
        if let Some(task) = self.take_frozen() {
            let word = task.header().frozen.load(Ordering::Acquire);
            if word & 3 == super::freeze::WAITING {
                self.pinned.borrow_mut().push_back((task, word));
            }
        }
    }

    /// A frozen thread offers its coroutine (`freeze.rs`). Fails if the slot is taken.
    ///
    /// Allocates nothing.
    pub(crate) fn offer_frozen(&self, task: TaskRef) -> bool {
        let ptr = task.into_raw();
        match self.frozen_slot.compare_exchange(std::ptr::null_mut(), ptr.as_ptr(), Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // SAFETY: `ptr` carries the reference `into_raw` gave up; we take it back.
                drop(unsafe { TaskRef::from_raw(ptr) });
                false
            }
        }
    }

    /// Takes the coroutine offered in the frozen slot, if any.
    pub(crate) fn take_frozen(&self) -> Option<TaskRef> {
        let ptr = self.frozen_slot.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: a non-null slot holds a pointer carrying one reference (`offer_frozen`).
        std::ptr::NonNull::new(ptr).map(|p| unsafe { TaskRef::from_raw(p) })
    }

    /// A frozen thread that drives this worker gives it up to a spare: `User` → `Handed`.
    /// Fails if the monitor handed it off first.
    pub(crate) fn release_to_spare(&self, me: u64) -> bool {
        self.swap_mode(me, Mode::User, Mode::Handed)
    }

    /// Makes the frozen thread (`token`, kernel id `tid`, `pthread_t` `thread`) this worker's
    /// driver, running its coroutine's own code. The last touch of the worker by the caller.
    pub(crate) fn give_to_frozen(&self, token: u64, tid: i32, thread: u64, preemptible: bool) {
        self.check_driver();
        self.thread.store(thread, Ordering::Release);
        self.tid.store(tid, Ordering::Release);
        self.preemptible.store(preemptible, Ordering::Relaxed);
        // Still this thread's to touch: the frozen thread drives only after the store below.
        self.reactor.driven_by(token);
        self.resumes.store(self.resumes.load(Ordering::Relaxed) + 1, Ordering::Release);
        bump(&self.counters().switches);
        // The thread may have been following it as a handed-off coroutine: it drives now.
        if self.detached_token.load(Ordering::Acquire) == token {
            self.detached_tid.store(0, Ordering::Release);
        }
        self.state.store(token, Mode::User);
    }

    fn has_yielded(&self) -> bool {
        let task = self.yielded.take();
        let has = task.is_some();
        self.yielded.set(task);
        has
    }

    fn has_run_next(&self) -> bool {
        let task = self.run_next.take();
        let has = task.is_some();
        self.run_next.set(task);
        has
    }

    fn steal_injector(&self) -> Option<TaskRef> {
        loop {
            match self.shared.injector.steal_batch_and_pop(&self.local) {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    /// Steals from the other workers, starting at a random one.
    fn search(&self) -> Option<TaskRef> {
        let stealers = &self.shared.stealers;
        if stealers.len() < 2 {
            return None;
        }
        if !self.searching.get() {
            if !self.shared.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let start = self.random() as usize % stealers.len();
        for attempt in 0..2 {
            let mut retry = false;
            for i in 0..stealers.len() {
                let victim = (start + i) % stealers.len();
                if victim == self.index {
                    continue;
                }
                match stealers[victim].steal_batch_and_pop(&self.local) {
                    Steal::Success(task) => {
                        bump(&self.counters().steals);
                        return Some(task);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry || attempt == 1 {
                break;
            }
        }
        self.steal_injector()
    }

    /// Called when a task was found: a searching worker stops searching, and if it was the
    /// last searcher it wakes another worker, since more work may be queued.
    fn found_work(&self) {
        if self.searching.replace(false) && self.shared.idle.stop_searching() {
            self.shared.notify();
        }
    }

    fn random(&self) -> u32 {
        // xorshift32
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }

    fn park(&self) {
        self.check_driver();
        if self.searching.replace(false) {
            self.shared.idle.stop_searching();
        }
        self.shared.idle.prepare_sleep(self.index);
        let pending = !self.local.is_empty()
            || self.has_run_next()
            || self.has_yielded()
            || !self.pinned.borrow().is_empty()
            || !self.frozen_slot.load(Ordering::Acquire).is_null()
            || self.shared.has_shared_work();
        let mut parked = false;
        if !pending {
            let now = Instant::now();
            let mut timeout = self.timers.borrow().next_deadline().map(|d| d.saturating_duration_since(now));
            if self.shared.is_shutting_down() {
                timeout = Some(timeout.map_or(SHUTDOWN_POLL, |t| t.min(SHUTDOWN_POLL)));
            }
            if timeout != Some(Duration::ZERO) {
                bump(&self.counters().parks);
                self.reactor.park(timeout);
                parked = true;
            } else {
                self.reactor.flush();
            }
        }
        if self.shared.idle.wake_up(self.index) {
            self.searching.set(true);
        }
        // Awake as far as the others know: the coroutines woken now may wake another worker,
        // never this one.
        if parked {
            self.reactor.after_park();
            self.counters().io_in_flight.store(self.reactor.in_flight(), std::sync::atomic::Ordering::Relaxed);
        }
        self.shared.monitor.wake();
    }

    /// Runs one task; returns `false` if the worker was handed to another thread meanwhile
    /// (this thread must then leave the worker alone).
    fn run_task(&self, task: TaskRef, queued: bool) -> bool {
        let header = task.header();
        if queued {
            header.state.start_run();
        }
        bump(&self.counters().switches);
        // A resume on another worker than the last: the coroutine's stack and data are in
        // the other CPU's cache. The usual resume (same worker) only reads the cell.
        let me = self.index as u32;
        let last = header.last_worker.get();
        if last != me {
            header.last_worker.set(me);
            if last != u32::MAX {
                bump(&self.counters().migrations);
            }
        }
        let run = task.run(self);
        let owned = match run {
            // A task that never resumed (cancelled or stackless) left the mode alone.
            Run::Finished(None) => true,
            _ => self.leave_user(),
        };
        if !owned {
            bump_shared(&self.shared.handoffs_completed);
            self.shared.stuck.handed_run_ended(context::thread_token());
        }
        match run {
            Run::Suspended(Suspend::Yield) => {
                // No other worker needs waking: this one runs the task again soon.
                if owned && header.priority == DEFAULT_PRIORITY && self.local.is_empty() && !self.has_yielded() {
                    // Still RUNNING as far as wakers know (a wake-up meanwhile leaves NOTIFIED,
                    // at most one spurious wake-up later): two atomic operations saved.
                    self.yielded.set(Some(task));
                } else {
                    header.state.yield_run();
                    if owned { self.enqueue(task) } else { self.shared.push_remote(task) }
                }
            }
            Run::Suspended(Suspend::Park) => {
                if let Some(task) = task.end_run() {
                    if owned { self.enqueue(task) } else { self.shared.push_remote(task) }
                }
            }
            Run::Finished(stack) => {
                if let Some(stack) = stack {
                    if owned { self.recycle_stack(stack) } else { self.shared.stacks.put(None, stack) }
                }
                header.state.complete();
                if owned {
                    bump(&self.counters().finished);
                } else {
                    self.shared.finished_elsewhere.fetch_add(1, Ordering::Relaxed);
                }
                let waker = header.join_waker.lock().take();
                if let Some(waker) = waker {
                    waker.wake();
                }
                drop(task);
            }
        }
        owned
    }

    /// Queues a task this worker's coroutine just spawned, and wakes a sleeping worker if
    /// nobody searches: a new coroutine may compute for long, and an idle CPU should take it.
    pub(crate) fn push_spawned(&self, task: TaskRef) {
        self.check_driver();
        bump(&self.counters().spawned);
        self.enqueue(task);
        self.shared.notify();
    }

    /// Queues a task woken on this thread outside the fast path of `task::raw::wake_raw`
    /// (by the scheduler itself: a timer, ready IO; or a task of another priority), at the
    /// back of the queue.
    pub(crate) fn push_woken(&self, task: TaskRef) {
        self.check_driver();
        self.queue_woken(task);
    }

    /// Puts a task woken by the running coroutine in the run-next slot (its state already
    /// says `RUNNING`, `State::wake_to_run`): it runs here as soon as the current coroutine
    /// suspends, so no other worker is woken for it. A task it displaces joins the queue
    /// (turned `SCHEDULED` again), as any other wake-up.
    pub(crate) fn push_run_next(&self, task: TaskRef) {
        self.check_driver();
        if let Some(previous) = self.run_next.replace(Some(task)) {
            previous.header().state.yield_run();
            self.queue_woken(previous);
        }
    }

    /// Queues a woken task. A default-priority one stays with this worker, which runs its
    /// queue soon: a sleeping worker is woken only when `wake_threshold` tasks wait here
    /// (worth the other thread's wake-up, steal and sleep again), or by the monitor at its
    /// next tick if the queue still holds tasks then (a long computation holds this worker,
    /// or it cannot keep up). One of another priority goes to the shared queue, for anyone.
    fn queue_woken(&self, task: TaskRef) {
        if task.header().priority == DEFAULT_PRIORITY {
            self.local.push(task);
            if self.local.len() >= self.shared.config.wake_threshold {
                self.shared.notify();
            }
        } else {
            self.shared.priority.push(task);
            self.shared.notify();
        }
    }

    /// Queues a task without waking anybody.
    fn enqueue(&self, task: TaskRef) {
        if task.header().priority == DEFAULT_PRIORITY {
            self.local.push(task);
        } else {
            self.shared.priority.push(task);
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        let (mut next, mut end) = self.ids.get();
        if next == end {
            next = self.shared.next_id.fetch_add(ID_BLOCK, std::sync::atomic::Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        self.ids.set((next + 1, end));
        next
    }

    /// A stack for a coroutine about to start.
    pub(crate) fn stack(&self, size: usize) -> io::Result<Stack> {
        self.check_driver();
        let mut cache = self.stacks.borrow_mut();
        let stack = self.shared.stacks.get(Some(&mut cache), size);
        self.counters().stack_cache.store(cache.len(), std::sync::atomic::Ordering::Relaxed);
        stack
    }

    /// Takes back the stack of a finished coroutine.
    pub(crate) fn recycle_stack(&self, stack: Stack) {
        self.check_driver();
        let mut cache = self.stacks.borrow_mut();
        self.shared.stacks.put(Some(&mut cache), stack);
        self.counters().stack_cache.store(cache.len(), std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn add_timer(&self, deadline: Instant, waker: Waker) {
        self.check_driver();
        let mut timers = self.timers.borrow_mut();
        timers.insert(deadline, waker);
        self.counters().timers.store(timers.len(), std::sync::atomic::Ordering::Relaxed);
    }

    fn fire_timers(&self) {
        if self.timers.borrow().is_empty() {
            return;
        }
        let now = Instant::now();
        loop {
            let due = self.timers.borrow_mut().pop_due(now);
            match due {
                Some(waker) => waker.wake(),
                None => break,
            }
        }
        self.counters().timers.store(self.timers.borrow().len(), std::sync::atomic::Ordering::Relaxed);
    }

    fn fire_all_timers(&self) {
        loop {
            let waker = self.timers.borrow_mut().pop_any();
            match waker {
                Some(waker) => waker.wake(),
                None => break,
            }
        }
        self.counters().timers.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}
