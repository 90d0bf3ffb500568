//! `oc-techempower`: serves the seven TechEmpower tests, sets their database up, or verifies
//! a running server (see `oc-techempower --help`).

use std::process::ExitCode;
use std::sync::Arc;

use oc_techempower::cli::{self, Command};
use oc_techempower::{app, db, setup, verify};

/// mimalloc, as the FrameworkBenchmarks Rust entries use (may-minihttp among them): its
/// per-thread caches are safe under the runtime's signal preemption, which freezes a
/// coroutine interrupted inside the allocator on its thread (`runtime/tests/preempt_mimalloc.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1), std::env::var("DATABASE_URL").ok()) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("oc-techempower: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Command::Serve { port, database_url, pool_size, workers } => serve(port, &database_url, pool_size, workers),
        Command::SetupDb { admin_url, database_url } => {
            let result = oc_runtime::block_on(move || setup::setup(&admin_url, &database_url));
            match result {
                Ok(report) => {
                    for line in &report.lines {
                        println!("{line}");
                    }
                    if !report.stat_statements_ready {
                        println!(
                            "pg_stat_statements: not readable yet (statement counts cannot be verified until it is)"
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("oc-techempower setup-db: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Verify { host, database_url, tests, concurrency } => {
            let mut options = verify::Options::new(&host).tests(&tests);
            options.concurrency = concurrency;
            options.database_url = database_url;
            let report = oc_runtime::block_on(move || verify::verify(&options));
            println!("{report}");
            if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
    }
}

fn serve(port: u16, database_url: &str, pool_size: Option<usize>, workers: Option<usize>) -> ExitCode {
    let mut builder = oc_runtime::Runtime::builder();
    if let Some(workers) = workers {
        builder = builder.workers(workers);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oc-techempower: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pool_size = pool_size.unwrap_or_else(|| db::default_pool_size(rt.workers()));
    let database_url = database_url.to_owned();
    let result = rt.block_on(move || -> Result<(), String> {
        let db = Arc::new(db::Database::new(&database_url, pool_size).map_err(|e| format!("database URL: {e}"))?);
        // Fill the cache now if the database is up; otherwise the first cached request will.
        if let Err(e) = db.cache() {
            eprintln!("oc-techempower: database not ready ({e}); answering 503 until it is");
        }
        let server = oc_http::Server::new(app::router(db))
            .bind(("0.0.0.0", port))
            .map_err(|e| format!("cannot listen on 0.0.0.0:{port}: {e}"))?
            .start();
        println!("oc-techempower: serving on 0.0.0.0:{port} ({pool_size} database connections)");
        server.join();
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oc-techempower: {e}");
            ExitCode::FAILURE
        }
    }
}
