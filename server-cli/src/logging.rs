//! The server's log: `tracing` events to standard error, as text or JSON lines, filtered by a
//! `RUST_LOG`-style directive that SIGHUP can change while the server runs.
//!
//! Which filter applies: `--log-level` if given, else the `RUST_LOG` environment variable if
//! set, else the configuration's `logging.level`. A reload re-applies the configuration's level
//! only when it is the one in force.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Parses a filter directive (`info`, `warn,oc_http=debug`).
pub(crate) fn filter(directive: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    EnvFilter::try_new(directive)
}

/// Where the filter comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// `--log-level`: fixed for the life of the process.
    Flag(String),
    /// `RUST_LOG`: fixed for the life of the process.
    Env(String),
    /// `logging.level`: re-read on SIGHUP.
    Config,
}

impl Source {
    /// The source given the flag and the environment.
    pub(crate) fn pick(flag: Option<&str>) -> Source {
        match (flag, std::env::var("RUST_LOG")) {
            (Some(level), _) => Source::Flag(level.to_owned()),
            (None, Ok(env)) if !env.is_empty() => Source::Env(env),
            _ => Source::Config,
        }
    }

    fn directive<'a>(&'a self, configured: &'a str) -> &'a str {
        match self {
            Source::Flag(d) | Source::Env(d) => d,
            Source::Config => configured,
        }
    }
}

/// The installed subscriber's filter, to change on reload.
pub(crate) struct LogControl {
    handle: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
    source: Source,
}

impl LogControl {
    /// Applies the configuration's level after a reload, if the configuration is the source.
    /// Returns whether it changed anything.
    pub(crate) fn apply(&self, configured: &str) -> Result<bool, String> {
        if !matches!(self.source, Source::Config) {
            return Ok(false);
        }
        let filter = filter(configured).map_err(|e| e.to_string())?;
        self.handle.reload(filter).map_err(|e| e.to_string())?;
        Ok(true)
    }
}

/// Installs the subscriber. Fails (with a message naming the directive) if the flag or
/// `RUST_LOG` is not a valid filter.
pub(crate) fn init(source: Source, configured: &str, format: LogFormat) -> Result<LogControl, String> {
    let directive = source.directive(configured);
    let env_filter = filter(directive).map_err(|e| {
        let from = match source {
            Source::Flag(_) => "--log-level",
            Source::Env(_) => "RUST_LOG",
            Source::Config => "logging.level",
        };
        format!("{from}: {directive:?} is not a log filter: {e}")
    })?;
    let (layer, handle) = reload::Layer::new(env_filter);
    let registry = tracing_subscriber::registry().with(layer);
    let installed = match format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_target(true))
            .try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr).with_current_span(false))
            .try_init(),
    };
    installed.map_err(|e| format!("cannot install the logger: {e}"))?;
    Ok(LogControl { handle, source })
}
