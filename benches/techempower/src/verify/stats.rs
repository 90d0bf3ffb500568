//! The database side of the verifier: the World tables before and after an update, and the
//! statement counts of `pg_stat_statements` around `concurrency` concurrent requests.

use std::collections::HashMap;

use oc_postgres::Client;

use super::client::{self, Target};
use super::{Options, Outcome, TestType};

/// A connection for the checks.
pub(super) struct Stats {
    client: Client,
}

/// `id → randomNumber` of one World table.
pub(super) type Table = HashMap<i32, i32>;

/// Statement counters of one table: calls, rows of statements that select, rows of those
/// that update.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    calls: i64,
    rows_read: i64,
    rows_updated: i64,
}

/// The toolset's counters: statements whose text names `table` as a word. (The patterns go
/// as parameters so that this statement's own text matches none of them.)
const COUNTERS: &str = "SELECT coalesce(sum(calls), 0)::int8, \
     coalesce(sum(rows) FILTER (WHERE query ~* $2), 0)::int8, \
     coalesce(sum(rows) FILTER (WHERE query ~* $3), 0)::int8 \
     FROM pg_stat_statements WHERE query ~* $1";

impl Stats {
    pub(super) fn connect(url: &str) -> Result<Stats, String> {
        Client::connect(url).map(|client| Stats { client }).map_err(|e| format!("cannot connect to {url}: {e}"))
    }

    /// Both World tables (`world` and `"World"`), in that order.
    pub(super) fn world_tables(&mut self) -> Result<[Table; 2], String> {
        let mut read = |sql: &str| -> Result<Table, String> {
            let stmt = self.client.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
            let rows = self.client.query(&stmt, &[]).map_err(|e| format!("{sql}: {e}"))?;
            rows.iter()
                .map(|r| Ok((r.try_get::<_, i32>(0)?, r.try_get::<_, i32>(1)?)))
                .collect::<Result<Table, oc_postgres::Error>>()
                .map_err(|e| format!("{sql}: {e}"))
        };
        Ok([read("SELECT id, randomnumber FROM world")?, read("SELECT id, randomnumber FROM \"World\"")?])
    }

    fn counters(&mut self, table: &str) -> Result<Counters, String> {
        let stmt = self.client.prepare(COUNTERS).map_err(|e| format!("pg_stat_statements: {e}"))?;
        let pattern = format!("[[:<:]]{table}[[:>:]]");
        let row = self
            .client
            .query_one(&stmt, &[&pattern, &"select", &"update"])
            .map_err(|e| format!("pg_stat_statements (is it in shared_preload_libraries?): {e}"))?;
        let get = |i: usize| row.try_get::<_, i64>(i).map_err(|e| format!("pg_stat_statements: {e}"));
        Ok(Counters { calls: get(0)?, rows_read: get(1)?, rows_updated: get(2)? })
    }
}

/// The problems of an update of 500 rows: how many rows of the tables changed (more than 90%
/// of 500 must have), and whether the answer's numbers are those the table now holds.
pub(super) fn check_updated(stats: &mut Stats, before: &[Table; 2], body: &[u8]) -> Vec<String> {
    let after = match stats.world_tables() {
        Ok(after) => after,
        Err(e) => return vec![format!("cannot read the World tables after: {e}")],
    };
    // As the toolset: the first table in which anything changed.
    let changed = |i: usize| before[i].iter().filter(|(id, n)| after[i].get(id).is_some_and(|m| m != *n)).count();
    let (table, updated) = (0..2).map(|i| (i, changed(i))).find(|&(_, n)| n > 0).unwrap_or((0, 0));
    let mut problems = Vec::new();
    if updated == 0 {
        problems.push("no row of the World tables changed".to_owned());
    } else if updated * 10 <= 500 * 9 {
        problems.push(format!("only {updated} rows changed of the 500 expected (more than 90% must)"));
    }
    let answered = super::rules::world_pairs(body);
    let differ =
        answered.iter().filter(|(id, n)| after[table].get(&(*id as i32)).map(|&m| i64::from(m)) != Some(*n)).count();
    if differ > 0 {
        problems
            .push(format!("{differ} of the {} answered rows are not in the table with that number", answered.len()));
    }
    problems
}

/// `concurrency` concurrent requests of `test`'s counted URL, then the counters compared with
/// what they must have grown by.
pub(super) fn check_counts(
    stats: &mut Stats,
    options: &Options,
    target: &Target,
    test: TestType,
    outcome: &mut Outcome,
) {
    let c = options.concurrency as i64;
    let (table, path, queries, rows) = match test {
        TestType::Db => ("world", "/db".to_owned(), c, c),
        TestType::Fortunes => ("fortune", "/fortunes".to_owned(), c, 12 * c),
        TestType::Queries => ("world", format!("{}20", test.path()), 20 * c, 20 * c),
        TestType::Updates => ("world", format!("{}20", test.path()), 21 * c, 20 * c),
        _ => return,
    };
    let before = match stats.counters(table) {
        Ok(b) => b,
        Err(e) => {
            outcome.failures.push(e);
            return;
        }
    };
    let failed = concurrent(options, target, test, &path);
    let after = match stats.counters(table) {
        Ok(a) => a,
        Err(e) => {
            outcome.failures.push(e);
            return;
        }
    };
    if failed > 0 {
        outcome.failures.push(format!("{path}: {failed} of {} concurrent requests failed", options.concurrency));
    }
    let calls = after.calls - before.calls;
    let read = after.rows_read - before.rows_read;
    let updated = after.rows_updated - before.rows_updated;
    // As the toolset: one batched update per request if the calls say so, else one per row.
    let bulk =
        test == TestType::Updates && (calls as f64) > 0.999 * queries as f64 && (calls as f64) < 1.001 * queries as f64;
    let queries = if test == TestType::Updates && !bulk { 40 * c } else { queries };
    if calls < queries {
        outcome.failures.push(format!(
            "{path}: {calls} statements on {table} for {} requests, expected at least {queries}",
            options.concurrency
        ));
    }
    if read < rows {
        outcome.failures.push(format!("{path}: {read} rows read from {table}, expected at least {rows}"));
    }
    if test == TestType::Updates {
        let margin = if bulk { 1.05 } else { 1.0 };
        if (updated as f64) * margin < rows as f64 {
            outcome.failures.push(format!("{path}: {updated} rows updated, expected at least {rows}"));
        }
    }
    outcome
        .notes
        .push(format!("{path} x{}: {calls} statements, {read} rows read, {updated} updated", options.concurrency));
}

/// Sends `concurrency` requests for `path` at once, each on its own connection; returns how
/// many failed or were not `200`.
fn concurrent(options: &Options, target: &Target, test: TestType, path: &str) -> usize {
    let handles: Vec<_> = (0..options.concurrency)
        .map(|_| {
            let (target, path, accept) = (target.clone(), path.to_owned(), test.accept());
            oc_runtime::spawn(move || {
                client::get_from(&target, &path, accept).map(|r| r.status == 200).unwrap_or(false)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap_or(false)).filter(|ok| !ok).count()
}
