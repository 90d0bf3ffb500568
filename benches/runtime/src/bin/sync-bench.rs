//! Channel and lock measurements, side by side: oc's `sync` against may's, Go's (the Debian
//! `golang` package, `go/chanbench.go`), tokio's `mpsc` and `crossbeam-channel` between
//! threads, and `std::sync::Mutex`.
//!
//! `cargo run --release -p oc-runtime-bench --bin sync-bench [-- ROUNDS]` runs every
//! measurement in a fresh child process per system, `ROUNDS` times (default 5), interleaving
//! the systems so that drift of this shared machine hits all of them alike, and prints the
//! medians of two clocks: the wall clock, and the CPU time of the whole process (user and
//! system, every thread), which on a loaded machine says more about the work each system
//! does (the wall clock then measures mostly how much of the CPUs the process was given).
//! `WORKERS` (default 2) sets the worker threads of every runtime (`GOMAXPROCS` for Go).
//!
//! Measurements:
//! - `ping-pong`: two coroutines (tasks, goroutines, threads) bounce a number over two
//!   channels; nanoseconds per round trip (two sends, two receives, two wake-ups).
//!   Channels: oc `unbounded`, may `mpsc::channel` (it has no bounded one), Go
//!   `make(chan int, 1)`, tokio `unbounded_channel`, crossbeam `unbounded`.
//! - `4P/4C`: four producers send 100,000 numbers each to four consumers over one channel;
//!   nanoseconds per message. oc `bounded(1024)`, may `mpmc::channel`, Go
//!   `make(chan int, 1024)`, tokio `mpsc::channel(1024)` with the consumers sharing the
//!   receiver behind a `tokio::sync::Mutex` (tokio has no multi-consumer channel),
//!   crossbeam `bounded(1024)` with eight threads.
//! - `mutex, uncontended`: one coroutine (thread) locks, increments and unlocks 10 million
//!   times; nanoseconds per lock/unlock pair.
//! - `mutex, 4 contending`: four coroutines (threads for std) do 250,000 increments each
//!   under one lock; nanoseconds per increment.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const SYSTEMS: [&str; 6] = ["oc", "may", "go", "tokio", "crossbeam", "std"];
const TESTS: [(&str, &str); 4] = [
    ("pingpong", "ping-pong round trip"),
    ("mpmc", "4P/4C, per message"),
    ("mutex_uncontended", "mutex, uncontended"),
    ("mutex_contended", "mutex, 4 contending"),
];

const PING_PONG_ROUNDS: u64 = 200_000;
const PRODUCERS: u64 = 4;
const CONSUMERS: usize = 4;
const PER_PRODUCER: u64 = 100_000;
const UNCONTENDED: u64 = 10_000_000;
const CONTENDERS: u64 = 4;
const PER_CONTENDER: u64 = 250_000;

fn workers() -> usize {
    std::env::var("WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2)
}

/// Which systems take part in which measurement.
fn applies(system: &str, test: &str) -> bool {
    match test {
        "pingpong" | "mpmc" => system != "std",
        _ => matches!(system, "oc" | "may" | "go" | "std"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "child" {
        match child(&args[2], &args[3]) {
            Some((wall, cpu)) => println!("RESULT {wall} {cpu}"),
            None => println!("RESULT n/a"),
        }
        std::process::exit(0);
    }
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    parent(rounds);
}

/// Builds the Go program into the target directory; `None` without a Go toolchain.
fn build_go() -> Option<PathBuf> {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("go/chanbench.go");
    let out = std::env::temp_dir().join(format!("oc-chanbench-{}", std::process::id()));
    let built = Command::new("go").arg("build").arg("-o").arg(&out).arg(&source).env("GO111MODULE", "off").status();
    match built {
        Ok(status) if status.success() => Some(out),
        Ok(status) => {
            eprintln!("go build failed ({status}): Go columns are n/a");
            None
        }
        Err(e) => {
            eprintln!("no Go toolchain ({e}; `apt-get install golang`): Go columns are n/a");
            None
        }
    }
}

fn parent(rounds: usize) {
    let exe = std::env::current_exe().expect("own path");
    let go = build_go();
    // [clock][test][system]: clock 0 is the wall clock, 1 the process CPU time.
    let mut results = vec![vec![vec![Vec::<f64>::new(); SYSTEMS.len()]; TESTS.len()]; 2];
    for round in 0..rounds {
        for (t, (test, _)) in TESTS.iter().enumerate() {
            for (s, system) in SYSTEMS.iter().enumerate() {
                if !applies(system, test) {
                    continue;
                }
                let out = match (*system, &go) {
                    ("go", None) => continue,
                    ("go", Some(go)) => Command::new(go).arg(test).env("GOMAXPROCS", workers().to_string()).output(),
                    _ => Command::new(&exe).args(["child", system, test]).output(),
                }
                .expect("run child");
                let stdout = String::from_utf8_lossy(&out.stdout);
                let parsed: Option<Vec<f64>> = stdout
                    .lines()
                    .find_map(|l| l.strip_prefix("RESULT "))
                    .and_then(|r| r.split_whitespace().map(|v| v.parse().ok()).collect());
                match parsed.as_deref() {
                    Some(&[wall, cpu]) => {
                        results[0][t][s].push(wall);
                        results[1][t][s].push(cpu);
                    }
                    _ => eprintln!(
                        "round {round}: {system} {test} failed: {:?}\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ),
                }
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    if let Some(go) = go {
        let _ = std::fs::remove_file(go);
    }
    println!("workers: {}, rounds: {rounds} (medians, ns per operation)", workers());
    for (clock, title) in ["wall clock", "CPU time of the process (user + system, all threads)"].iter().enumerate() {
        println!("\n{title}:\n");
        println!("| measurement | oc | may | Go | tokio | crossbeam | std | oc / may | oc / Go | oc / std |");
        println!("|---|---|---|---|---|---|---|---|---|---|");
        for (t, (_, label)) in TESTS.iter().enumerate() {
            let m: Vec<Option<f64>> = results[clock][t].iter().map(|v| median(v)).collect();
            let cell = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1}"));
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
                _ => "n/a".to_owned(),
            };
            println!(
                "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(m[0]),
                cell(m[1]),
                cell(m[2]),
                cell(m[3]),
                cell(m[4]),
                cell(m[5]),
                ratio(m[0], m[1]),
                ratio(m[0], m[2]),
                ratio(m[0], m[5]),
            );
        }
    }
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

/// Wall-clock and process CPU time (user + system, every thread) at one instant.
#[derive(Clone, Copy)]
struct Clocks {
    wall: Instant,
    cpu_ns: f64,
}

impl Clocks {
    fn now() -> Clocks {
        Clocks { wall: Instant::now(), cpu_ns: cpu_ns() }
    }
}

fn cpu_ns() -> f64 {
    // SAFETY: `getrusage` fills the struct it is given; zeroed is a valid `rusage`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a `rusage`.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e9 + t.tv_usec as f64 * 1e3;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Nanoseconds per operation since `start`: (wall clock, CPU time of the whole process).
fn per_op(start: Clocks, ops: u64) -> (f64, f64) {
    let wall = start.wall.elapsed().as_nanos() as f64 / ops as f64;
    (wall, (cpu_ns() - start.cpu_ns) / ops as f64)
}

/// Runs one measurement in this (child) process.
fn child(system: &str, test: &str) -> Option<(f64, f64)> {
    let test = test.to_owned();
    match system {
        "oc" => {
            let rt = oc_runtime::Runtime::builder().workers(workers()).build().expect("runtime");
            rt.block_on(move || oc_measure(&test))
        }
        "may" => {
            may::config().set_workers(workers());
            // SAFETY: the measurement keeps no thread-local state across suspensions.
            let h = unsafe { may::coroutine::spawn(move || may_measure(&test)) };
            h.join().expect("may coroutine")
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers()).build().expect("tokio");
            rt.block_on(async move { rt_handle_spawn(test).await })
        }
        "crossbeam" => crossbeam_measure(&test),
        "std" => std_measure(&test),
        _ => panic!("unknown system {system}"),
    }
}

fn oc_measure(test: &str) -> Option<(f64, f64)> {
    use oc_runtime::sync::{Mutex, channel};
    match test {
        "pingpong" => {
            let (ping_tx, ping_rx) = channel::unbounded::<u64>();
            let (pong_tx, pong_rx) = channel::unbounded::<u64>();
            let echo = oc_runtime::spawn(move || {
                for v in ping_rx.iter() {
                    pong_tx.send(v + 1).unwrap();
                }
            });
            for i in 0..1000 {
                ping_tx.send(i).unwrap();
                pong_rx.recv().unwrap();
            }
            let start = Clocks::now();
            for i in 0..PING_PONG_ROUNDS {
                ping_tx.send(i).unwrap();
                black_box(pong_rx.recv().unwrap());
            }
            let v = per_op(start, PING_PONG_ROUNDS);
            drop(ping_tx);
            echo.join().unwrap();
            Some(v)
        }
        "mpmc" => {
            let (tx, rx) = channel::bounded::<u64>(1024);
            let start = Clocks::now();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let rx = rx.clone();
                    oc_runtime::spawn(move || rx.iter().sum::<u64>())
                })
                .collect();
            drop(rx);
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|_| {
                    let tx = tx.clone();
                    oc_runtime::spawn(move || (0..PER_PRODUCER).for_each(|i| tx.send(i).unwrap()))
                })
                .collect();
            drop(tx);
            producers.into_iter().for_each(|p| p.join().unwrap());
            let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
            let v = per_op(start, PRODUCERS * PER_PRODUCER);
            assert_eq!(total, PRODUCERS * PER_PRODUCER * (PER_PRODUCER - 1) / 2, "messages lost");
            Some(v)
        }
        "mutex_uncontended" => {
            let m = Mutex::new(0u64);
            let start = Clocks::now();
            for _ in 0..UNCONTENDED {
                *black_box(&m).lock() += 1;
            }
            let v = per_op(start, UNCONTENDED);
            assert_eq!(*m.lock(), UNCONTENDED);
            Some(v)
        }
        "mutex_contended" => {
            let m = Arc::new(Mutex::new(0u64));
            let start = Clocks::now();
            let hs: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let m = m.clone();
                    oc_runtime::spawn(move || (0..PER_CONTENDER).for_each(|_| *m.lock() += 1))
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            let v = per_op(start, CONTENDERS * PER_CONTENDER);
            assert_eq!(*m.lock(), CONTENDERS * PER_CONTENDER);
            Some(v)
        }
        _ => None,
    }
}

fn may_measure(test: &str) -> Option<(f64, f64)> {
    use may::sync::{Mutex, mpmc, mpsc};
    // SAFETY (for every `may::coroutine::spawn` below): the closures keep no thread-local
    // state across suspensions.
    match test {
        "pingpong" => {
            let (ping_tx, ping_rx) = mpsc::channel::<u64>();
            let (pong_tx, pong_rx) = mpsc::channel::<u64>();
            // SAFETY: see above.
            let echo = unsafe {
                may::coroutine::spawn(move || {
                    while let Ok(v) = ping_rx.recv() {
                        pong_tx.send(v + 1).unwrap();
                    }
                })
            };
            for i in 0..1000 {
                ping_tx.send(i).unwrap();
                pong_rx.recv().unwrap();
            }
            let start = Clocks::now();
            for i in 0..PING_PONG_ROUNDS {
                ping_tx.send(i).unwrap();
                black_box(pong_rx.recv().unwrap());
            }
            let v = per_op(start, PING_PONG_ROUNDS);
            drop(ping_tx);
            echo.join().unwrap();
            Some(v)
        }
        "mpmc" => {
            let (tx, rx) = mpmc::channel::<u64>();
            let start = Clocks::now();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let rx = rx.clone();
                    // SAFETY: see above.
                    unsafe {
                        may::coroutine::spawn(move || {
                            let mut sum = 0;
                            while let Ok(v) = rx.recv() {
                                sum += v;
                            }
                            sum
                        })
                    }
                })
                .collect();
            drop(rx);
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|_| {
                    let tx = tx.clone();
                    // SAFETY: see above.
                    unsafe { may::coroutine::spawn(move || (0..PER_PRODUCER).for_each(|i| tx.send(i).unwrap())) }
                })
                .collect();
            drop(tx);
            producers.into_iter().for_each(|p| p.join().unwrap());
            let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
            let v = per_op(start, PRODUCERS * PER_PRODUCER);
            assert_eq!(total, PRODUCERS * PER_PRODUCER * (PER_PRODUCER - 1) / 2, "messages lost");
            Some(v)
        }
        "mutex_uncontended" => {
            let m = Mutex::new(0u64);
            let start = Clocks::now();
            for _ in 0..UNCONTENDED {
                *black_box(&m).lock().unwrap() += 1;
            }
            let v = per_op(start, UNCONTENDED);
            assert_eq!(*m.lock().unwrap(), UNCONTENDED);
            Some(v)
        }
        "mutex_contended" => {
            let m = Arc::new(Mutex::new(0u64));
            let start = Clocks::now();
            let hs: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let m = m.clone();
                    // SAFETY: see above.
                    unsafe { may::coroutine::spawn(move || (0..PER_CONTENDER).for_each(|_| *m.lock().unwrap() += 1)) }
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            let v = per_op(start, CONTENDERS * PER_CONTENDER);
            assert_eq!(*m.lock().unwrap(), CONTENDERS * PER_CONTENDER);
            Some(v)
        }
        _ => None,
    }
}

/// Runs the tokio measurement in a task on the worker pool (not on the `block_on` thread).
async fn rt_handle_spawn(test: String) -> Option<(f64, f64)> {
    tokio::spawn(async move { tokio_measure(&test).await }).await.expect("tokio task")
}

async fn tokio_measure(test: &str) -> Option<(f64, f64)> {
    use tokio::sync::mpsc;
    match test {
        "pingpong" => {
            let (ping_tx, mut ping_rx) = mpsc::unbounded_channel::<u64>();
            let (pong_tx, mut pong_rx) = mpsc::unbounded_channel::<u64>();
            let echo = tokio::spawn(async move {
                while let Some(v) = ping_rx.recv().await {
                    pong_tx.send(v + 1).unwrap();
                }
            });
            for i in 0..1000 {
                ping_tx.send(i).unwrap();
                pong_rx.recv().await.unwrap();
            }
            let start = Clocks::now();
            for i in 0..PING_PONG_ROUNDS {
                ping_tx.send(i).unwrap();
                black_box(pong_rx.recv().await.unwrap());
            }
            let v = per_op(start, PING_PONG_ROUNDS);
            drop(ping_tx);
            echo.await.unwrap();
            Some(v)
        }
        "mpmc" => {
            let (tx, rx) = mpsc::channel::<u64>(1024);
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            let start = Clocks::now();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let rx = rx.clone();
                    tokio::spawn(async move {
                        let mut sum = 0;
                        loop {
                            let next = rx.lock().await.recv().await;
                            match next {
                                Some(v) => sum += v,
                                None => return sum,
                            }
                        }
                    })
                })
                .collect();
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|_| {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        for i in 0..PER_PRODUCER {
                            tx.send(i).await.unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            for p in producers {
                p.await.unwrap();
            }
            let mut total = 0;
            for c in consumers {
                total += c.await.unwrap();
            }
            let v = per_op(start, PRODUCERS * PER_PRODUCER);
            assert_eq!(total, PRODUCERS * PER_PRODUCER * (PER_PRODUCER - 1) / 2, "messages lost");
            Some(v)
        }
        _ => None,
    }
}

fn crossbeam_measure(test: &str) -> Option<(f64, f64)> {
    use crossbeam_channel::{bounded, unbounded};
    match test {
        "pingpong" => {
            let (ping_tx, ping_rx) = unbounded::<u64>();
            let (pong_tx, pong_rx) = unbounded::<u64>();
            let echo = std::thread::spawn(move || {
                for v in ping_rx.iter() {
                    pong_tx.send(v + 1).unwrap();
                }
            });
            for i in 0..1000 {
                ping_tx.send(i).unwrap();
                pong_rx.recv().unwrap();
            }
            let start = Clocks::now();
            for i in 0..PING_PONG_ROUNDS {
                ping_tx.send(i).unwrap();
                black_box(pong_rx.recv().unwrap());
            }
            let v = per_op(start, PING_PONG_ROUNDS);
            drop(ping_tx);
            echo.join().unwrap();
            Some(v)
        }
        "mpmc" => {
            let (tx, rx) = bounded::<u64>(1024);
            let start = Clocks::now();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|_| {
                    let rx = rx.clone();
                    std::thread::spawn(move || rx.iter().sum::<u64>())
                })
                .collect();
            drop(rx);
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|_| {
                    let tx = tx.clone();
                    std::thread::spawn(move || (0..PER_PRODUCER).for_each(|i| tx.send(i).unwrap()))
                })
                .collect();
            drop(tx);
            producers.into_iter().for_each(|p| p.join().unwrap());
            let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
            let v = per_op(start, PRODUCERS * PER_PRODUCER);
            assert_eq!(total, PRODUCERS * PER_PRODUCER * (PER_PRODUCER - 1) / 2, "messages lost");
            Some(v)
        }
        _ => None,
    }
}

fn std_measure(test: &str) -> Option<(f64, f64)> {
    use std::sync::Mutex;
    match test {
        "mutex_uncontended" => {
            let m = Mutex::new(0u64);
            let start = Clocks::now();
            for _ in 0..UNCONTENDED {
                *black_box(&m).lock().unwrap() += 1;
            }
            let v = per_op(start, UNCONTENDED);
            assert_eq!(*m.lock().unwrap(), UNCONTENDED);
            Some(v)
        }
        "mutex_contended" => {
            let m = Arc::new(Mutex::new(0u64));
            let start = Clocks::now();
            let hs: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let m = m.clone();
                    std::thread::spawn(move || (0..PER_CONTENDER).for_each(|_| *m.lock().unwrap() += 1))
                })
                .collect();
            hs.into_iter().for_each(|h| h.join().unwrap());
            let v = per_op(start, CONTENDERS * PER_CONTENDER);
            assert_eq!(*m.lock().unwrap(), CONTENDERS * PER_CONTENDER);
            Some(v)
        }
        _ => None,
    }
}
