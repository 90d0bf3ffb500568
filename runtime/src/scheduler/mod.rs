//! The scheduler: workers, their queues, how they find work and how they sleep.

mod carrier;
pub(crate) mod context;
mod driver;
mod freeze;
mod idle;
mod monitor;
mod priority;
mod shared;
mod stuck;
mod worker;

pub(crate) use carrier::carrier_main;
pub(crate) use freeze::{freeze, in_signal_handler};
pub(crate) use monitor::monitor_main;
pub(crate) use shared::{Config, Shared};
pub(crate) use stuck::StuckWatch;
pub(crate) use worker::Worker;
