//! The client: one connection used from one coroutine at a time, reconnected on demand.
//!
//! # State
//!
//! `conn` is the live session, or `None` after it was lost (the next call reconnects,
//! unless a transaction was open on it: then calls fail until the transaction is dropped,
//! since silently continuing outside it would be wrong). `cache` maps SQL text to prepared
//! statements; statements outlive sessions and are re-parsed on a new one when first used.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;
use postgres_types::ToSql;

use crate::config::Config;
use crate::connection::Connection;
use crate::error::{Error, ErrorKind};
use crate::pipeline::Pipeline;
use crate::query::{self, Outcome, Sent};
use crate::row::{Row, SimpleRow};
use crate::statement::{Statement, ToStatement};
use crate::transaction::Transaction;

/// How long, at most, to wait for the server to acknowledge a cancel after a statement
/// time-out before the connection is dropped instead.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// How many prepared statements a client keeps by default.
pub const DEFAULT_STATEMENT_CACHE: usize = 1024;

/// A PostgreSQL client: a connection with its prepared statements.
///
/// All calls block the calling coroutine only (or the thread, outside a coroutine). A
/// client is used by one coroutine at a time (`&mut self`); share connections between
/// coroutines with a [`Pool`](crate::Pool).
///
/// If the connection is lost, the call that notices fails with an error of kind
/// [`Closed`](ErrorKind::Closed) (or `Io`), and the next call connects again. While the
/// server is down, each call fails within the connect time-out (at once when the port is
/// closed).
pub struct Client {
    config: Arc<Config>,
    conn: Option<Connection>,
    cache: HashMap<String, Statement>,
    /// Cached SQL texts, oldest first (the eviction order).
    cache_order: VecDeque<String>,
    cache_capacity: usize,
    statement_timeout: Option<Duration>,
    /// Open transactions and savepoints.
    pub(crate) tx_depth: u32,
    /// The session under the open transaction was lost.
    pub(crate) tx_lost: bool,
}

impl Client {
    /// Connects to the server at `url` (see [`Config`] for the form and options).
    pub fn connect(url: &str) -> Result<Client, Error> {
        Client::connect_config(Config::from_url(url)?)
    }

    /// Connects with `config`.
    pub fn connect_config(config: Config) -> Result<Client, Error> {
        Client::connect_shared(Arc::new(config))
    }

    pub(crate) fn connect_shared(config: Arc<Config>) -> Result<Client, Error> {
        let mut client = Client::unconnected(config);
        client.connection()?;
        Ok(client)
    }

    /// A client that connects on its first call.
    pub(crate) fn unconnected(config: Arc<Config>) -> Client {
        Client {
            statement_timeout: config.statement_timeout,
            config,
            conn: None,
            cache: HashMap::new(),
            cache_order: VecDeque::new(),
            cache_capacity: DEFAULT_STATEMENT_CACHE,
            tx_depth: 0,
            tx_lost: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bounds each later statement (or pipeline) to `timeout`, from sending to the last
    /// result. On expiry the client asks the server to cancel (a `CancelRequest` on a
    /// second connection), waits briefly for the acknowledgement so the connection stays
    /// usable, or drops the connection if none comes; the call fails with
    /// [`ErrorKind::Timeout`]. `None` (the default unless the URL says
    /// `statement_timeout=`) waits forever.
    pub fn set_statement_timeout(&mut self, timeout: Option<Duration>) {
        self.statement_timeout = timeout;
    }

    /// The statement time-out.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// Whether a session is open (it may still turn out to be dead on next use).
    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.conn.as_ref().is_some_and(Connection::is_tls)
    }

    /// Checks the connection with an empty query (one round trip), reconnecting first if
    /// it was lost; a dead connection is dropped and reported.
    pub fn check(&mut self) -> Result<(), Error> {
        self.batch_execute("")
    }

    /// Whether the server reports the current transaction as failed (statements are
    /// refused until it is rolled back).
    pub(crate) fn transaction_failed(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.status == b'E')
    }

    /// Whether the session is outside any transaction block (safe to hand to another user).
    pub(crate) fn is_idle(&self) -> bool {
        self.conn.as_ref().is_none_or(|c| c.status == b'I' && !c.in_flight)
    }

    /// The session, connecting first if there is none.
    pub(crate) fn connection(&mut self) -> Result<&mut Connection, Error> {
        if self.conn.as_ref().is_some_and(|c| c.in_flight) {
            // An exchange was abandoned half way (its coroutine was cancelled): the replies
            // still on their way would be read as this call's.
            if let Some(c) = self.conn.as_mut() {
                c.broken = true;
            }
            self.drop_connection();
        }
        if self.conn.is_none() {
            if self.tx_depth > 0 {
                self.tx_lost = true;
                return Err(Error::new(
                    ErrorKind::Closed,
                    "the connection was lost inside a transaction; drop or roll back the transaction first",
                ));
            }
            self.conn = Some(Connection::connect(&self.config)?);
        }
        self.conn.as_mut().ok_or_else(|| Error::new(ErrorKind::Closed, "no connection"))
    }

    fn deadline(&self) -> Option<Instant> {
        self.statement_timeout.and_then(|t| Instant::now().checked_add(t))
    }

    /// Settles the connection after an exchange failed with `err`: after a time-out, cancel
    /// and resynchronise (or drop); after a broken stream, drop.
    fn settle(&mut self, err: &Error) {
        let Some(conn) = self.conn.as_mut() else { return };
        if err.kind() == ErrorKind::Timeout && !conn.broken {
            let grace = self.config.connect_timeout.unwrap_or(CANCEL_GRACE).min(CANCEL_GRACE);
            let recovered = conn.cancel(grace).is_ok() && conn.drain(Instant::now().checked_add(grace)).is_ok();
            if !recovered {
                conn.broken = true;
            }
        }
        if conn.broken || matches!(err.kind(), ErrorKind::Closed | ErrorKind::Io | ErrorKind::Protocol) {
            self.drop_connection();
        }
    }

    fn drop_connection(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.terminate();
            if self.tx_depth > 0 {
                self.tx_lost = true;
            }
        }
    }

    /// Runs `f` on the session; on failure settles the session first.
    fn with_conn<T>(
        &mut self,
        f: impl FnOnce(&mut Connection, Option<Instant>) -> Result<Result<T, Error>, Error>,
    ) -> Result<T, Error> {
        let deadline = self.deadline();
        let conn = self.connection()?;
        // Cleared when `f` returns; still set if it never did (the coroutine unwound in the
        // middle of the exchange), so the session is not reused in an unknown state.
        conn.in_flight = true;
        // Whatever a failed encoding left behind is not sent.
        conn.wbuf.clear();
        let res = f(conn, deadline);
        conn.in_flight = false;
        match res {
            Ok(res) => res,
            Err(e) => {
                self.settle(&e);
                Err(e)
            }
        }
    }

    /// Prepares `sql` (parameters `$1`, `$2`, ...), or returns the statement already
    /// prepared for the same text on this client.
    ///
    /// The cache holds at most [`set_statement_cache_capacity`](Self::set_statement_cache_capacity)
    /// statements (1024 by default); past that the oldest is closed on the server, in the
    /// same round trip as the new `Parse`. An evicted `Statement` the caller still holds
    /// keeps working: it is parsed again when next used.
    pub fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        if let Some(stmt) = self.cache.get(sql) {
            return Ok(stmt.clone());
        }
        let mut evicted = Vec::new();
        while self.cache.len() >= self.cache_capacity {
            let Some(old) = self.cache_order.pop_front() else { break };
            evicted.extend(self.cache.remove(&old));
        }
        let stmt = self.with_conn(|conn, deadline| query::prepare(conn, sql, &evicted, deadline))?;
        self.cache.insert(sql.to_owned(), stmt.clone());
        self.cache_order.push_back(sql.to_owned());
        Ok(stmt)
    }

    /// Sets how many prepared statements the client keeps (at least 1).
    pub fn set_statement_cache_capacity(&mut self, capacity: usize) {
        self.cache_capacity = capacity.max(1);
    }

    /// Runs `stmt` (a [`Statement`], or SQL text prepared through the statement cache) and
    /// returns its rows.
    pub fn query<T: ?Sized + ToStatement>(
        &mut self,
        stmt: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        let stmt = stmt.to_statement(self)?;
        self.run(&stmt, params).map(|o| o.rows)
    }

    /// Runs `stmt`, which must return exactly one row.
    pub fn query_one<T: ?Sized + ToStatement>(
        &mut self,
        stmt: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Row, Error> {
        let mut rows = self.query(stmt, params)?;
        match rows.len() {
            1 => rows.pop().ok_or_else(|| Error::new(ErrorKind::RowCount, "no row")),
            n => Err(Error::new(ErrorKind::RowCount, format!("query_one expected one row, got {n}"))),
        }
    }

    /// Runs `stmt`, which may return no row or one.
    pub fn query_opt<T: ?Sized + ToStatement>(
        &mut self,
        stmt: &T,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        let mut rows = self.query(stmt, params)?;
        match rows.len() {
            0 | 1 => Ok(rows.pop()),
            n => Err(Error::new(ErrorKind::RowCount, format!("query_opt expected at most one row, got {n}"))),
        }
    }

    /// Runs `stmt` (a [`Statement`], or SQL text prepared through the statement cache) and
    /// returns the number of rows it affected.
    pub fn execute<T: ?Sized + ToStatement>(&mut self, stmt: &T, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        let stmt = stmt.to_statement(self)?;
        self.run(&stmt, params).map(|o| o.affected)
    }

    /// Prepares (or finds in the cache) `sql`, then runs it: [`prepare`](Self::prepare) and
    /// [`query`](Self::query) in one call.
    pub fn query_sql(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let stmt = self.prepare(sql)?;
        self.query(&stmt, params)
    }

    /// Prepares (or finds in the cache) `sql`, then executes it.
    pub fn execute_sql(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, Error> {
        let stmt = self.prepare(sql)?;
        self.execute(&stmt, params)
    }

    fn run(&mut self, stmt: &Statement, params: &[&(dyn ToSql + Sync)]) -> Result<Outcome, Error> {
        self.with_conn(|conn, deadline| {
            conn.wbuf.clear();
            let parse = !conn.prepared.contains(&stmt.id());
            if parse {
                query::encode_parse(&mut conn.wbuf, stmt)?;
            }
            if let Err(e) = query::encode_bind(&mut conn.wbuf, stmt, params) {
                conn.wbuf.clear();
                return Ok(Err(e));
            }
            frontend::sync(&mut conn.wbuf);
            let mut results = query::read_results(conn, &[Sent { stmt, parse }], deadline)?;
            Ok(results.pop().unwrap_or_else(|| Err(Error::protocol("no result"))))
        })
    }

    /// Runs already-encoded statements in one write (the pipeline's exchange): one group
    /// per entry of `ends` (each the end of a group in `items`), each closed by a `Sync`.
    pub(crate) fn run_pipeline(
        &mut self,
        items: &[(Statement, std::ops::Range<usize>)],
        binds: &[u8],
        ends: &[usize],
    ) -> Result<Vec<Result<Outcome, Error>>, Error> {
        if ends.len() <= 1 {
            return self.with_conn(|conn, deadline| {
                let mut sent = Vec::with_capacity(items.len());
                let mut parsing = Vec::new();
                for (stmt, range) in items {
                    let parse = !conn.prepared.contains(&stmt.id()) && !parsing.contains(&stmt.id());
                    if parse {
                        parsing.push(stmt.id());
                        query::encode_parse(&mut conn.wbuf, stmt)?;
                    }
                    conn.wbuf.extend_from_slice(&binds[range.clone()]);
                    sent.push(Sent { stmt, parse });
                }
                frontend::sync(&mut conn.wbuf);
                query::read_results(conn, &sent, deadline).map(Ok)
            });
        }
        self.with_conn(|conn, deadline| {
            // Several groups: the statements this session lacks are parsed first, in a group
            // of their own, so that a failure in one group cannot skip a `Parse` a later
            // group needs.
            let mut parsing: Vec<&Statement> = Vec::new();
            for (stmt, _) in items {
                if !conn.prepared.contains(&stmt.id()) && !parsing.iter().any(|s| s.id() == stmt.id()) {
                    parsing.push(stmt);
                    query::encode_parse(&mut conn.wbuf, stmt)?;
                }
            }
            if !parsing.is_empty() {
                frontend::sync(&mut conn.wbuf);
            }
            let mut start = 0;
            for &end in ends {
                for (_, range) in &items[start..end] {
                    conn.wbuf.extend_from_slice(&binds[range.clone()]);
                }
                frontend::sync(&mut conn.wbuf);
                start = end;
            }
            let parse_error = query::read_parses(conn, &parsing, deadline)?;
            let sent: Vec<Sent<'_>> = items.iter().map(|(stmt, _)| Sent { stmt, parse: false }).collect();
            let mut out = Vec::with_capacity(items.len());
            let mut start = 0;
            for &end in ends {
                out.extend(query::read_results(conn, &sent[start..end], deadline)?);
                start = end;
            }
            // A statement that could not be parsed fails with the parse's error, not with
            // the "does not exist" its binds met.
            if let Some((failed, err)) = parse_error {
                for (r, (stmt, _)) in out.iter_mut().zip(items) {
                    if failed.contains(&stmt.id()) {
                        *r = Err(err.duplicate());
                    }
                }
            }
            Ok(Ok(out))
        })
    }

    /// Runs `sql` (one or more statements separated by `;`) with the simple query protocol,
    /// discarding any rows. Statements run in one implicit transaction unless the text
    /// manages its own.
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.simple(sql, false).map(|_| ())
    }

    /// Runs `sql` with the simple query protocol and returns the rows of all its statements
    /// as text.
    pub fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleRow>, Error> {
        self.simple(sql, true)
    }

    fn simple(&mut self, sql: &str, keep: bool) -> Result<Vec<SimpleRow>, Error> {
        self.with_conn(|conn, deadline| {
            conn.wbuf.clear();
            frontend::query(sql, &mut conn.wbuf).map_err(Error::encode)?;
            let mut rows = Vec::new();
            let mut columns: Arc<[String]> = Arc::from(Vec::new());
            let mut error = None;
            loop {
                match conn.recv(deadline)? {
                    Message::RowDescription(body) => {
                        let names: Result<Vec<String>, _> = fallible_iterator::FallibleIterator::collect(
                            fallible_iterator::FallibleIterator::map(body.fields(), |f| Ok(f.name().to_owned())),
                        );
                        columns = names
                            .map_err(|e| Error::with_source(ErrorKind::Protocol, "malformed row description", e))?
                            .into();
                    }
                    Message::DataRow(body) if keep => rows.push(SimpleRow::new(columns.clone(), body)?),
                    Message::DataRow(_) | Message::CommandComplete(_) | Message::EmptyQueryResponse => {}
                    Message::ErrorResponse(body) => {
                        let err = conn.db_error(body);
                        if conn.broken {
                            return Err(err);
                        }
                        error.get_or_insert(err);
                    }
                    Message::CopyInResponse(_) => {
                        frontend::copy_fail("COPY FROM STDIN is not supported by this client", &mut conn.wbuf)
                            .map_err(Error::encode)?;
                        frontend::sync(&mut conn.wbuf);
                    }
                    Message::CopyOutResponse(_) | Message::CopyData(_) | Message::CopyDone => {}
                    Message::ReadyForQuery(body) => {
                        conn.status = body.status();
                        return Ok(match error {
                            Some(e) => Err(e),
                            None => Ok(rows),
                        });
                    }
                    _ => return Err(conn.unexpected("in a simple query's result")),
                }
            }
        })
    }

    /// Starts a transaction (`BEGIN`); inside one, a savepoint. It is rolled back when
    /// dropped without [`Transaction::commit`].
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        Transaction::begin(self)
    }

    /// Starts a pipeline: statements queued on it are sent in one write when it runs, and
    /// their results read in order.
    pub fn pipeline(&mut self) -> Pipeline<'_> {
        Pipeline::new(self)
    }

    /// Forgets the cached statements (the server keeps them until the session ends).
    pub fn clear_statement_cache(&mut self) {
        self.cache.clear();
        self.cache_order.clear();
    }

    /// Closes the connection now (the next call reconnects).
    pub fn disconnect(&mut self) {
        self.drop_connection();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.terminate();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("connected", &self.conn.is_some())
            .field("cached_statements", &self.cache.len())
            .finish()
    }
}
