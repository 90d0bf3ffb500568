//! The database side: a pool of oc-postgres connections, the statements the tests run, and
//! the in-process World cache of cached-queries.
//!
//! Every statement is prepared once per connection (the client caches them by text). A
//! request's selects go out together in one pipeline (one write, results read in order); the
//! updates test writes all its new numbers with one statement of two arrays, one value per
//! row, ids in ascending order so that concurrent updates lock rows in the same order.

use std::sync::{Arc, OnceLock};

use oc_postgres::{Error, Pool};

use crate::fortunes::Fortune;
use crate::world::{WORLD_ROWS, World, random_id};

/// One World row by id.
pub const SELECT_WORLD: &str = "SELECT id, randomnumber FROM world WHERE id = $1";
/// Every Fortune row.
pub const SELECT_FORTUNES: &str = "SELECT id, message FROM fortune";
/// The whole World table, for the cache.
pub const SELECT_ALL_WORLDS: &str = "SELECT id, randomnumber FROM world";
/// New numbers for many rows at once: `$1` the ids (ascending, distinct), `$2` their numbers.
/// (No `SELECT` in its text: the toolset counts the rows of statements that name `world` and
/// say `select` as rows read.)
pub const UPDATE_WORLDS: &str =
    "UPDATE world SET randomnumber = new.rn FROM unnest($1::int[], $2::int[]) AS new(id, rn) WHERE world.id = new.id";

/// SQLSTATE of a deadlock (two updates locking rows in different orders): retried.
const DEADLOCK: &str = "40P01";
/// Attempts of an update that meets a deadlock or a serialization failure.
const UPDATE_ATTEMPTS: usize = 3;

/// The default number of database connections for `workers` worker threads: a few per
/// worker, so that a worker has requests of other connections to run while some wait on
/// the database.
pub fn default_pool_size(workers: usize) -> usize {
    4 * workers.max(1)
}

/// The database of the app: its pool and the World cache.
pub struct Database {
    pool: Pool,
    cache: OnceLock<Arc<[World]>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("cached", &self.cache.get().is_some()).finish()
    }
}

impl Database {
    /// A pool of `size` connections to `url`. Connections are made on first use, so this
    /// succeeds while the database is down; requests then fail until it is back.
    pub fn new(url: &str, size: usize) -> Result<Database, oc_postgres::Error> {
        Ok(Database { pool: Pool::new(url, size)?, cache: OnceLock::new() })
    }

    /// One random World row.
    pub fn world(&self) -> Result<World, DbError> {
        let mut client = self.pool.get()?;
        let stmt = client.prepare(SELECT_WORLD)?;
        let id = random_id();
        let row = client.query_one(&stmt, &[&id])?;
        Ok(World { id: row.try_get(0)?, random_number: row.try_get(1)? })
    }

    /// `count` random World rows, each by its own query, all sent in one pipeline.
    pub fn worlds(&self, count: usize) -> Result<Vec<World>, DbError> {
        let mut client = self.pool.get()?;
        let stmt = client.prepare(SELECT_WORLD)?;
        let ids: Vec<i32> = (0..count).map(|_| random_id()).collect();
        let mut pipeline = client.pipeline();
        for id in &ids {
            pipeline.query(&stmt, &[id]);
        }
        let mut worlds = Vec::with_capacity(count);
        for result in pipeline.run()? {
            let rows = result?;
            let row = rows.first().ok_or_else(missing_row)?;
            worlds.push(World { id: row.try_get(0)?, random_number: row.try_get(1)? });
        }
        Ok(worlds)
    }

    /// `count` random rows read one by one (pipelined), each given a new random number,
    /// written back with one statement; returns the rows with their new numbers.
    pub fn update_worlds(&self, count: usize) -> Result<Vec<World>, DbError> {
        let mut worlds = self.worlds(count)?;
        for w in &mut worlds {
            w.random_number = random_id();
        }
        // Ascending, distinct ids; a row drawn twice keeps one new number (the first drawn),
        // so that the answer says what the table holds.
        let mut order: Vec<usize> = (0..worlds.len()).collect();
        order.sort_by_key(|&i| (worlds[i].id, i));
        let mut ids = Vec::with_capacity(order.len());
        let mut numbers = Vec::with_capacity(order.len());
        for &i in &order {
            if ids.last() == Some(&worlds[i].id) {
                worlds[i].random_number = *numbers.last().expect("pushed with its id");
            } else {
                ids.push(worlds[i].id);
                numbers.push(worlds[i].random_number);
            }
        }
        let mut client = self.pool.get()?;
        let stmt = client.prepare(UPDATE_WORLDS)?;
        let mut attempt = 1;
        loop {
            match client.execute(&stmt, &[&ids, &numbers]) {
                Ok(_) => return Ok(worlds),
                Err(e) if attempt < UPDATE_ATTEMPTS && e.code().is_some_and(|c| c.code() == DEADLOCK) => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Every Fortune row, then `render` over them (the rows borrow the query's results).
    pub fn with_fortunes<R>(&self, render: impl FnOnce(Vec<Fortune<'_>>) -> R) -> Result<R, DbError> {
        let mut client = self.pool.get()?;
        let stmt = client.prepare(SELECT_FORTUNES)?;
        let rows = client.query(&stmt, &[])?;
        drop(client);
        let mut fortunes = Vec::with_capacity(rows.len() + 1);
        for row in &rows {
            let message: &str = row.try_get(1)?;
            fortunes.push(Fortune { id: row.try_get(0)?, message: message.into() });
        }
        Ok(render(fortunes))
    }

    /// The World cache, filled from the table on first use (again after a failed fill).
    pub fn cache(&self) -> Result<Arc<[World]>, DbError> {
        if let Some(cache) = self.cache.get() {
            return Ok(cache.clone());
        }
        let mut client = self.pool.get()?;
        let stmt = client.prepare(SELECT_ALL_WORLDS)?;
        let rows = client.query(&stmt, &[])?;
        drop(client);
        let mut table = vec![World { id: 0, random_number: 0 }; WORLD_ROWS as usize];
        for row in &rows {
            let w = World { id: row.try_get(0)?, random_number: row.try_get(1)? };
            if (1..=WORLD_ROWS).contains(&w.id) {
                table[(w.id - 1) as usize] = w;
            }
        }
        if table.iter().any(|w| w.id == 0) {
            return Err(missing_row());
        }
        // Another coroutine may have filled it meanwhile: either table is the same.
        let _ = self.cache.set(table.into());
        Ok(self.cache.get().expect("set above").clone())
    }

    /// `count` random rows from the cache.
    pub fn cached_worlds(&self, count: usize) -> Result<Vec<World>, DbError> {
        let cache = self.cache()?;
        Ok((0..count).map(|_| cache[(random_id() - 1) as usize]).collect())
    }
}

/// The error for a World table that lacks rows it should have.
fn missing_row() -> DbError {
    DbError::MissingRows
}

/// Why a database call of the app failed.
#[derive(Debug)]
pub enum DbError {
    /// The client's error: the database is down, a statement failed, a type did not match.
    Postgres(Error),
    /// The World table lacks rows it should have (`setup-db` not run?).
    MissingRows,
}

impl From<Error> for DbError {
    fn from(e: Error) -> DbError {
        DbError::Postgres(e)
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Postgres(e) => write!(f, "database: {e}"),
            DbError::MissingRows => f.write_str("the World table lacks rows (was `oc-techempower setup-db` run?)"),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Postgres(e) => Some(e),
            DbError::MissingRows => None,
        }
    }
}
