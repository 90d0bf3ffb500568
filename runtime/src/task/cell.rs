//! The concrete task: header, closure-or-coroutine, and output, in one allocation.
//!
//! # State
//!
//! `stage` moves `Pending(f)` → `Running(coroutine)` → `Finished`, or `Pending` → `Finished`
//! when the task is cancelled (or cannot get a stack) before it starts. Only the thread that
//! holds the task's `RUNNING` bit touches `stage`, except `drop_ref` once it has taken the
//! last reference.
//!
//! `output` is written once, by the running thread, before the state says `COMPLETE`; it is
//! taken once, by the join handle's owner, after it has seen `COMPLETE` (acquire).
//!
//! The closure waits in the task until the first run: a queued task owns no stack.
//!
//! A coroutine still suspended when its last reference goes (nothing can wake it) is
//! unwound by whoever drops that reference, before the allocation is freed: see `release`
//! and `destroy_suspended`. The count is the header's own (not an `Arc`'s: it lives in the
//! state word, `state.rs`) so that exactly one thread sees it reach zero and may take a
//! reference again for the unwind.

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
    const VTABLE: Vtable = Vtable {
        run: Self::run,
        take_output: Self::take_output,
        clone_ref: Self::clone_ref,
        drop_ref: Self::drop_ref,
        release: Self::release,
    };

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
        let cell: Box<Cell<F, T>> = Box::new(Cell {
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
                last_worker: std::cell::Cell::new(u32::MAX),
                guard: std::cell::Cell::new(GuardRange::NONE),
                locals: crate::local::Slots::new(),
            },
            stage: UnsafeCell::new(Stage::Pending(f)),
            output: UnsafeCell::new(None),
        });
        // `header` is the first field of a repr(C) struct, so the pointers coincide.
        NonNull::from(Box::leak(cell)).cast::<Header>()
    }

    /// # Safety
    ///
    /// `ptr` must be the header of a live `Cell<F, T>`.
    unsafe fn from_header<'a>(ptr: NonNull<Header>) -> &'a Cell<F, T> {
        // SAFETY: forwarded from the caller; repr(C) puts the header first.
        unsafe { ptr.cast::<Cell<F, T>>().as_ref() }
    }

    unsafe fn clone_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller holds a counted reference (in the state word), so the header is
        // alive while it is read.
        unsafe { ptr.as_ref() }.state.clone_ref();
    }

    unsafe fn drop_ref(ptr: NonNull<Header>) {
        // SAFETY: the caller holds a counted reference, so the header is alive until the
        // `drop_ref` below gives it up; it is not touched after that unless this was the last.
        if unsafe { ptr.as_ref() }.state.drop_ref() {
            // SAFETY: the count just reached zero on this thread.
            unsafe { Self::release(ptr) };
        }
    }

    /// The last reference is gone (the count reached zero on this thread): unwinds a
    /// suspended coroutine, then frees the task.
    ///
    /// # Safety
    ///
    /// The caller saw the count reach zero: nobody else can reach the task any more (every
    /// queue, waker, handle and running worker holds a reference of its own).
    unsafe fn release(ptr: NonNull<Header>) {
        let raw = ptr.cast::<Cell<F, T>>().as_ptr();
        // SAFETY: `raw` came from `Box::leak` in `allocate`, and this thread, which took
        // the count to zero, is the only one that can reach it.
        let cell = unsafe { &*raw };
        // SAFETY: as above: exclusive access to `stage`.
        if matches!(unsafe { &*cell.stage.get() }, Stage::Running(_)) {
            // A suspended coroutine: unwind it before the task is freed, holding a reference
            // again so that wakers its destructors make keep the task alive.
            cell.header.state.clone_ref();
            // SAFETY: exclusive access, as above.
            unsafe { cell.destroy_suspended(ptr) };
            if !cell.header.state.drop_ref() {
                // A waker made during the unwind still holds the task; its last drop frees it
                // (the coroutine is finished by then).
                return;
            }
        }
        // SAFETY: the last reference is gone; the allocation came from `Box::leak`.
        drop(unsafe { Box::from_raw(raw) });
    }

    /// A suspended coroutine that nothing can wake any more (its last reference was just
    /// dropped): unwinds it here, on this thread, so that its destructors run, and counts it
    /// as finished.
    ///
    /// The unwind runs as the coroutine: `in_coroutine()` is true and `current_id()` is its
    /// id, and the reference the caller still holds keeps the task alive for wakers its
    /// destructors make. It cannot suspend: nothing would resume it, and this thread (a
    /// worker's scheduler, another coroutine, a plain thread) has its own work to return to.
    /// So its yielder is cleared: every suspension point returns at once, as after a spurious
    /// wake-up; `sleep` blocks the thread, runtime IO waits the way a plain thread does
    /// (`poll(2)`), and hooked calls go straight to the kernel. A destructor that waits for
    /// another coroutine may wait for ever (see `docs/caveats.md`).
    ///
    /// # Safety
    ///
    /// The caller holds the only reference to the task (`ptr` is its header), so nothing else
    /// touches `stage`, which holds a suspended coroutine.
    unsafe fn destroy_suspended(&self, ptr: NonNull<Header>) {
        // SAFETY: exclusive access, from the caller.
        let stage = unsafe { &mut *self.stage.get() };
        let Stage::Running(mut co) = std::mem::replace(stage, Stage::Finished) else { unreachable!() };
        let header = &self.header;
        header.state.begin_destroy();
        // Cancellation must not be delivered again, and nothing may switch the coroutine out
        // (the preemption handler also refuses a coroutine without a yielder).
        header.unwinding.set(true);
        header.yielder.set(std::ptr::null());
        let previous = context::set_current_task(Some(ptr));
        #[cfg(feature = "hooks")]
        let hooks_were = crate::hooks::active();
        #[cfg(feature = "hooks")]
        crate::hooks::set_active(false);
        co.force_unwind();
        #[cfg(feature = "hooks")]
        crate::hooks::set_active(hooks_were);
        context::set_current_task(previous);
        header.shared.recycle_stack(co.into_stack());
        header.state.complete();
        header.shared.count_destroyed();
        let waker = header.join_waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
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
                // Its `coroutine_local!` values go with it, dropped on its own stack (a panic in
                // a destructor there is not the coroutine's result).
                let _ = catch_unwind(AssertUnwindSafe(|| header.locals.destroy()));
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
        // `drop_ref` unwinds a suspended coroutine before it lets go of the last reference.
        debug_assert!(
            !matches!(self.stage.get_mut(), Stage::Running(_)),
            "task {} freed while suspended",
            self.header.id
        );
    }
}
