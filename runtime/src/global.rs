//! The default runtime, started on first use by code that runs outside any runtime.
//!
//! It takes its settings from the environment: `OC_WORKERS` (worker threads) and
//! `OC_STACK_SIZE` (bytes per coroutine stack), or from [`init`] if that is called first.

use std::io;
use std::sync::{Arc, OnceLock};

use crate::builder::Builder;
use crate::runtime::{Runtime, block_on_shared};
use crate::scheduler::Shared;

static GLOBAL: OnceLock<Runtime> = OnceLock::new();

/// Starts the global runtime with `builder` instead of the defaults.
///
/// Fails if the global runtime is already running (something used it before).
pub fn init(builder: Builder) -> io::Result<()> {
    let mut result = Err(io::Error::new(io::ErrorKind::AlreadyExists, "the global runtime is already running"));
    GLOBAL.get_or_init(|| match builder.build() {
        Ok(rt) => {
            result = Ok(());
            rt
        }
        Err(e) => {
            result = Err(io::Error::new(e.kind(), format!("cannot start the global runtime: {e}")));
            start_from_env()
        }
    });
    result
}

fn start_from_env() -> Runtime {
    let defaults = || Builder::new().name("oc-global");
    let mut builder = defaults();
    let workers = env_usize("OC_WORKERS");
    let stack_size = env_usize("OC_STACK_SIZE");
    if let Some(n) = workers {
        builder = builder.workers(n);
    }
    if let Some(n) = stack_size {
        builder = builder.stack_size(n);
    }
    match builder.build() {
        Ok(rt) => rt,
        // Settings from the environment that the machine cannot honour (say, more workers
        // than descriptors allow) are bad input, not a reason to end the process.
        Err(e) if workers.is_some() || stack_size.is_some() => {
            tracing::warn!(
                "cannot start the global runtime with OC_WORKERS={workers:?} OC_STACK_SIZE={stack_size:?} \
                 ({e}); starting it with the defaults"
            );
            defaults().build().unwrap_or_else(|e| panic!("cannot start the global oc runtime: {e}"))
        }
        Err(e) => panic!("cannot start the global oc runtime: {e}"),
    }
}

fn env_usize(name: &str) -> Option<usize> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!("ignoring {name}={value:?}: not a whole number");
            None
        }
    }
}

/// The global runtime, started on first use.
pub fn global() -> &'static Runtime {
    GLOBAL.get_or_init(start_from_env)
}

pub(crate) fn shared() -> Arc<Shared> {
    global().shared_arc()
}

/// Runs `f` in a coroutine on the runtime the caller runs on (the global runtime from a plain
/// thread) and returns its result. A panic in `f` is resumed on the caller.
pub fn block_on<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match crate::scheduler::context::current_shared() {
        Some(shared) => block_on_shared(&shared, f),
        None => block_on_shared(&shared(), f),
    }
}

/// The metrics of the runtime the caller runs on (a coroutine's own runtime), or `None` on a
/// plain thread.
pub fn current_metrics() -> Option<crate::RuntimeMetrics> {
    crate::scheduler::context::current_shared().map(|s| s.metrics())
}
