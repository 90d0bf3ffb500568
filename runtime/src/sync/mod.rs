//! Synchronisation the runtime uses internally.

mod spin;

pub(crate) use spin::SpinLock;
