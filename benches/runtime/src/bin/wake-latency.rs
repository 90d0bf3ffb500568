//! The latency cost of `Builder::wake_threshold`: trivial requests beside 2 ms ones.
//!
//! `cargo run --release -p oc-runtime-bench --bin wake-latency -- [ROUNDS] [HEAVY_EVERY] [THINK_US]`
//!
//! A two-worker server runtime answers 64 socket pairs, one coroutine each: a request is one
//! byte, and every `HEAVY_EVERY`th (default 50) asks for 2 ms of computation before the answer.
//! A one-worker client runtime drives the other ends in a closed loop with `THINK_US`
//! (default 2000) µs between requests, and times the trivial requests. Each round runs the
//! server with threshold 1 (every wake-up may wake a sleeping worker) and then 16 (the
//! default), 8 s each, in a fresh child process; the output gives each run's percentiles and
//! the server's wake-ups of sleeping workers.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CONNECTIONS: u64 = 64;
const SECONDS: u64 = 8;
const HEAVY: Duration = Duration::from_millis(2);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let num = |i: usize| args[i].parse::<u64>().expect("a number");
        child(num(2) as usize, num(3), num(4));
        return;
    }
    let num = |i: usize, default: u64| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    let (rounds, heavy_every, think_us) = (num(1, 3), num(2, 50), num(3, 2000));
    if heavy_every < 2 {
        eprintln!("HEAVY_EVERY must be 2 or more: with {heavy_every} no trivial request would be timed");
        std::process::exit(2);
    }
    println!(
        "64 connections, every {heavy_every}th request computes 2 ms, {think_us} µs between requests, {SECONDS} s per run"
    );
    for _ in 0..rounds {
        for threshold in [1, 16] {
            let out = Command::new(std::env::current_exe().unwrap())
                .args(["child", &threshold.to_string(), &heavy_every.to_string(), &think_us.to_string()])
                .output()
                .expect("child runs");
            assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
    }
}

fn child(threshold: usize, heavy_every: u64, think_us: u64) {
    let server = oc_runtime::Runtime::builder().workers(2).name("server").wake_threshold(threshold).build().unwrap();
    let clients = oc_runtime::Runtime::builder().workers(1).name("client").build().unwrap();
    let latencies = Arc::new(Mutex::new(Vec::<u32>::new()));
    let deadline = Instant::now() + Duration::from_secs(SECONDS);
    let mut handles = Vec::new();
    for i in 0..CONNECTIONS {
        let (mut ours, mut theirs) = UnixStream::pair().unwrap();
        server.spawn(move || {
            let mut byte = [0u8; 1];
            while ours.read_exact(&mut byte).is_ok() {
                if byte[0] == 1 {
                    let start = Instant::now();
                    while start.elapsed() < HEAVY {
                        std::hint::spin_loop();
                    }
                }
                if ours.write_all(&byte).is_err() {
                    break;
                }
            }
        });
        let latencies = latencies.clone();
        handles.push(clients.spawn(move || {
            let mut byte = [0u8; 1];
            let mut mine = Vec::new();
            let mut n = i;
            while Instant::now() < deadline {
                n += 1;
                let heavy = n % heavy_every == 0;
                let start = Instant::now();
                theirs.write_all(&[u8::from(heavy)]).unwrap();
                theirs.read_exact(&mut byte).unwrap();
                if !heavy {
                    mine.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                oc_runtime::sleep(Duration::from_micros(think_us));
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    let mut all = std::mem::take(&mut *latencies.lock().unwrap());
    all.sort_unstable();
    let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    let m = server.metrics();
    println!(
        "threshold {threshold:>2}: {} trivial requests; p50 {} µs, p90 {}, p99 {}, p99.9 {}, max {}; server wake-ups of sleeping workers {}",
        all.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        all[all.len() - 1],
        m.wakeups
    );
    // The coroutines still waiting on their sockets are left to the exit.
    std::process::exit(0);
}
