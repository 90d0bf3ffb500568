//! Pipelines: many statements in one write, their results read in order.

use std::ops::Range;

use bytes::BytesMut;
use postgres_types::ToSql;

use crate::client::Client;
use crate::error::Error;
use crate::query;
use crate::row::Row;
use crate::statement::Statement;

/// One statement's rows and the number of rows it affected (or returned), or its error.
type Counted = Result<(Vec<Row>, u64), Error>;

/// Statements queued to be sent together.
///
/// [`run`](Self::run) writes every queued statement (a `Parse` for those this connection
/// has not prepared yet, then `Bind` and `Execute`) and a single `Sync` in one write, then
/// reads all results in one pass, in order. That is one round trip for the whole batch.
///
/// With a single `Sync` the batch is one implicit transaction (unless it runs inside an
/// explicit one): if a statement fails, the server skips the rest, and the changes of the
/// statements before it are rolled back. The failing statement's entry holds its error
/// (with its SQLSTATE), those after it an error saying they were not executed. To keep
/// independent work apart (one request's statements from another's), close a group with
/// [`sync`](Self::sync): a failure then stops only its own group.
///
/// ```no_run
/// # fn demo(client: &mut oc_postgres::Client) -> Result<(), oc_postgres::Error> {
/// let stmt = client.prepare("SELECT randomnumber FROM world WHERE id = $1")?;
/// let mut pipeline = client.pipeline();
/// for id in [3i32, 14, 15] {
///     pipeline.query(&stmt, &[&id]);
/// }
/// for rows in pipeline.run()? {
///     let n: i32 = rows?[0].get(0);
///     println!("{n}");
/// }
/// # Ok(()) }
/// ```
pub struct Pipeline<'a> {
    client: &'a mut Client,
    items: Vec<(Statement, Range<usize>)>,
    binds: BytesMut,
    /// Ends of the groups closed by [`Pipeline::sync`].
    ends: Vec<usize>,
    error: Option<(usize, Error)>,
}

impl<'a> Pipeline<'a> {
    pub(crate) fn new(client: &'a mut Client) -> Pipeline<'a> {
        Pipeline { client, items: Vec::new(), binds: BytesMut::new(), ends: Vec::new(), error: None }
    }

    /// Queues `stmt` with `params`; returns its index in the results. The parameters are
    /// encoded now; if that fails, [`run`](Self::run) reports it and sends nothing.
    pub fn query(&mut self, stmt: &Statement, params: &[&(dyn ToSql + Sync)]) -> usize {
        let index = self.items.len();
        let start = self.binds.len();
        if let Err(e) = query::encode_bind(&mut self.binds, stmt, params) {
            self.error.get_or_insert((index, e));
        }
        self.items.push((stmt.clone(), start..self.binds.len()));
        index
    }

    /// Queues a statement run for its effect; its entry in the results holds no rows.
    pub fn execute(&mut self, stmt: &Statement, params: &[&(dyn ToSql + Sync)]) -> usize {
        self.query(stmt, params)
    }

    /// Closes the current group: the statements queued after this run in their own
    /// implicit transaction, so a failure before this point skips (and rolls back) only the
    /// statements of its own group. Everything still goes in one write; each group costs
    /// one more `Sync` and `ReadyForQuery`, not a round trip.
    pub fn sync(&mut self) {
        if self.ends.last().copied().unwrap_or(0) < self.items.len() {
            self.ends.push(self.items.len());
        }
    }

    /// The number of queued statements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sends everything queued and returns each statement's rows (or error), by index.
    ///
    /// The outer error is for the batch as a whole: a parameter that could not be encoded
    /// (nothing was sent), or a connection failure or time-out.
    pub fn run(self) -> Result<Vec<Result<Vec<Row>, Error>>, Error> {
        Ok(self.run_counted()?.into_iter().map(|r| r.map(|(rows, _)| rows)).collect())
    }

    /// As [`run`](Self::run), with the number of rows each statement affected (or
    /// returned).
    pub fn run_counted(self) -> Result<Vec<Counted>, Error> {
        if let Some((index, e)) = self.error {
            return Err(Error::with_source(e.kind(), format!("pipeline statement {index} was not sent"), e));
        }
        if self.items.is_empty() {
            return Ok(Vec::new());
        }
        let mut ends = self.ends;
        if ends.last() != Some(&self.items.len()) {
            ends.push(self.items.len());
        }
        let results = self.client.run_pipeline(&self.items, &self.binds, &ends)?;
        Ok(results.into_iter().map(|r| r.map(|o| (o.rows, o.affected))).collect())
    }
}

impl std::fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("len", &self.items.len()).finish_non_exhaustive()
    }
}
