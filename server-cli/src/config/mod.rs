//! The configuration file: its schema (serde, unknown keys refused), loading, and the checks
//! that need more than the types (values in range, keys that belong to a route's kind, files
//! that must exist).
//!
//! Every error names the file, the line and column of the key or value at fault, the key's
//! path and what is wrong: `oc.json:12:15: routes[1].root: "/srv/www" does not exist`.
//! `config/README.md` documents every key.

mod error;
mod locate;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub(crate) use error::ConfigError;
pub(crate) use locate::Positions;
pub(crate) use validate::{normalized_prefix, route_name};

/// The default configuration, as shipped in `config/oc-server.json`.
pub(crate) const DEFAULT: &str = include_str!("../../../config/oc-server.json");

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    #[serde(default)]
    pub(crate) runtime: RuntimeConfig,
    pub(crate) listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub(crate) http: HttpConfig,
    #[serde(default)]
    pub(crate) logging: LoggingConfig,
    #[serde(default)]
    pub(crate) shutdown: ShutdownConfig,
    pub(crate) routes: Vec<RouteConfig>,
}

/// `runtime`: the coroutine runtime (applied at start only).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuntimeConfig {
    /// Worker threads; the CPUs the process may use when absent.
    pub(crate) workers: Option<usize>,
    /// Bytes of each coroutine stack.
    pub(crate) stack_size: Option<usize>,
    /// The time slice in milliseconds; 0 turns the monitor off.
    pub(crate) preempt_interval_ms: Option<u64>,
    #[serde(default)]
    pub(crate) io_backend: IoBackendName,
    /// Syscall hooks on or off.
    pub(crate) hooks: Option<bool>,
    /// A coroutine holding its thread this long is reported (log and metrics); 0: off.
    pub(crate) stuck_threshold_ms: Option<u64>,
    /// Measure each coroutine's stack high-water mark (`/metrics` histogram).
    pub(crate) stack_high_water: Option<bool>,
}

/// `runtime.io_backend`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum IoBackendName {
    #[default]
    Auto,
    Uring,
    Epoll,
}

impl IoBackendName {
    /// The backend named, if one is: `auto` leaves the choice to the runtime, where
    /// `OC_IO_BACKEND` may make it.
    pub(crate) fn backend(self) -> Option<oc_runtime::IoBackend> {
        match self {
            IoBackendName::Auto => None,
            IoBackendName::Uring => Some(oc_runtime::IoBackend::Uring),
            IoBackendName::Epoll => Some(oc_runtime::IoBackend::Epoll),
        }
    }
}

/// One entry of `listeners`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerConfig {
    /// `IP:PORT` (port 0: any free port, logged at start).
    pub(crate) address: String,
    #[serde(default)]
    pub(crate) reuse_port: bool,
    pub(crate) tls: Option<TlsFiles>,
    /// When set, this listener answers every request with a redirect to `https://` on this
    /// port, and serves no route.
    pub(crate) redirect_to_https_port: Option<u16>,
}

/// `listeners[].tls`: PEM files.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// `http`: limits and time-outs (applied at start only).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpConfig {
    pub(crate) max_request_line: Option<usize>,
    pub(crate) max_head: Option<usize>,
    pub(crate) max_headers: Option<usize>,
    pub(crate) max_body: Option<usize>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) header_timeout_ms: Option<u64>,
    pub(crate) idle_timeout_ms: Option<u64>,
    pub(crate) body_timeout_ms: Option<u64>,
    pub(crate) write_timeout_ms: Option<u64>,
}

/// `logging`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoggingConfig {
    /// A filter in `RUST_LOG` syntax: `info`, `warn,oc_http=debug`.
    #[serde(default = "default_level")]
    pub(crate) level: String,
    #[serde(default)]
    pub(crate) format: LogFormat,
    /// One line per request in the common log format, on standard output.
    #[serde(default)]
    pub(crate) access_log: bool,
}

fn default_level() -> String {
    "info".to_owned()
}

impl Default for LoggingConfig {
    fn default() -> LoggingConfig {
        LoggingConfig { level: default_level(), format: LogFormat::Text, access_log: false }
    }
}

/// `logging.format`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `shutdown`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShutdownConfig {
    /// From SIGTERM to closing the listeners: `/readyz` answers 503 and requests are served.
    #[serde(default)]
    pub(crate) drain_delay_ms: u64,
    /// How long in-flight requests have to finish once the listeners are closed.
    #[serde(default = "default_grace")]
    pub(crate) grace_ms: u64,
}

fn default_grace() -> u64 {
    10_000
}

impl Default for ShutdownConfig {
    fn default() -> ShutdownConfig {
        ShutdownConfig { drain_delay_ms: 0, grace_ms: default_grace() }
    }
}

/// One entry of `routes`. The keys a kind does not use are refused by `validate`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteConfig {
    pub(crate) kind: RouteKind,
    /// The label of the route in `/metrics`; `KIND PATH` when absent.
    pub(crate) name: Option<String>,
    /// The `Host` the route answers (`example.com`, `*.example.com`); any host when absent.
    pub(crate) host: Option<String>,
    /// The path prefix (whole segments: `/api` matches `/api` and `/api/x`, not `/apix`).
    #[serde(default = "default_path")]
    pub(crate) path: String,
    // static
    pub(crate) root: Option<PathBuf>,
    pub(crate) index: Option<String>,
    pub(crate) listing: Option<bool>,
    pub(crate) dotfiles: Option<bool>,
    /// Content types by file extension, over the built-in ones.
    pub(crate) content_types: Option<BTreeMap<String, String>>,
    // fixed and redirect
    pub(crate) status: Option<u16>,
    // fixed
    pub(crate) headers: Option<BTreeMap<String, String>>,
    pub(crate) body: Option<String>,
    // redirect
    pub(crate) to: Option<String>,
    pub(crate) append_path: Option<bool>,
    // proxy
    pub(crate) upstreams: Option<Vec<String>>,
    pub(crate) connect_timeout_ms: Option<u64>,
    pub(crate) read_timeout_ms: Option<u64>,
    pub(crate) write_timeout_ms: Option<u64>,
    pub(crate) fail_timeout_ms: Option<u64>,
    pub(crate) pool_size: Option<usize>,
    pub(crate) pool_idle_timeout_ms: Option<u64>,
    pub(crate) strip_prefix: Option<bool>,
    pub(crate) add_prefix: Option<String>,
    pub(crate) preserve_host: Option<bool>,
    // health
    pub(crate) check: Option<HealthCheck>,
}

fn default_path() -> String {
    "/".to_owned()
}

/// `routes[].kind`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RouteKind {
    Static,
    Fixed,
    Redirect,
    Proxy,
    Health,
    Metrics,
}

impl RouteKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RouteKind::Static => "static",
            RouteKind::Fixed => "fixed",
            RouteKind::Redirect => "redirect",
            RouteKind::Proxy => "proxy",
            RouteKind::Health => "health",
            RouteKind::Metrics => "metrics",
        }
    }
}

/// `routes[].check` of a health route.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HealthCheck {
    /// Liveness: 200 while the process serves.
    Live,
    /// Readiness: 200, then 503 from the moment a shutdown starts.
    Ready,
}

/// A configuration read from a file, with the positions of its keys for later messages.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) config: Config,
    pub(crate) file: PathBuf,
    pub(crate) positions: Positions,
}

impl Loaded {
    /// An error about the key at `path` (`listeners[0].address`), at its position in the file.
    pub(crate) fn error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        let (line, column) = self.positions.of(path).unwrap_or((0, 0));
        ConfigError::new(&self.file, line, column, path, message)
    }

    /// An error about the key at `path` itself (a key that does not belong there).
    pub(crate) fn key_error_at(&self, path: &str, message: impl Into<String>) -> ConfigError {
        let (line, column) = self.positions.key_of(path).or_else(|| self.positions.of(path)).unwrap_or((0, 0));
        ConfigError::new(&self.file, line, column, path, message)
    }
}

/// Reads, parses and checks the file at `file`.
pub(crate) fn load(file: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::new(file, 0, 0, "", format!("cannot read the configuration: {e}")))?;
    parse(file, &text)
}

/// Parses and checks `text`, read from `file`.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Loaded, ConfigError> {
    let positions = Positions::scan(text);
    let mut de = serde_json::Deserializer::from_str(text);
    let config: Config = match serde_path_to_error::deserialize(&mut de) {
        Ok(config) => config,
        Err(e) => return Err(error::from_serde(file, &positions, e)),
    };
    if let Err(e) = de.end() {
        return Err(ConfigError::new(file, e.line(), e.column(), "", "unexpected text after the configuration"));
    }
    let loaded = Loaded { config, file: file.to_path_buf(), positions };
    validate::check(&loaded)?;
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("t.json"), text).unwrap_err().to_string()
    }

    #[test]
    fn the_default_configuration_parses() {
        // Its paths are relative to the repository's root; the tests run in the crate's.
        let docs = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs");
        let text = DEFAULT.replace("\"root\": \"docs\"", &format!("\"root\": \"{docs}\""));
        assert_ne!(text, DEFAULT);
        let loaded = parse(Path::new("config/oc-server.json"), &text).expect("default config");
        assert_eq!(loaded.config.listeners[0].address, "127.0.0.1:8080");
    }

    #[test]
    fn an_unknown_key_is_named_at_its_position() {
        let text = "{\n  \"listeners\": [{\"address\": \"127.0.0.1:0\", \"bogus\": 1}],\n  \"routes\": []\n}";
        let msg = err(text);
        assert!(msg.starts_with("t.json:2:44: listeners[0].bogus: unknown field `bogus`"), "{msg}");
    }

    #[test]
    fn a_wrong_type_is_named_at_the_value() {
        let text = "{\"listeners\": [],\n \"routes\": [{\"kind\": \"fixed\",\n  \"status\": \"200\"}]}";
        let msg = err(text);
        assert!(msg.starts_with("t.json:3:13: routes[0].status: invalid type: string \"200\""), "{msg}");
    }

    #[test]
    fn broken_json_gives_line_and_column() {
        let msg = err("{\"listeners\": [,]}");
        assert!(msg.starts_with("t.json:1:16: listeners[0]: expected value"), "{msg}");
    }

    #[test]
    fn trailing_characters_are_refused() {
        let msg = err("{\"listeners\": [], \"routes\": []} x");
        assert!(msg.starts_with("t.json:1:33: "), "{msg}");
    }
}
