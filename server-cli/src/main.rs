//! `oc-server`: an HTTP/1.1 server on oc coroutines, driven by a JSON configuration file.
//!
//! Static sites, fixed responses, redirects, reverse proxying, health checks and Prometheus
//! metrics, matched by host and path prefix; TLS; graceful shutdown on SIGINT/SIGTERM and
//! configuration reload on SIGHUP. `config/README.md` documents every key;
//! `docs/oc-server.md` is the manual.
//!
//! ```text
//! $ oc-server --check --config config/oc-server.json
//! config/oc-server.json: ok
//!   listener 127.0.0.1:8080 (http)
//!   route static /    host *    path /
//! $ oc-server --config config/oc-server.json
//! ```
//!
//! Exit codes: 0 after a clean run or a successful `--check`; 2 when the configuration or
//! the command line is wrong (`FILE:LINE:COLUMN: key.path: what is wrong`), a port is taken,
//! or a certificate, key or static root cannot be read; 1 on any other failure.

mod access_log;
mod config;
mod logging;
mod metrics;
mod routes;
mod serve;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "oc-server", version, about = "An HTTP server on oc coroutines, driven by a JSON configuration file")]
struct Cli {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE", default_value = "config/oc-server.json")]
    config: PathBuf,
    /// Check the configuration (syntax, values, files), print a summary and exit.
    #[arg(long)]
    check: bool,
    /// Print the default configuration and exit.
    #[arg(long)]
    print_default_config: bool,
    /// The log filter (`info`, `warn,oc_http=debug`), over `RUST_LOG` and `logging.level`.
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Worker threads, over `runtime.workers`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=4096))]
    workers: Option<u64>,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help` and `--version` are not errors.
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    if cli.print_default_config {
        print!("{}", config::DEFAULT);
        return ExitCode::SUCCESS;
    }
    // The configuration errors below end the process before (or instead of) installing the
    // log, whose level and format the configuration itself gives: they are the command's own
    // usage errors, printed once on standard error like clap's, not library events.
    let loaded = match config::load(&cli.config) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let workers = cli.workers.map(|n| n as usize);
    if cli.check {
        return check(&loaded, workers);
    }
    let source = logging::Source::pick(cli.log_level.as_deref());
    let log = match logging::init(source, &loaded.config.logging.level, loaded.config.logging.format) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match serve::run(loaded, workers, log) {
        Ok(code) => ExitCode::from(code as u8),
        Err(serve::StartError::Config(e)) => {
            // A configuration that cannot be served, found while starting: a usage error,
            // as above.
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(serve::StartError::Other(e)) => {
            // The log may not be running (or may filter errors out): the reason the command
            // failed is printed where a shell user looks for it.
            eprintln!("oc-server: {e}");
            ExitCode::from(1)
        }
    }
}

/// `--check`: the configuration was read and checked; build its routes too and summarise.
fn check(loaded: &config::Loaded, workers: Option<usize>) -> ExitCode {
    let state = state::State::new();
    let table = match routes::Table::build(loaded, &state) {
        Ok(table) => table,
        Err(e) => {
            // `--check` reports to the terminal, without a log.
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let c = &loaded.config;
    println!("{}: ok", loaded.file.display());
    match workers.or(c.runtime.workers) {
        Some(n) => println!("  runtime: {n} workers, io backend {:?}", c.runtime.io_backend),
        None => println!("  runtime: one worker per CPU, io backend {:?}", c.runtime.io_backend),
    }
    for l in &c.listeners {
        let kind = match (&l.tls, l.redirect_to_https_port) {
            (Some(_), _) => "https".to_owned(),
            (None, Some(port)) => format!("http, redirects to https port {port}"),
            (None, None) => "http".to_owned(),
        };
        let reuse = if l.reuse_port { ", reuse_port" } else { "" };
        println!("  listener {} ({kind}{reuse})", l.address);
    }
    for r in table.routes() {
        println!("  route {}", r.describe());
    }
    ExitCode::SUCCESS
}
