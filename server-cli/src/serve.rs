//! Running the server: the runtime, the listeners, then the main thread waits for signals.
//!
//! Signals arrive on the main thread (a plain thread, not a coroutine) through signal-hook's
//! self-pipe: the handler itself only writes a byte. The main thread then does the work.
//!
//! # Reload (SIGHUP)
//!
//! 1. The file is read and checked again; if anything is wrong, the error is logged and the
//!    running configuration stays.
//! 2. A new route table is built (new proxy pools, new static roots) and swapped in; requests
//!    under way finish on the table they started with. No connection is touched.
//! 3. The log filter is replaced (see `logging`). Changes to `runtime`, `listeners`, `http`
//!    and `shutdown` need a restart: they are reported, not applied.
//!
//! # Shutdown (SIGINT, SIGTERM)
//!
//! 1. Readiness goes off: `/readyz` answers 503 from now on.
//! 2. For `shutdown.drain_delay_ms` the server keeps serving, so that balancers see the 503
//!    and stop sending new requests.
//! 3. Every server stops accepting and closes its listeners; idle connections close; busy
//!    ones finish the requests they have, within `shutdown.grace_ms`, then anything left is
//!    cancelled.
//! 4. The access log is flushed and the runtime stopped.
//!
//! A second SIGINT or SIGTERM during these steps ends the process at once (exit code 1).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oc_http::{Limits, Router, Server, TlsConfig};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::config::{self, ConfigError, Loaded};
use crate::logging::LogControl;
use crate::routes::{Dispatch, HttpsRedirect, Table};
use crate::state::State;

/// Why the server could not start.
#[derive(Debug)]
pub(crate) enum StartError {
    /// A configuration problem, with its key (exit code 2).
    Config(ConfigError),
    /// Anything else (exit code 1).
    Other(String),
}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> StartError {
        StartError::Config(e)
    }
}

/// The runtime the configuration asks for.
pub(crate) fn runtime(loaded: &Loaded, workers: Option<usize>) -> Result<oc_runtime::Runtime, ConfigError> {
    let r = &loaded.config.runtime;
    let mut b = oc_runtime::Runtime::builder().name("oc-server");
    if let Some(backend) = r.io_backend.backend() {
        b = b.io_backend(backend);
    }
    if let Some(n) = workers.or(r.workers) {
        b = b.workers(n);
    }
    if let Some(size) = r.stack_size {
        b = b.stack_size(size);
    }
    if let Some(ms) = r.preempt_interval_ms {
        b = b.preempt_interval((ms > 0).then(|| Duration::from_millis(ms)));
    }
    if let Some(on) = r.hooks {
        b = b.hooks(on);
    }
    if let Some(ms) = r.stuck_threshold_ms {
        b = b.stuck_threshold((ms > 0).then(|| Duration::from_millis(ms)));
    }
    if let Some(on) = r.stack_high_water {
        b = b.stack_high_water(on);
    }
    b.build().map_err(|e| loaded.error_at("runtime", format!("cannot start the runtime: {e}")))
}

/// The limits of the `http` section.
fn limits(loaded: &Loaded) -> Limits {
    let h = &loaded.config.http;
    let mut l = Limits::default();
    let ms = Duration::from_millis;
    if let Some(v) = h.max_request_line {
        l.max_request_line = v;
    }
    if let Some(v) = h.max_head {
        l.max_head = v;
    }
    if let Some(v) = h.max_headers {
        l.max_headers = v;
    }
    if let Some(v) = h.max_body {
        l.max_body = v;
    }
    if let Some(v) = h.max_connections {
        l.max_connections = v;
    }
    if let Some(v) = h.header_timeout_ms {
        l.header_timeout = ms(v);
    }
    if let Some(v) = h.idle_timeout_ms {
        l.idle_timeout = ms(v);
    }
    if let Some(v) = h.body_timeout_ms {
        l.body_timeout = ms(v);
    }
    if let Some(v) = h.write_timeout_ms {
        l.write_timeout = ms(v);
    }
    l
}

/// Binds every listener and starts the servers: one for the routes, one for the listeners
/// that redirect to HTTPS (if any). Runs in a coroutine.
fn start_servers(loaded: &Loaded, state: &Arc<State>) -> Result<Vec<(SocketAddr, &'static str)>, ConfigError> {
    let limits = limits(loaded);
    let mut main =
        Server::new(Router::new().streaming(None, "/*", Dispatch { state: state.clone() })).limits(limits.clone());
    let mut redirects: Vec<(usize, Server)> = Vec::new();
    let mut bound = Vec::new();
    let mut main_listeners = 0;
    for (i, l) in loaded.config.listeners.iter().enumerate() {
        let at = format!("listeners[{i}].address");
        let cannot = |e: std::io::Error| loaded.error_at(&at, format!("cannot listen on {}: {e}", l.address));
        let listener =
            oc_net::TcpListener::builder(l.address.as_str()).reuse_port(l.reuse_port).bind().map_err(cannot)?;
        let addr = listener.local_addr().map_err(cannot)?;
        if let Some(tls) = &l.tls {
            let config = TlsConfig::from_pem_files(&tls.cert, &tls.key)
                .map_err(|e| loaded.error_at(&format!("listeners[{i}].tls"), e.to_string()))?;
            main = main.listener_tls(listener, config);
            bound.push((addr, "https"));
            main_listeners += 1;
            continue;
        }
        match l.redirect_to_https_port {
            Some(port) => {
                let server = Server::new(Router::new().any("/*", HttpsRedirect { port })).limits(limits.clone());
                redirects.push((i, server.listener(listener)));
                bound.push((addr, "http (redirect to https)"));
            }
            None => {
                main = main.listener(listener);
                main_listeners += 1;
                bound.push((addr, "http"));
            }
        }
    }
    let mut handles = Vec::new();
    if main_listeners > 0 {
        handles.push(main.start());
    }
    for (_, server) in redirects {
        handles.push(server.start());
    }
    let _ = state.servers.set(handles);
    Ok(bound)
}

/// Runs the server until SIGINT or SIGTERM; returns the process's exit code.
pub(crate) fn run(loaded: Loaded, workers: Option<usize>, log: LogControl) -> Result<i32, StartError> {
    // Signals first: a SIGTERM that comes during start-up is then handled, not fatal.
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| StartError::Other(format!("cannot install signal handlers: {e}")))?;
    let state = State::new();
    state.table.store(Arc::new(Table::build(&loaded, &state)?));
    let rt = runtime(&loaded, workers)?;
    let bound = {
        let (loaded, state) = (loaded.clone(), state.clone());
        rt.block_on(move || start_servers(&loaded, &state))?
    };
    for (addr, scheme) in &bound {
        tracing::info!(target: "oc_server", "listening on {addr} ({scheme})");
    }
    tracing::info!(
        target: "oc_server",
        workers = rt.workers(),
        io_backend = ?rt.io_backend(),
        routes = loaded.config.routes.len(),
        "oc-server {} serving {}",
        env!("CARGO_PKG_VERSION"),
        loaded.file.display()
    );

    let mut running = loaded;
    let mut stop_signal = 0;
    for signal in signals.forever() {
        match signal {
            SIGHUP => reload(&mut running, &state, &log),
            other => {
                stop_signal = other;
                break;
            }
        }
    }

    // A second SIGINT or SIGTERM during the shutdown ends the process at once.
    std::thread::Builder::new()
        .name("oc-server-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal != SIGHUP {
                    tracing::warn!("second stop signal: exiting without waiting for connections");
                    std::process::exit(1);
                }
            }
        })
        .map_err(|e| StartError::Other(format!("cannot start the signal thread: {e}")))?;

    // Shutdown, step 1 and 2.
    let name = if stop_signal == SIGINT { "SIGINT" } else { "SIGTERM" };
    state.ready.store(false, Ordering::Release);
    let shutdown = running.config.shutdown.clone();
    tracing::info!(
        target: "oc_server",
        drain_delay_ms = shutdown.drain_delay_ms,
        grace_ms = shutdown.grace_ms,
        "{name}: shutting down (readiness off)"
    );
    std::thread::sleep(Duration::from_millis(shutdown.drain_delay_ms));
    // Step 3: every server at once.
    let grace = Duration::from_millis(shutdown.grace_ms);
    let clean = {
        let state = state.clone();
        rt.block_on(move || {
            let count = state.servers.get().map_or(0, Vec::len);
            let stops: Vec<_> = (0..count)
                .map(|i| {
                    let state = state.clone();
                    oc_runtime::spawn(move || state.servers.get().is_none_or(|s| s[i].shutdown(grace)))
                })
                .collect();
            stops.into_iter().all(|s| s.join().unwrap_or(false))
        })
    };
    if clean {
        tracing::info!(target: "oc_server", "every connection closed; stopped");
    } else {
        tracing::warn!(target: "oc_server", "connections still open after the grace period were cancelled");
    }
    // Step 4.
    crate::access_log::AccessLog::get().flush();
    rt.shutdown(Duration::from_secs(5));
    Ok(0)
}

/// Re-reads the configuration file and applies what can be applied while running.
fn reload(running: &mut Loaded, state: &Arc<State>, log: &LogControl) {
    let fresh = match config::load(&running.file).and_then(|fresh| Ok((Table::build(&fresh, state)?, fresh))) {
        Ok(fresh) => fresh,
        Err(e) => {
            state.reloads_failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(target: "oc_server", "reload failed, the running configuration stays: {e}");
            return;
        }
    };
    let (table, fresh) = fresh;
    state.table.store(Arc::new(table));
    let old = &running.config;
    let new = &fresh.config;
    for (section, changed) in [
        ("runtime", old.runtime != new.runtime),
        ("listeners", old.listeners != new.listeners),
        ("http", old.http != new.http),
        ("logging.format", old.logging.format != new.logging.format),
    ] {
        if changed {
            tracing::warn!(target: "oc_server", "{section} changed: it takes effect at the next restart");
        }
    }
    state.reloads_ok.fetch_add(1, Ordering::Relaxed);
    // Said under the filter in force so far, then the new one applies.
    tracing::info!(target: "oc_server", routes = new.routes.len(), "configuration reloaded");
    if let Err(e) = log.apply(&new.logging.level) {
        tracing::warn!(target: "oc_server", "cannot change the log filter: {e}");
    }
    *running = fresh;
}
