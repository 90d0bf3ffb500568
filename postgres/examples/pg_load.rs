//! Measures oc-postgres against a live server: sequential round trips on one connection,
//! pipelined batches, and a pool shared by many coroutines.
//!
//! ```text
//! cargo run --release -p oc-postgres --example pg_load -- [URL] [SECONDS]
//! ```
//!
//! URL defaults to `postgres://postgres@127.0.0.1:5432/postgres`, SECONDS (per phase) to 3.
//! It creates and drops its own table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use oc_postgres::{Client, Error, PoolConfig, PoolMode};

const ROWS: i32 = 10_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The libraries report through `tracing`: their events go to standard error.
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let secs: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let phase = Duration::from_secs(secs);
    let rt = oc_runtime::Runtime::builder().build()?;
    let workers = rt.workers();
    rt.block_on(move || -> Result<(), Error> {
        let table = format!("oc_pg_load_{}", std::process::id());
        let mut c = Client::connect(&url)?;
        c.batch_execute(&format!(
            "CREATE TABLE {table} (id int4 PRIMARY KEY, randomnumber int4 NOT NULL);
             INSERT INTO {table} SELECT i, (random() * 10000)::int4 FROM generate_series(1, {ROWS}) i;
             ANALYZE {table}"
        ))?;
        let sql = format!("SELECT id, randomnumber FROM {table} WHERE id = $1");
        println!("workers: {workers}, phase: {secs} s");

        // 1. Sequential: one query, one round trip.
        let stmt = c.prepare(&sql)?;
        let (n, took, cpu) = timed(phase, |i| {
            let row = c.query_one(&stmt, &[&(i % ROWS + 1)])?;
            let _: i32 = row.get(1);
            Ok(1)
        })?;
        report("sequential, 1 connection", n, took, cpu);

        // 2. Pipelined: 20 queries, one write, one Sync.
        let (n, took, cpu) = timed(phase, |i| {
            let mut p = c.pipeline();
            for k in 0..20 {
                p.query(&stmt, &[&((i * 20 + k) % ROWS + 1)]);
            }
            for r in p.run()? {
                let _: i32 = r?[0].get(1);
            }
            Ok(20)
        })?;
        report("pipelined x20, 1 connection", n, took, cpu);

        // 3. A pool shared by many coroutines.
        for (mode, name) in [(PoolMode::Shared, "shared"), (PoolMode::PerWorker, "per-worker")] {
            let pool = PoolConfig::new(&url)?.size(8).mode(mode).build()?;
            let count = Arc::new(AtomicU64::new(0));
            let cpu = cpu_time();
            let start = Instant::now();
            let handles: Vec<_> = (0..64)
                .map(|t| {
                    let (pool, count, sql) = (pool.clone(), count.clone(), sql.clone());
                    oc_runtime::spawn(move || -> Result<(), Error> {
                        let mut i = t;
                        while start.elapsed() < phase {
                            let mut c = pool.get()?;
                            let stmt = c.prepare(&sql)?;
                            let _: i32 = c.query_one(&stmt, &[&(i % ROWS + 1)])?.get(1);
                            i += 64;
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("load coroutine")?;
            }
            let took = start.elapsed();
            let n = count.load(Ordering::Relaxed);
            report(&format!("pool of 8 ({name}), 64 coroutines"), n, took, cpu_time() - cpu);
        }

        c.batch_execute(&format!("DROP TABLE {table}"))?;
        Ok(())
    })?;
    Ok(())
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    let mut ru: libc::rusage = unsafe_zeroed_rusage();
    // SAFETY: `ru` is a valid, writable rusage for the call to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn unsafe_zeroed_rusage() -> libc::rusage {
    // SAFETY: rusage is plain integers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

fn timed(phase: Duration, mut f: impl FnMut(i32) -> Result<u64, Error>) -> Result<(u64, Duration, Duration), Error> {
    let cpu = cpu_time();
    let start = Instant::now();
    let mut n = 0;
    let mut i = 0;
    while start.elapsed() < phase {
        n += f(i)?;
        i += 1;
    }
    Ok((n, start.elapsed(), cpu_time() - cpu))
}

fn report(what: &str, n: u64, took: Duration, cpu: Duration) {
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "{what:<38} {rate:>9.0} queries/s  {:>6.1} us/query  client CPU {:>5.1} us/query",
        1e6 / rate,
        cpu.as_secs_f64() * 1e6 / n as f64
    );
}
