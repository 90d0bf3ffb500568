//! Coroutine stacks: guard-paged mappings, a pool that reuses them, and the fault handler
//! that names the coroutine whose stack overflowed.

mod grow;
mod high_water;
mod mapped;
mod overflow;
mod pool;

pub use grow::maybe_grow;
pub(crate) use mapped::Stack;
pub(crate) use overflow::{GuardRange, install as install_overflow_handler};
pub(crate) use pool::{StackCache, StackPool};
