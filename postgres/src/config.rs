//! Connection settings, parsed from a `postgres://` URL or built in code.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;

/// Whether and how to use TLS (`sslmode=` in the URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP (the default here; libpq's default is `prefer`).
    Disable,
    /// TLS if the server offers it, else plain; the certificate is not verified.
    Prefer,
    /// TLS or fail; the certificate is not verified (as libpq's `require`).
    Require,
    /// TLS or fail; the certificate chain is verified against `sslrootcert` (or the TLS
    /// configuration given with [`Config::tls_config`]) and the host name is checked.
    VerifyFull,
}

/// Where the server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address, with the TCP port.
    Tcp(String),
    /// A directory holding the server's Unix socket (`.s.PGSQL.<port>`).
    Unix(PathBuf),
}

/// Connection settings.
///
/// The URL form is `postgres://user:password@host:port/dbname?option=value&...`. A host
/// that starts with `/` (percent-encoded `%2F`, or given as `?host=/dir`) is the directory
/// of the server's Unix socket. Options: `sslmode` (`disable`, `prefer`, `require`,
/// `verify-full`), `sslrootcert` (a PEM file), `connect_timeout` (seconds),
/// `statement_timeout` (milliseconds, enforced by this client; see
/// [`Client::set_statement_timeout`](crate::Client::set_statement_timeout)),
/// `application_name`, `options` (sent to the server as is), `host`, `port`, `user`,
/// `password`, `dbname`.
///
/// ```
/// let config: oc_postgres::Config =
///     "postgres://app:secret@db.example:6432/shop?connect_timeout=2".parse()?;
/// assert_eq!(config.get_user(), "app");
/// assert_eq!(config.get_port(), 6432);
/// assert_eq!(config.get_dbname(), "shop");
/// assert_eq!(config.get_connect_timeout(), Some(std::time::Duration::from_secs(2)));
/// # Ok::<(), oc_postgres::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) host: Host,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) dbname: Option<String>,
    pub(crate) application_name: Option<String>,
    pub(crate) options: Option<String>,
    pub(crate) ssl_mode: SslMode,
    pub(crate) ssl_root_cert: Option<PathBuf>,
    pub(crate) tls_config: Option<Arc<rustls::ClientConfig>>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) statement_timeout: Option<Duration>,
}

/// The connect time-out when none is configured: a down or unreachable server fails a call
/// within this.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl Config {
    /// Settings for `127.0.0.1:5432`, user `postgres`, no password, plain TCP, a 5 s connect
    /// time-out and no statement time-out.
    pub fn new() -> Config {
        Config {
            host: Host::Tcp("127.0.0.1".to_owned()),
            port: 5432,
            user: "postgres".to_owned(),
            password: None,
            dbname: None,
            application_name: None,
            options: None,
            ssl_mode: SslMode::Disable,
            ssl_root_cert: None,
            tls_config: None,
            connect_timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            statement_timeout: None,
        }
    }

    /// Sets the host name or IP address; a value starting with `/` is a Unix socket
    /// directory.
    pub fn host(&mut self, host: &str) -> &mut Config {
        self.host = if host.starts_with('/') { Host::Unix(PathBuf::from(host)) } else { Host::Tcp(host.to_owned()) };
        self
    }

    /// Sets the port (also the number in the Unix socket's file name).
    pub fn port(&mut self, port: u16) -> &mut Config {
        self.port = port;
        self
    }

    /// Sets the user name.
    pub fn user(&mut self, user: &str) -> &mut Config {
        self.user = user.to_owned();
        self
    }

    /// Sets the password.
    pub fn password(&mut self, password: impl AsRef<[u8]>) -> &mut Config {
        self.password = Some(password.as_ref().to_vec());
        self
    }

    /// Sets the database name (the server's default is the user name).
    pub fn dbname(&mut self, dbname: &str) -> &mut Config {
        self.dbname = Some(dbname.to_owned());
        self
    }

    /// Sets `application_name`.
    pub fn application_name(&mut self, name: &str) -> &mut Config {
        self.application_name = Some(name.to_owned());
        self
    }

    /// Sets the TLS mode.
    pub fn ssl_mode(&mut self, mode: SslMode) -> &mut Config {
        self.ssl_mode = mode;
        self
    }

    /// Uses this TLS configuration for `verify-full` (its roots and client certificate).
    pub fn tls_config(&mut self, config: Arc<rustls::ClientConfig>) -> &mut Config {
        self.tls_config = Some(config);
        self
    }

    /// Bounds the time to connect and log in; `None` waits as long as the OS does.
    pub fn connect_timeout(&mut self, timeout: Option<Duration>) -> &mut Config {
        self.connect_timeout = timeout;
        self
    }

    /// The default statement time-out of clients made from this configuration.
    pub fn statement_timeout(&mut self, timeout: Option<Duration>) -> &mut Config {
        self.statement_timeout = timeout;
        self
    }

    /// The host.
    pub fn get_host(&self) -> &Host {
        &self.host
    }

    /// The port.
    pub fn get_port(&self) -> u16 {
        self.port
    }

    /// The user name.
    pub fn get_user(&self) -> &str {
        &self.user
    }

    /// The database name (the user name when not set).
    pub fn get_dbname(&self) -> &str {
        self.dbname.as_deref().unwrap_or(&self.user)
    }

    /// The TLS mode.
    pub fn get_ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The connect time-out.
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The default statement time-out.
    pub fn get_statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// Parses a `postgres://` or `postgresql://` URL.
    pub fn from_url(url: &str) -> Result<Config, Error> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| Error::config("the URL must start with postgres:// or postgresql://"))?;
        let mut config = Config::new();
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                config.user = decode(user, "user")?;
            }
            if let Some(p) = password {
                config.password = Some(decode(p, "password")?.into_bytes());
            }
        }
        if !hostport.is_empty() {
            let (host, port) = split_host_port(hostport)?;
            if !host.is_empty() {
                config.host(&decode(host, "host")?);
            }
            if let Some(port) = port {
                config.port = parse_port(port)?;
            }
        }
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            config.dbname = Some(decode(path, "database name")?);
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| Error::config(format!("URL option `{pair}` has no value (expected key=value)")))?;
            let value = decode(value, key)?;
            config.set_option(key, &value)?;
        }
        Ok(config)
    }

    fn set_option(&mut self, key: &str, value: &str) -> Result<(), Error> {
        match key {
            "host" => {
                self.host(value);
            }
            "port" => self.port = parse_port(value)?,
            "user" => self.user = value.to_owned(),
            "password" => self.password = Some(value.as_bytes().to_vec()),
            "dbname" => self.dbname = Some(value.to_owned()),
            "application_name" => self.application_name = Some(value.to_owned()),
            "options" => self.options = Some(value.to_owned()),
            "sslmode" => {
                self.ssl_mode = match value {
                    "disable" => SslMode::Disable,
                    "prefer" | "allow" => SslMode::Prefer,
                    "require" => SslMode::Require,
                    "verify-full" => SslMode::VerifyFull,
                    "verify-ca" => {
                        return Err(Error::config(
                            "sslmode=verify-ca is not supported (it skips the host name check); use verify-full",
                        ));
                    }
                    other => {
                        return Err(Error::config(format!(
                            "unknown sslmode `{other}` (expected disable, prefer, require or verify-full)"
                        )));
                    }
                }
            }
            "sslrootcert" => self.ssl_root_cert = Some(PathBuf::from(value)),
            "connect_timeout" => {
                let secs: u64 = value.parse().map_err(|_| {
                    Error::config(format!("connect_timeout must be a whole number of seconds, not `{value}`"))
                })?;
                // As libpq: 0 means wait indefinitely.
                self.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "statement_timeout" => {
                let ms: u64 = value.parse().map_err(|_| {
                    Error::config(format!("statement_timeout must be a whole number of milliseconds, not `{value}`"))
                })?;
                self.statement_timeout = (ms > 0).then(|| Duration::from_millis(ms));
            }
            other => return Err(Error::config(format!("unknown URL option `{other}`"))),
        }
        Ok(())
    }
}

impl FromStr for Config {
    type Err = Error;

    fn from_str(s: &str) -> Result<Config, Error> {
        Config::from_url(s)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .field("ssl_mode", &self.ssl_mode)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish_non_exhaustive()
    }
}

fn split_host_port(hostport: &str) -> Result<(&str, Option<&str>), Error> {
    if let Some(rest) = hostport.strip_prefix('[') {
        // [IPv6]:port
        let (host, after) = rest.split_once(']').ok_or_else(|| Error::config("unterminated `[` in the URL's host"))?;
        return match after {
            "" => Ok((host, None)),
            p => Ok((host, Some(p.strip_prefix(':').ok_or_else(|| Error::config("junk after `]` in the URL"))?))),
        };
    }
    Ok(match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    })
}

fn parse_port(port: &str) -> Result<u16, Error> {
    port.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::config(format!("invalid port `{port}` (expected 1-65535)")))
}

/// Percent-decodes a URL component.
fn decode(s: &str, what: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::config(format!("bad percent-encoding in the URL's {what}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::config(format!("the URL's {what} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let c = Config::from_url("postgresql://u%40x:p%3Aw@localhost:5433/db%20one?sslmode=require&connect_timeout=0")
            .unwrap();
        assert_eq!(c.user, "u@x");
        assert_eq!(c.password.as_deref(), Some(&b"p:w"[..]));
        assert_eq!(c.host, Host::Tcp("localhost".into()));
        assert_eq!(c.port, 5433);
        assert_eq!(c.get_dbname(), "db one");
        assert_eq!(c.ssl_mode, SslMode::Require);
        assert_eq!(c.connect_timeout, None);
    }

    #[test]
    fn unix_socket_and_defaults() {
        let c = Config::from_url("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres").unwrap();
        assert_eq!(c.host, Host::Unix("/var/run/postgresql".into()));
        assert_eq!(c.port, 5432);
        let c = Config::from_url("postgres:///app?host=/tmp&port=6000&user=me").unwrap();
        assert_eq!(c.host, Host::Unix("/tmp".into()));
        assert_eq!(c.port, 6000);
        assert_eq!(c.get_dbname(), "app");
        assert_eq!(c.user, "me");
        let c = Config::from_url("postgres://[::1]:7/x").unwrap();
        assert_eq!(c.host, Host::Tcp("::1".into()));
        assert_eq!(c.port, 7);
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for url in [
            "mysql://x",
            "postgres://h:99999/db",
            "postgres://h:0/db",
            "postgres://h/db?sslmode=maybe",
            "postgres://h/db?sslmode=verify-ca",
            "postgres://h/db?connect_timeout=soon",
            "postgres://h/db?nosuch=1",
            "postgres://h/db?flag",
            "postgres://h/d%zz",
            "postgres://[::1/db",
        ] {
            let err = Config::from_url(url).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Config, "{url}: {err}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let c = Config::from_url("postgres://u:hunter2@h/db").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
