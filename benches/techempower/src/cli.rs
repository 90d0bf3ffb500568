//! Command-line parsing: `serve` (the default), `setup-db` and `verify`.

use crate::setup::{DEFAULT_ADMIN_URL, DEFAULT_DATABASE_URL};
use crate::verify::TestType;

/// Usage text.
pub const USAGE: &str = "\
usage:
  oc-techempower [--port N] [--database-url URL] [--pool-size N] [--workers N]
      serve the seven tests on 0.0.0.0 (default port 8080); --pool-size: database
      connections (default one per worker); --workers: worker threads (default one per CPU)
  oc-techempower setup-db [--admin-url URL] [--database-url URL]
      create the TechEmpower user, database, tables and rows (idempotent)
  oc-techempower verify --url URL [--database-url URL | --no-database] [--tests LIST] [--concurrency N]
      check a running server against the benchmark's rules; exits 1 on any failure

--database-url defaults to $DATABASE_URL, else postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world;
--admin-url defaults to the local postgres role over /var/run/postgresql;
--tests is a comma-separated list of json,plaintext,db,query,fortune,update,cached-query (default: all).";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve the app.
    Serve {
        /// Port on 0.0.0.0.
        port: u16,
        /// The database.
        database_url: String,
        /// Database connections (`None`: the default for the worker count).
        pool_size: Option<usize>,
        /// Worker threads (`None`: one per CPU the process may use).
        workers: Option<usize>,
    },
    /// Set the database up.
    SetupDb {
        /// The superuser.
        admin_url: String,
        /// The app's URL, checked at the end.
        database_url: String,
    },
    /// Verify a running server.
    Verify {
        /// `host:port`.
        host: String,
        /// For the table and statement checks (`None` with `--no-database`).
        database_url: Option<String>,
        /// Which tests.
        tests: Vec<TestType>,
        /// Concurrent requests of the statement-count check.
        concurrency: usize,
    },
    /// Print the usage.
    Help,
}

/// Parses the arguments after the program name; `env_database_url` is `$DATABASE_URL`.
///
/// ```
/// use oc_techempower::cli::{Command, parse};
/// let cmd = parse(["--port", "9000"].map(String::from), None).unwrap();
/// assert!(matches!(cmd, Command::Serve { port: 9000, .. }));
/// assert!(parse(["--port", "x"].map(String::from), None).is_err());
/// ```
pub fn parse(args: impl IntoIterator<Item = String>, env_database_url: Option<String>) -> Result<Command, String> {
    let mut args = args.into_iter().peekable();
    let sub = match args.peek().map(String::as_str) {
        Some("setup-db" | "verify" | "serve") => args.next(),
        _ => None,
    };
    let mut port = 8080u16;
    let mut database_url = None;
    let mut admin_url = DEFAULT_ADMIN_URL.to_owned();
    let mut pool_size = None;
    let mut workers = None;
    let mut url = None;
    let mut no_database = false;
    let mut tests = TestType::ALL.to_vec();
    let mut concurrency = 512;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = || inline.clone().or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value"));
        match (sub.as_deref(), flag.as_str()) {
            (_, "-h" | "--help") => return Ok(Command::Help),
            (_, "--database-url") => database_url = Some(value()?),
            (None | Some("serve"), "--port") => port = number(&flag, &value()?)?,
            (None | Some("serve"), "--pool-size") => pool_size = Some(positive(&flag, &value()?)?),
            (None | Some("serve"), "--workers") => workers = Some(positive(&flag, &value()?)?),
            (Some("setup-db"), "--admin-url") => admin_url = value()?,
            (Some("verify"), "--url") => url = Some(value()?),
            (Some("verify"), "--no-database") => no_database = true,
            (Some("verify"), "--concurrency") => concurrency = positive(&flag, &value()?)?,
            (Some("verify"), "--tests") => {
                tests = value()?
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(|t| TestType::parse(t.trim()).ok_or_else(|| format!("unknown test {t:?}")))
                    .collect::<Result<_, _>>()?;
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let database_url = database_url.or(env_database_url).unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    Ok(match sub.as_deref() {
        None | Some("serve") => Command::Serve { port, database_url, pool_size, workers },
        Some("setup-db") => Command::SetupDb { admin_url, database_url },
        _ => {
            let url = url.ok_or("verify needs --url (e.g. --url http://127.0.0.1:8080)")?;
            Command::Verify {
                host: host_port(&url)?,
                database_url: (!no_database).then_some(database_url),
                tests,
                concurrency,
            }
        }
    })
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: {value:?} is not a valid number"))
}

fn positive(flag: &str, value: &str) -> Result<usize, String> {
    match number::<usize>(flag, value)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

/// `host:port` of an `http://` URL (port 80 when absent).
pub fn host_port(url: &str) -> Result<String, String> {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    if rest.contains("://") {
        return Err(format!("only http:// URLs can be verified: {url}"));
    }
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    let has_port =
        authority.rsplit_once(':').is_some_and(|(h, p)| !h.ends_with(']') || p.is_empty()) && !authority.ends_with(']');
    Ok(if has_port { authority.to_owned() } else { format!("{authority}:80") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn serve_defaults_and_env() {
        let cmd = parse(args(&[]), Some("postgres://x/y".into())).unwrap();
        assert_eq!(
            cmd,
            Command::Serve { port: 8080, database_url: "postgres://x/y".into(), pool_size: None, workers: None }
        );
        let cmd =
            parse(args(&["--database-url=postgres://a/b", "--workers", "2"]), Some("postgres://x/y".into())).unwrap();
        assert!(
            matches!(cmd, Command::Serve { ref database_url, workers: Some(2), .. } if database_url == "postgres://a/b")
        );
    }

    #[test]
    fn verify_args() {
        let cmd =
            parse(args(&["verify", "--url", "http://127.0.0.1:9000/", "--tests", "json,fortunes"]), None).unwrap();
        assert_eq!(
            cmd,
            Command::Verify {
                host: "127.0.0.1:9000".into(),
                database_url: Some(DEFAULT_DATABASE_URL.into()),
                tests: vec![TestType::Json, TestType::Fortunes],
                concurrency: 512
            }
        );
        assert!(parse(args(&["verify"]), None).is_err());
        assert!(parse(args(&["verify", "--url", "x:1", "--tests", "nope"]), None).is_err());
        assert!(matches!(parse(args(&["verify", "--url", "h", "--no-database"]), None).unwrap(),
            Command::Verify { ref host, database_url: None, .. } if host == "h:80"));
    }

    #[test]
    fn bad_input() {
        assert!(parse(args(&["--port"]), None).is_err());
        assert!(parse(args(&["--port", "70000"]), None).is_err());
        assert!(parse(args(&["--pool-size", "0"]), None).is_err());
        assert!(parse(args(&["--admin-url", "x"]), None).is_err(), "serve has no --admin-url");
        assert!(parse(args(&["setup-db", "--port", "1"]), None).is_err());
        assert!(host_port("https://x").is_err());
    }
}
