//! Runnable examples live beside this crate; see `examples/*.rs`. What the servers among them
//! share is here: the conventions of the reference servers' benchmark scripts (the port from
//! the first argument or `$PORT`, the worker count from `$WORKERS`), and the log every example
//! installs.

use std::io;

/// The port from the first argument, else `$PORT`, else `default`; a value that is not a
/// port is an error that names it.
pub fn port(default: u16) -> io::Result<u16> {
    match std::env::args().nth(1).or_else(|| std::env::var("PORT").ok()) {
        None => Ok(default),
        Some(p) => p.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("bad port {p:?}: {e}"))),
    }
}

/// A runtime named `name` with `$WORKERS` workers (all CPUs the process may use when unset);
/// a `$WORKERS` that is not a positive number is an error that names it.
pub fn runtime(name: &str) -> io::Result<oc_runtime::Runtime> {
    let mut builder = oc_runtime::Runtime::builder().name(name);
    if let Ok(w) = std::env::var("WORKERS") {
        let n = w.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad WORKERS {w:?}: not a positive number"))
        })?;
        builder = builder.workers(n);
    }
    builder.build()
}

/// Sends the libraries' `tracing` events (the runtime's and the server's warnings) to standard
/// error, from level INFO up. Every example calls it first.
pub fn log() {
    tracing_subscriber::fmt().with_writer(io::stderr).init();
}
