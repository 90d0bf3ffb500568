//! The scheduler: workers, their queues, how they find work and how they sleep.

pub(crate) mod context;
mod idle;
mod priority;
mod shared;
mod worker;

pub(crate) use shared::{Config, Shared};
pub(crate) use worker::Worker;
