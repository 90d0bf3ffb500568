//! `verify`: every rule of SPEC.md applied to a running server, test by test.
//!
//! Each test's URL is fetched and its head and body checked; the query tests try the counts
//! `2`, `0`, `foo`, `501` and empty; `Date` must change 3 s later; the fortunes page is
//! compared with the expected one after normalisation; updates must be in the table
//! afterwards; and, given a database URL, `pg_stat_statements` must have seen the statements
//! 512 concurrent requests require.
//!
//! ```no_run
//! use oc_techempower::verify::{Options, TestType, verify};
//! let options = Options::new("127.0.0.1:8080").tests(&[TestType::Json, TestType::Plaintext]);
//! let report = oc_runtime::block_on(move || verify(&options));
//! assert!(report.passed(), "{report}");
//! ```

pub mod client;
pub mod html;
pub mod rules;
mod stats;

use std::fmt;
use std::time::{Duration, Instant};

use client::{Connection, Reply, Target};
use rules::{Kind, check_head, check_hello, check_world_list, clip};

/// `Accept` of the JSON-like tests (and fortunes), as wrk sends it.
pub const ACCEPT_JSON: &str =
    "application/json,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7";
/// `Accept` of plaintext.
pub const ACCEPT_PLAIN: &str = "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7";

/// The seven test types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestType {
    /// `/json`.
    Json,
    /// `/plaintext`.
    Plaintext,
    /// `/db`.
    Db,
    /// `/queries?queries=`.
    Queries,
    /// `/fortunes`.
    Fortunes,
    /// `/updates?queries=`.
    Updates,
    /// `/cached-queries?count=`.
    CachedQueries,
}

impl TestType {
    /// All of them, in the toolset's order.
    pub const ALL: [TestType; 7] = [
        TestType::Json,
        TestType::Plaintext,
        TestType::Db,
        TestType::Queries,
        TestType::Fortunes,
        TestType::Updates,
        TestType::CachedQueries,
    ];

    /// The name the toolset uses.
    pub fn name(self) -> &'static str {
        match self {
            TestType::Json => "json",
            TestType::Plaintext => "plaintext",
            TestType::Db => "db",
            TestType::Queries => "query",
            TestType::Fortunes => "fortune",
            TestType::Updates => "update",
            TestType::CachedQueries => "cached-query",
        }
    }

    /// Parses a name (the toolset's, or the URL's).
    pub fn parse(name: &str) -> Option<TestType> {
        Some(match name {
            "json" => TestType::Json,
            "plaintext" => TestType::Plaintext,
            "db" => TestType::Db,
            "query" | "queries" => TestType::Queries,
            "fortune" | "fortunes" => TestType::Fortunes,
            "update" | "updates" => TestType::Updates,
            "cached-query" | "cached-queries" | "cached_query" => TestType::CachedQueries,
            _ => return None,
        })
    }

    /// The URL path (for the query tests, up to the `=` the count follows).
    pub fn path(self) -> &'static str {
        match self {
            TestType::Json => "/json",
            TestType::Plaintext => "/plaintext",
            TestType::Db => "/db",
            TestType::Queries => "/queries?queries=",
            TestType::Fortunes => "/fortunes",
            TestType::Updates => "/updates?queries=",
            TestType::CachedQueries => "/cached-queries?count=",
        }
    }

    fn kind(self) -> Kind {
        match self {
            TestType::Plaintext => Kind::Plain,
            TestType::Fortunes => Kind::Html,
            _ => Kind::Json,
        }
    }

    fn accept(self) -> &'static str {
        if self == TestType::Plaintext { ACCEPT_PLAIN } else { ACCEPT_JSON }
    }
}

/// What to verify, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server, `host:port`.
    pub host: String,
    /// A database URL for the table and statement checks (`None`: those are skipped, and
    /// said so).
    pub database_url: Option<String>,
    /// The tests to run.
    pub tests: Vec<TestType>,
    /// Concurrent requests of the statement-count check.
    pub concurrency: usize,
    /// How long after the first request `Date` must have changed.
    pub date_wait: Duration,
}

impl Options {
    /// Every test against `host`, without database checks.
    pub fn new(host: &str) -> Options {
        Options {
            host: host.to_owned(),
            database_url: None,
            tests: TestType::ALL.to_vec(),
            concurrency: 512,
            date_wait: Duration::from_secs(3),
        }
    }

    /// Only these tests.
    pub fn tests(mut self, tests: &[TestType]) -> Options {
        self.tests = tests.to_vec();
        self
    }

    /// Checks the tables and statement counts through `url`.
    pub fn database(mut self, url: &str) -> Options {
        self.database_url = Some(url.to_owned());
        self
    }
}

/// One test's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which test.
    pub test: TestType,
    /// Failures, each with the URL it concerns.
    pub failures: Vec<String>,
    /// Notes that do not fail the test (a check skipped, and why).
    pub notes: Vec<String>,
}

/// Every test's outcome.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// In the order run.
    pub outcomes: Vec<Outcome>,
}

impl Report {
    /// Whether no test failed.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.failures.is_empty())
    }

    /// The outcome of `test`, if it ran.
    pub fn outcome(&self, test: TestType) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.test == test)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.outcomes {
            let verdict = if o.failures.is_empty() { "PASS" } else { "FAIL" };
            writeln!(f, "{verdict} {}", o.test.name())?;
            for failure in &o.failures {
                writeln!(f, "    fail: {failure}")?;
            }
            for note in &o.notes {
                writeln!(f, "    note: {note}")?;
            }
        }
        let failed = self.outcomes.iter().filter(|o| !o.failures.is_empty()).count();
        write!(f, "{} passed, {} failed", self.outcomes.len() - failed, failed)
    }
}

/// Runs the tests of `options`. Call it from a coroutine (`oc_runtime::block_on`): the
/// statement-count check makes its concurrent requests from coroutines.
pub fn verify(options: &Options) -> Report {
    let mut report = Report::default();
    // The server's name is looked up once, and reached once, first: one that cannot be
    // reached fails every test at once, saying why, instead of each of thousands of
    // requests failing on its own (after its own look-up and connection time-out).
    let target = match Target::resolve(&options.host).and_then(|t| Connection::to(&t).map(|_| t)) {
        Ok(target) => target,
        Err(e) => {
            let failure = format!("cannot reach {}: {e}", options.host);
            report.outcomes = (options.tests.iter())
                .map(|&test| Outcome { test, failures: vec![failure.clone()], notes: Vec::new() })
                .collect();
            return report;
        }
    };
    let target = &target;
    // (test index, path, first Date, when fetched) for the Date-change check at the end.
    let mut dates: Vec<(usize, String, String, Instant)> = Vec::new();
    let mut db = options.database_url.as_deref().map(stats::Stats::connect);
    for &test in &options.tests {
        let mut outcome = Outcome { test, failures: Vec::new(), notes: Vec::new() };
        let first = match test {
            TestType::Json | TestType::Plaintext | TestType::Db | TestType::Fortunes => {
                single(target, test, &mut outcome)
            }
            TestType::Queries | TestType::CachedQueries => query_cases(options, target, test, &mut outcome, None),
            TestType::Updates => query_cases(options, target, test, &mut outcome, db.as_mut()),
        };
        if let Some((path, date)) = first {
            dates.push((report.outcomes.len(), path, date, Instant::now()));
        }
        if test == TestType::Plaintext {
            pipelined(target, &mut outcome);
        }
        if matches!(test, TestType::Db | TestType::Queries | TestType::Fortunes | TestType::Updates) {
            match db.as_mut() {
                Some(Ok(stats)) => stats::check_counts(stats, options, target, test, &mut outcome),
                Some(Err(e)) => outcome.failures.push(format!("cannot read pg_stat_statements: {e}")),
                None => outcome.notes.push("statement counts not checked (no --database-url)".into()),
            }
        }
        report.outcomes.push(outcome);
    }
    // Date must change: ask each URL again once `date_wait` has passed since its first answer.
    for (index, path, first, at) in dates {
        let wait = (at + options.date_wait).saturating_duration_since(Instant::now());
        oc_runtime::sleep(wait);
        let outcome = &mut report.outcomes[index];
        match client::get_from(target, &path, outcome.test.accept()) {
            Ok(reply) => match reply.header("Date") {
                Some(second) if second == first => outcome.failures.push(format!(
                    "{path}: Date {first:?} unchanged after {} s (cached)",
                    options.date_wait.as_secs_f32()
                )),
                Some(_) => {}
                None => outcome.failures.push(format!("{path}: no Date on the second request")),
            },
            Err(e) => outcome.failures.push(format!("{path}: second request failed: {e}")),
        }
    }
    report
}

/// Fetches `path` on a fresh connection, recording a failure when that fails.
fn fetch(target: &Target, test: TestType, path: &str, outcome: &mut Outcome) -> Option<Reply> {
    match client::get_from(target, path, test.accept()) {
        Ok(reply) => Some(reply),
        Err(e) => {
            outcome.failures.push(format!("{path}: request failed: {e}"));
            None
        }
    }
}

/// The tests of one URL: head and body. Returns the path and its Date.
fn single(target: &Target, test: TestType, outcome: &mut Outcome) -> Option<(String, String)> {
    let path = test.path();
    let reply = fetch(target, test, path, outcome)?;
    let mut problems = check_head(&reply, test.kind());
    if reply.status == 200 {
        problems.extend(match test {
            TestType::Json => check_hello(&reply.body),
            TestType::Plaintext => match reply.body.as_slice() {
                b"Hello, World!" => Vec::new(),
                other => vec![format!("body {:?}, expected \"Hello, World!\"", clip(&String::from_utf8_lossy(other)))],
            },
            TestType::Db => match serde_json::from_slice::<serde_json::Value>(&reply.body) {
                Ok(value) if value.is_object() => rules::check_world(&value),
                Ok(value) => vec![format!("expected one JSON object, found {}", clip(&value.to_string()))],
                Err(e) => vec![format!("invalid JSON ({e}): {}", clip(&reply.text()))],
            },
            TestType::Fortunes => match std::str::from_utf8(&reply.body) {
                Ok(page) => html::compare(page).err().into_iter().map(|e| format!("fortunes page: {e}")).collect(),
                Err(_) => vec!["the page is not UTF-8".into()],
            },
            _ => Vec::new(),
        });
    }
    outcome.failures.extend(problems.into_iter().map(|p| format!("{path}: {p}")));
    reply.header("Date").map(|d| (path.to_owned(), d.to_owned()))
}

/// The clamping cases of a query test; for updates with `db`, the table before and after
/// the 500-row request. Returns the path of the first case and its Date.
fn query_cases(
    options: &Options,
    target: &Target,
    test: TestType,
    outcome: &mut Outcome,
    db: Option<&mut Result<stats::Stats, String>>,
) -> Option<(String, String)> {
    let mut db = match db {
        Some(Ok(stats)) => Some(stats),
        Some(Err(e)) => {
            outcome.failures.push(format!("cannot read the World tables: {e}"));
            None
        }
        None => None,
    };
    if test == TestType::Updates && db.is_none() && options.database_url.is_none() {
        outcome.notes.push("updates not compared with the table (no --database-url)".into());
    }
    let mut first = None;
    for (case, expected) in [("2", 2), ("0", 1), ("foo", 1), ("501", 500), ("", 1)] {
        let path = format!("{}{case}", test.path());
        let before = match (&mut db, case) {
            (Some(stats), "501") => match stats.world_tables() {
                Ok(t) => Some(t),
                Err(e) => {
                    outcome.failures.push(format!("cannot read the World tables: {e}"));
                    None
                }
            },
            _ => None,
        };
        let Some(reply) = fetch(target, test, &path, outcome) else { continue };
        let mut problems = check_head(&reply, Kind::Json);
        if reply.status == 200 {
            problems.extend(check_world_list(&reply.body, expected));
        }
        if let (Some(before), Some(stats)) = (before, &mut db) {
            problems.extend(stats::check_updated(stats, &before, &reply.body));
        }
        outcome.failures.extend(problems.into_iter().map(|p| format!("{path}: {p}")));
        if first.is_none() {
            first = reply.header("Date").map(|d| (path.clone(), d.to_owned()));
        }
    }
    first
}

/// Plaintext with 16 requests in one write, as the benchmark sends them: 16 answers, in order.
fn pipelined(target: &Target, outcome: &mut Outcome) {
    let result = (|| -> std::io::Result<Vec<Reply>> {
        let mut conn = Connection::to(target)?;
        conn.pipeline(TestType::Plaintext.path(), ACCEPT_PLAIN, 16)
    })();
    match result {
        Ok(replies) => {
            let bad = replies.iter().filter(|r| r.status != 200 || r.body != b"Hello, World!").count();
            if replies.len() != 16 || bad > 0 {
                outcome.failures.push(format!("16 pipelined requests: {} answers, {bad} wrong", replies.len()));
            }
        }
        Err(e) => outcome.failures.push(format!("16 pipelined requests: {e}")),
    }
}
