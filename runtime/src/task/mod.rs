//! Tasks: a coroutine with its closure, state, result and join handle.

mod builder;
mod cell;
mod current;
mod join;
mod raw;
mod state;
mod waker;

pub use builder::{Builder, DEFAULT_PRIORITY, IntoPriority, spawn, spawn_with};
pub(crate) use cell::Cell;
pub use current::{
    Coroutine, current, current_id, current_name, in_coroutine, is_cancellation, park, sleep, sleep_until, yield_now,
};
pub(crate) use current::{
    borrowed_waker, cancel_pending, cancel_told, is_cancel_payload, no_preempt_enter, no_preempt_exit, park_forever,
    park_uncancellable, park_until, park_until_uncancellable, preempt_if_pending, preempted, rearm_cancel,
    unwind_if_cancelled, waker, yield_uncancellable,
};
pub use join::{JoinError, JoinHandle};
pub(crate) use raw::{Header, Run, Suspend, TaskRef, can_suspend};
