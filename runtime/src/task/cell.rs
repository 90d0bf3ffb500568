//! The concrete task: header, closure-or-coroutine, and output, in one allocation.
//!
//! # State
//!
//! `stage` moves `Pending(f)` → `Running(coroutine)` → `Finished`, or `Pending` → `Finished`
//! when the task is cancelled (or cannot get a stack) before it starts. Only the thread that
//! holds the task's `RUNNING` bit touches `stage`, except `Drop`, which runs with the last
//! reference.
//!
//! `output` is written once, by the running thread, before the state says `COMPLETE`; it is
//! taken once, by the join handle's owner, after it has seen `COMPLETE` (acquire).
//!
//! The closure waits in the task until the first run: a queued task owns no stack.

use std::cell::UnsafeCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::Arc;

use corosensei::{Coroutine, CoroutineResult};

use super::JoinError;
use super::raw::{Header, Run, Suspend, Vtable};
use crate::scheduler::{Worker, context};
use crate::stack::{GuardRange, Stack};

type Co = Coroutine<(), Suspend, (), Stack>;

enum Stage<F> {
    Pending(F),
    Running(Co),
    Finished,
}

#[repr(C)]
pub(crate) struct Cell<F, T> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
    output: UnsafeCell<Option<Result<T, JoinError>>>,
}

// SAFETY: `stage` and `output` are reached by one thread at a time (see State above); `F` and
// `T` are Send, and the coroutine's stack holds only what `F` put there, which is Send.
unsafe impl<F: Send, T: Send> Send for Cell<F, T> {}
// SAFETY: as above.
unsafe impl<F: Send, T: Send> Sync for Cell<F, T> {}

impl<F, T> Cell<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    const VTABLE: Vtable =
        Vtable { run: Self::run, take_output: Self::take_output, clone_ref: Self::clone_ref, drop_ref: Self::drop_ref };

    /// Allocates a task; returns its header pointer carrying one reference.
    pub(crate) fn allocate(
        f: F,
        id: u64,
        priority: i64,
        stack_size: usize,
        name: Option<Box<str>>,
        preemptible: bool,
        shared: Arc<crate::scheduler::Shared>,
    ) -> NonNull<Header> {
        let cell: Arc<Cell<F, T>> = Arc::new(Cell {
            header: Header {
                state: super::state::State::new_scheduled(),
                vtable: &Self::VTABLE,
                id,
                priority,
                stack_size,
                name,
                preemptible,
                shared,
                unpark_token: std::sync::atomic::AtomicBool::new(false),
                join_waker: crate::sync::SpinLock::new(None),
                yielder: std::cell::Cell::new(std::ptr::null()),
                unwinding: std::cell::Cell::new(false),
                cancel_told: std::cell::Cell::new(false),
                // Until the body has set its yielder; see `run`.
                no_preempt: std::sync::atomic::AtomicU32::new(1),
                preempt_pending: std::sync::atomic::AtomicBool::new(false),
                frozen: std::sync::atomic::AtomicU32::new(0),
                frozen_token: std::sync::atomic::AtomicU64::new(0),
                frozen_tid: std::sync::atomic::AtomicI32::new(0),
                frozen_thread: std::sync::atomic::AtomicU64::new(0),
                timer_armed: std::cell::Cell::new(None),
                guard: std::cell::Cell::new(GuardRange::NONE),
            },
            stage: UnsafeCell::new(Stage::Pending(f)),
            output: UnsafeCell::new(None),
        });
        // `header` is the first field of a repr(C) struct, so the pointers coincide.
        NonNull::new(Arc::into_raw(cell).cast_mut().cast::<Header>()).expect("Arc pointer is null")
    }

    /// # Safety
    ///
    /// `ptr` must be the header of a live `Cell<F, T>`.
    unsafe fn from_header<'a>(ptr: NonNull<Header>) -> &'a Cell<F, T> {
        // SAFETY: forwarded from the caller; repr(C) puts the header first.
        unsafe { ptr.cast::<Cell<F, T>>().as_ref() }
    }

    unsafe fn clone_ref(ptr: NonNull<Header>) {
        // SAFETY: the pointer came from Arc::into_raw of this type and the count is >= 1.
        unsafe { Arc::increment_strong_count(ptr.cast::<Cell<F, T>>().as_ptr()) }
    }

    unsafe fn drop_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller gives up one reference that came from Arc::into_raw.
        unsafe { Arc::decrement_strong_count(ptr.cast::<Cell<F, T>>().as_ptr()) }
    }

    unsafe fn take_output(ptr: NonNull<Header>, out: *mut ()) {
        // SAFETY: the caller guarantees the type, completion (acquire-ordered) and that it is
        // the only reader.
        unsafe {
            let cell = Self::from_header(ptr);
            *out.cast::<Option<Result<T, JoinError>>>() = (*cell.output.get()).take();
        }
    }

    unsafe fn run(ptr: NonNull<Header>, worker: &Worker) -> Run {
        // SAFETY: the caller holds a reference and the RUNNING bit.
        let cell = unsafe { Self::from_header(ptr) };
        let header = &cell.header;
        // SAFETY: the RUNNING bit gives this thread exclusive access to `stage` and `output`.
        let stage = unsafe { &mut *cell.stage.get() };
        // SAFETY: as above.
        let output = unsafe { &mut *cell.output.get() };

        if let Stage::Pending(_) = stage {
            if header.state.is_cancelled() || header.shared.is_shutting_down() {
                let Stage::Pending(f) = std::mem::replace(stage, Stage::Finished) else { unreachable!() };
                // Dropping the closure runs the destructors of what it captured; a panic there
                // must not escape into the worker.
                let dropped = catch_unwind(AssertUnwindSafe(move || drop(f)));
                *output = Some(Err(match dropped {
                    Ok(()) => JoinError::cancelled(header.id),
                    Err(payload) => JoinError::panicked(header.id, payload),
                }));
                return Run::Finished(None);
            }
            let stack = match worker.stack(header.stack_size) {
                Ok(stack) => stack,
                Err(e) => {
                    let Stage::Pending(f) = std::mem::replace(stage, Stage::Finished) else { unreachable!() };
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(f)));
                    *output = Some(Err(JoinError::no_stack(header.id, e)));
                    return Run::Finished(None);
                }
            };
            header.guard.set(guard_range(header, &stack));
            let Stage::Pending(f) = std::mem::replace(stage, Stage::Finished) else { unreachable!() };
            let out_ptr: *mut Option<Result<T, JoinError>> = output;
            let header_ptr: *const Header = header;
            *stage = Stage::Running(Coroutine::with_stack(stack, move |yielder, ()| {
                // SAFETY: the header outlives its coroutine (the coroutine is part of the task).
                let header = unsafe { &*header_ptr };
                header.yielder.set(yielder);
                header.release_preemption();
                let result = catch_unwind(AssertUnwindSafe(f));
                // From here to the switch back, corosensei's own code runs: no preemption.
                header.hold_preemption();
                let result = result.map_err(|payload| {
                    // A panic of the caller's own retry loop after a hook refused a sleep to a
                    // cancelled coroutine (std's `thread::sleep` asserts on its errno) is how
                    // that cancellation ended the coroutine.
                    let refused =
                        header.cancel_told.get() && (header.state.is_cancelled() || header.shared.is_shutting_down());
                    if payload.is::<super::current::Cancelled>() || refused {
                        JoinError::cancelled(header.id)
                    } else {
                        JoinError::panicked(header.id, payload)
                    }
                });
                // SAFETY: the output is written only here, by the running coroutine, before the
                // worker marks the task complete.
                unsafe { *out_ptr = Some(result) };
            }));
        }

        let Stage::Running(co) = stage else {
            unreachable!("task {} run after it finished", header.id);
        };
        let previous = context::set_current_task(Some(ptr));
        #[cfg(feature = "hooks")]
        crate::hooks::set_active(header.shared.config.hooks);
        worker.enter_user(header.preemptible);
        let result = co.resume(());
        #[cfg(feature = "hooks")]
        crate::hooks::set_active(false);
        context::set_current_task(previous);
        match result {
            CoroutineResult::Yield(why) => Run::Suspended(why),
            CoroutineResult::Return(()) => {
                let Stage::Running(co) = std::mem::replace(stage, Stage::Finished) else { unreachable!() };
                Run::Finished(Some(co.into_stack()))
            }
        }
    }
}

fn guard_range(header: &Header, stack: &Stack) -> GuardRange {
    let (lo, hi) = stack.guard();
    GuardRange {
        lo,
        hi,
        stack_size: stack.usable(),
        id: header.id,
        name: header.name.as_deref().map_or((std::ptr::null(), 0), |n| (n.as_ptr(), n.len())),
    }
}

impl<F, T> Drop for Cell<F, T> {
    fn drop(&mut self) {
        if let Stage::Running(_) = self.stage.get_mut() {
            // A suspended coroutine that nobody will wake again: unwind it here so that its
            // destructors run. It must not mistake itself for the task this thread runs.
            let Stage::Running(mut co) = std::mem::replace(self.stage.get_mut(), Stage::Finished) else {
                unreachable!()
            };
            self.header.unwinding.set(true);
            let previous = context::set_current_task(None);
            co.force_unwind();
            context::set_current_task(previous);
            self.header.shared.recycle_stack(co.into_stack());
        }
    }
}
