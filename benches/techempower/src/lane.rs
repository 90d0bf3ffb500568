//! Lanes: database connections shared by every request, each driven by one coroutine that
//! sends all the statements queued since its last round trip in one pipeline.
//!
//! A request queues its statements on a lane (the one of the thread it runs on) and parks; the lane's
//! driver takes everything queued, writes it in one go, reads the results in order, hands
//! each request its rows and wakes it. While a round trip is out, new requests queue up, so
//! under load one write carries many requests' statements and the database reads them all
//! at once: the same thing a connection pool does, minus a round trip per request.
//!
//! Updates are not mixed with the selects: a pipeline is one implicit transaction. They all
//! go to the first lane, which sends those queued together after its selects, each its own
//! statement, in one transaction: with every update on one connection, no two update
//! transactions wait on each other's rows (no deadlocks, which the server would break only
//! after its `deadlock_timeout`).
//!
//! # State
//!
//! - `Lane::queue`: jobs waiting for the driver; pushed by requests, taken whole by the
//!   driver (both under its lock).
//! - `Job::done`: the result, written once by the driver, then taken by the request.
//! - `Lane::client`: the connection, touched by the driver only (reconnected on demand by
//!   oc-postgres; made again if it could not be made).
//!
//! # Shutdown
//!
//! 1. Dropping [`Lanes`] sets `closed` on every lane and wakes its driver.
//! 2. The driver answers what is still queued with an error and returns, closing its
//!    connection.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use oc_postgres::{Client, Row};
use oc_runtime::task::{self, Coroutine};

use crate::db::{DbError, SELECT_ALL_WORLDS, SELECT_FORTUNES, SELECT_WORLD, UPDATE_WORLDS};

/// A select a request asks for.
#[derive(Debug, Clone, Copy)]
pub enum Select {
    /// One World row by id.
    World(i32),
    /// Every Fortune row.
    Fortunes,
    /// The whole World table.
    AllWorlds,
}

/// What a request queues.
enum Work {
    /// Selects, answered with their rows in order.
    Selects(Vec<Select>),
    /// New numbers for rows (ids, numbers), answered with no rows.
    Update(Vec<i32>, Vec<i32>),
}

struct Job {
    work: Work,
    done: Mutex<Option<Result<Vec<Vec<Row>>, DbError>>>,
    waiter: Coroutine,
}

struct Lane {
    url: String,
    queue: Mutex<Vec<Arc<Job>>>,
    /// The driver (set once it runs), parked when `queue` is empty.
    driver: OnceLock<Coroutine>,
    closed: AtomicBool,
}

/// A set of lanes to one database.
pub struct Lanes {
    lanes: Vec<Arc<Lane>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes").field("lanes", &self.lanes.len()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // No critical section here panics; a poisoned lock still holds valid state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Lanes {
    /// `count` lanes to `url`, their drivers spawned on the current runtime. Connections are
    /// made on first use.
    pub fn new(url: &str, count: usize) -> std::io::Result<Lanes> {
        let mut lanes = Vec::with_capacity(count.max(1));
        for _ in 0..count.max(1) {
            let lane = Arc::new(Lane {
                url: url.to_owned(),
                queue: Mutex::new(Vec::new()),
                driver: OnceLock::new(),
                closed: AtomicBool::new(false),
            });
            let driven = lane.clone();
            let handle = task::Builder::new().name("oc-techempower-lane").spawn(move || drive(&driven))?;
            drop(handle);
            lanes.push(lane);
        }
        Ok(Lanes { lanes, next: AtomicUsize::new(0) })
    }

    /// Runs `selects` (in one round trip with whatever else is queued) and returns each
    /// one's rows. Must be called from a coroutine.
    pub fn select(&self, selects: Vec<Select>) -> Result<Vec<Vec<Row>>, DbError> {
        self.submit(Work::Selects(selects), self.pick())
    }

    /// Sets `numbers[i]` as the number of row `ids[i]`, in one statement of its own (sent
    /// with the other updates queued meanwhile, always on the first lane).
    pub fn update(&self, ids: Vec<i32>, numbers: Vec<i32>) -> Result<(), DbError> {
        self.submit(Work::Update(ids, numbers), 0).map(drop)
    }

    /// The lane of the thread the request runs on (threads take lanes in turn), so that a
    /// worker's requests meet in one lane's batches.
    #[inline(never)]
    fn pick(&self) -> usize {
        thread_local! {
            static HINT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
        }
        let hint = HINT.with(|h| match h.get() {
            Some(i) => i,
            None => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                h.set(Some(i));
                i
            }
        });
        hint % self.lanes.len()
    }

    fn submit(&self, work: Work, lane: usize) -> Result<Vec<Vec<Row>>, DbError> {
        let waiter = task::current().ok_or(DbError::NotInCoroutine)?;
        let job = Arc::new(Job { work, done: Mutex::new(None), waiter });
        let lane = &self.lanes[lane];
        lock(&lane.queue).push(job.clone());
        if let Some(driver) = lane.driver.get() {
            driver.unpark();
        }
        loop {
            if let Some(result) = lock(&job.done).take() {
                return result;
            }
            task::park();
        }
    }
}

impl Drop for Lanes {
    fn drop(&mut self) {
        for lane in &self.lanes {
            lane.closed.store(true, Ordering::Release);
            if let Some(driver) = lane.driver.get() {
                driver.unpark();
            }
        }
    }
}

/// The driver of `lane`: takes what is queued, runs it, answers, until the lanes are dropped.
fn drive(lane: &Lane) {
    if let Some(me) = task::current() {
        let _ = lane.driver.set(me);
    }
    let mut client: Option<Client> = None;
    loop {
        let jobs = std::mem::take(&mut *lock(&lane.queue));
        if jobs.is_empty() {
            if lane.closed.load(Ordering::Acquire) {
                return;
            }
            task::park();
            continue;
        }
        if lane.closed.load(Ordering::Acquire) {
            for job in &jobs {
                answer(job, Err(DbError::Closed));
            }
            continue;
        }
        if client.is_none() {
            match Client::connect(&lane.url) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    let e = Arc::new(e);
                    for job in &jobs {
                        answer(job, Err(DbError::Postgres(e.clone())));
                    }
                    continue;
                }
            }
        }
        let conn = client.as_mut().expect("connected above");
        run_selects(conn, &jobs);
        run_updates(conn, &jobs);
    }
}

/// The updates of `jobs`, each its own statement, in one pipeline after the selects (a
/// pipeline is one transaction: only lane 0 takes updates, so no two of these transactions
/// ever wait on each other's rows).
fn run_updates(conn: &mut Client, jobs: &[Arc<Job>]) {
    let updating = || jobs.iter().filter(|j| matches!(j.work, Work::Update(..)));
    if updating().next().is_none() {
        return;
    }
    let mut retried = false;
    let outcome = loop {
        let run = conn.prepare(UPDATE_WORLDS).and_then(|stmt| {
            let mut pipeline = conn.pipeline();
            for job in updating() {
                let Work::Update(ids, numbers) = &job.work else { unreachable!("filtered") };
                pipeline.execute(&stmt, &[ids, numbers]);
            }
            pipeline.run()
        });
        match run {
            // Setting the same numbers again changes nothing: a batch whose connection was
            // lost goes again once, on the fresh connection the client makes.
            Err(e) if !retried && lost(&e) => retried = true,
            run => break run,
        }
    };
    match outcome {
        Ok(results) => {
            for (job, result) in updating().zip(results) {
                answer(job, result.map(|_| Vec::new()).map_err(|e| DbError::Postgres(Arc::new(e))));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            updating().for_each(|job| answer(job, Err(DbError::Postgres(e.clone()))));
        }
    }
}

/// Whether `e` says the connection was lost, not that the database is unreachable: a
/// connection idle through an outage of the database (or of the network) is found dead only
/// when next used, and a new one may well succeed at once.
fn lost(e: &oc_postgres::Error) -> bool {
    matches!(e.kind(), oc_postgres::ErrorKind::Closed | oc_postgres::ErrorKind::Io)
}

/// The selects of every job in `jobs`, in one pipeline; each job answered with its rows.
fn run_selects(conn: &mut Client, jobs: &[Arc<Job>]) {
    let selecting = || jobs.iter().filter(|j| matches!(j.work, Work::Selects(_)));
    if selecting().next().is_none() {
        return;
    }
    let mut retried = false;
    let outcome = loop {
        let run = (|| -> Result<_, oc_postgres::Error> {
            let [world, fortunes, all] =
                [conn.prepare(SELECT_WORLD)?, conn.prepare(SELECT_FORTUNES)?, conn.prepare(SELECT_ALL_WORLDS)?];
            let mut pipeline = conn.pipeline();
            for job in selecting() {
                let Work::Selects(selects) = &job.work else { unreachable!("filtered") };
                for select in selects {
                    match select {
                        Select::World(id) => pipeline.query(&world, &[id]),
                        Select::Fortunes => pipeline.query(&fortunes, &[]),
                        Select::AllWorlds => pipeline.query(&all, &[]),
                    };
                }
            }
            pipeline.run()
        })();
        match run {
            // Reading is safe to repeat: once more on a fresh connection (see `lost`).
            Err(e) if !retried && lost(&e) => retried = true,
            run => break run,
        }
    };
    match outcome {
        Ok(results) => {
            let mut results = results.into_iter();
            for job in selecting() {
                let Work::Selects(selects) = &job.work else { unreachable!("filtered") };
                let mine: Result<Vec<Vec<Row>>, oc_postgres::Error> = results.by_ref().take(selects.len()).collect();
                answer(job, mine.map_err(|e| DbError::Postgres(Arc::new(e))));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            selecting().for_each(|job| answer(job, Err(DbError::Postgres(e.clone()))));
        }
    }
}

fn answer(job: &Job, result: Result<Vec<Vec<Row>>, DbError>) {
    *lock(&job.done) = Some(result);
    job.waiter.unpark();
}
