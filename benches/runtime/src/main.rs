//! Runtime micro-benchmarks, side by side with `std::thread` and the `may` crate.
//!
//! `cargo run --release -p oc-runtime-bench [-- ROUNDS]` runs every measurement in a fresh
//! child process per system, `ROUNDS` times (default 5), interleaving the systems so that
//! drift of this shared machine hits all of them alike, and prints a table of medians with
//! each system's ratio to may.
//!
//! Measurements (per operation):
//! - `spawn+join, batches of 1000`: a coroutine spawns 1,000 trivial coroutines, joins them,
//!   and repeats.
//! - `spawn+join, 1,000,000 at once`: a coroutine spawns a million, then joins them all.
//! - `yield`: one coroutine calls `yield_now` in a loop.
//! - `wake a parked coroutine`: two coroutines take turns to park and unpark each other, no
//!   channel involved; one wake-up each.
//! - `idle memory`: resident memory per coroutine parked forever (10,000 of them), with the
//!   same usable stack size for both runtimes (`STACK_KIB`, default 32 = may's default).
//!
//! Workers: `WORKERS` for both runtimes (default 2).
//!
//! `src/bin/wake-latency.rs` measures the latency cost of `Builder::wake_threshold`.
//!
//! `cargo run --release -p oc-runtime-bench -- stack-high-water [ROUNDS]` compares the
//! spawn+join figure with stack high-water marks off and on (wall and CPU time per coroutine).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SYSTEMS: [&str; 3] = ["oc", "may", "thread"];
const TESTS: [(&str, &str, &str); 5] = [
    ("spawn_batch", "spawn+join, batches of 1000", "ns"),
    ("spawn_million", "spawn+join, 1,000,000 at once", "ns"),
    ("yield", "yield", "ns"),
    ("wake", "wake a parked coroutine", "ns"),
    ("idle_memory", "idle memory per coroutine", "bytes"),
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("hooks") {
        hook_overhead();
        return;
    }
    if args.get(1).map(String::as_str) == Some("stack-high-water") {
        stack_high_water(args.get(2).and_then(|r| r.parse().ok()).unwrap_or(10));
        return;
    }
    if args.get(1).map(String::as_str) == Some("preempt") {
        if args.len() == 3 {
            preempt_child(&args[2]);
        } else {
            preempt_parent();
        }
        return;
    }
    if args.len() == 4 && args[1] == "child" {
        let value = child(&args[2], &args[3]);
        match value {
            Some(v) => println!("RESULT {v}"),
            None => println!("RESULT n/a"),
        }
        // Idle coroutines are left parked on purpose: the process ends here.
        std::process::exit(0);
    }
    let rounds: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    parent(rounds);
}

/// may maps every coroutine's stack when it is spawned (two memory mappings each), so a
/// million at once needs `vm.max_map_count` above two million. Raised for the run when we
/// may (root), and restored afterwards.
const MAPS_FOR_MAY: usize = 2_200_000;
const MAX_MAP_COUNT: &str = "/proc/sys/vm/max_map_count";

fn parent(rounds: usize) {
    let previous: Option<usize> = std::fs::read_to_string(MAX_MAP_COUNT).ok().and_then(|v| v.trim().parse().ok());
    let raised = match previous {
        Some(p) if p < MAPS_FOR_MAY => std::fs::write(MAX_MAP_COUNT, MAPS_FOR_MAY.to_string()).is_ok(),
        _ => false,
    };
    if raised {
        eprintln!("raised vm.max_map_count to {MAPS_FOR_MAY} for may's million stacks (restored at the end)");
    }
    run_rounds(rounds);
    if let (true, Some(p)) = (raised, previous) {
        let _ = std::fs::write(MAX_MAP_COUNT, p.to_string());
    }
}

fn run_rounds(rounds: usize) {
    let exe = std::env::current_exe().expect("own path");
    let mut results: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); SYSTEMS.len()]; TESTS.len()];
    for round in 0..rounds {
        for (t, (test, _, _)) in TESTS.iter().enumerate() {
            for (s, system) in SYSTEMS.iter().enumerate() {
                let out = Command::new(&exe).args(["child", system, test]).output().expect("run child");
                let stdout = String::from_utf8_lossy(&out.stdout);
                let value = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).map(str::to_owned);
                match value.as_deref().map(str::parse::<f64>) {
                    Some(Ok(v)) => results[t][s].push(v),
                    Some(Err(_)) => {}
                    None => eprintln!(
                        "round {round}: {system} {test} failed: {:?}\n{}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                    ),
                }
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    println!(
        "workers: {}, stack: {} KiB, rounds: {rounds} (medians)\n",
        env_usize("WORKERS", 2),
        env_usize("STACK_KIB", 32)
    );
    println!("| measurement | oc | may | std::thread | oc / may |");
    println!("|---|---|---|---|---|");
    for (t, (_, label, unit)) in TESTS.iter().enumerate() {
        let medians: Vec<Option<f64>> = results[t].iter().map(|v| median(v)).collect();
        let cell = |m: Option<f64>| m.map_or("n/a".to_owned(), |v| format!("{v:.0} {unit}"));
        let ratio = match (medians[0], medians[1]) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
            _ => "n/a".to_owned(),
        };
        println!("| {label} | {} | {} | {} | {ratio} |", cell(medians[0]), cell(medians[1]), cell(medians[2]));
    }
}

/// `stack-high-water [ROUNDS]`: the spawn+join figure with stack high-water marks off and on
/// (`OC_STACK_HIGH_WATER`), in alternating child processes: wall time and CPU time (user +
/// system, from `wait4`) per spawned coroutine, medians.
fn stack_high_water(rounds: usize) {
    let exe = std::env::current_exe().expect("own path");
    let mut wall = [Vec::new(), Vec::new()];
    let mut cpu = [Vec::new(), Vec::new()];
    let ops = (BATCH * BATCHES) as f64;
    for round in 0..rounds {
        for on in [false, true] {
            // Waited for with `wait4` below, which also gives its CPU time.
            #[allow(clippy::zombie_processes)]
            let child = Command::new(&exe)
                .args(["child", "oc", "spawn_batch"])
                .env("OC_STACK_HIGH_WATER", if on { "1" } else { "0" })
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("run child");
            let pid = child.id() as libc::pid_t;
            let mut stdout = String::new();
            std::io::Read::read_to_string(&mut child.stdout.expect("piped"), &mut stdout).expect("child output");
            let mut status = 0;
            // SAFETY: plain data for the kernel to fill in.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: `pid` is our child, not yet waited for; valid out-pointers.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            let cpu_ns = (secs(usage.ru_utime) + secs(usage.ru_stime)) * 1e9 / ops;
            if let Some(v) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")).and_then(|v| v.parse().ok()) {
                wall[on as usize].push(v);
                cpu[on as usize].push(cpu_ns);
            }
            if round == 0
                && let Some(marks) = stdout.lines().find(|l| l.starts_with("MARKS "))
            {
                println!("{marks}");
            }
        }
    }
    println!(
        "workers: {}, stack: {} KiB, rounds: {rounds} (medians)\n",
        env_usize("WORKERS", 2),
        env_usize("STACK_KIB", 32)
    );
    println!("| spawn+join, batches of 1000 | high-water off | high-water on | on / off |");
    println!("|---|---|---|---|");
    for (label, values) in [("wall ns per coroutine", &wall), ("CPU ns per coroutine", &cpu)] {
        let (off, on) = (median(&values[0]), median(&values[1]));
        let ratio = match (off, on) {
            (Some(a), Some(b)) if a > 0.0 => format!("{:.2}x", b / a),
            _ => "n/a".to_owned(),
        };
        let cell = |m: Option<f64>| m.map_or("n/a".to_owned(), |v| format!("{v:.0}"));
        println!("| {label} | {} | {} | {ratio} |", cell(off), cell(on));
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

/// Runs one measurement in this (child) process.
fn child(system: &str, test: &str) -> Option<f64> {
    let workers = env_usize("WORKERS", 2);
    let stack = env_usize("STACK_KIB", 32) * 1024;
    match system {
        "oc" => {
            let rt = oc_runtime::Runtime::builder().workers(workers).stack_size(stack).build().expect("runtime");
            if test == "idle_memory" {
                return Some(idle_memory(|started| {
                    std::mem::forget(rt.spawn(move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        loop {
                            oc_runtime::task::park();
                        }
                    }));
                }));
            }
            let test = test.to_owned();
            let result = rt.block_on(move || oc_measure(&test));
            let marks = rt.metrics().stack_high_water;
            if marks.count() > 0 {
                println!(
                    "MARKS {} coroutines, largest {} bytes, half below {:?}, 99.9% below {:?} bytes",
                    marks.count(),
                    marks.max,
                    marks.quantile_bound(0.5),
                    marks.quantile_bound(0.999)
                );
            }
            result
        }
        "may" => {
            may::config().set_workers(workers).set_stack_size(stack / std::mem::size_of::<usize>());
            if test == "idle_memory" {
                return Some(idle_memory(|started| {
                    // SAFETY: the closure uses no thread-local state.
                    std::mem::forget(unsafe {
                        may::coroutine::spawn(move || {
                            started.fetch_add(1, Ordering::SeqCst);
                            loop {
                                may::coroutine::park();
                            }
                        })
                    });
                }));
            }
            let test = test.to_owned();
            // SAFETY: the benchmark closures keep no thread-local state across suspensions.
            let h = unsafe { may::coroutine::spawn(move || may_measure(&test)) };
            h.join().expect("may coroutine")
        }
        "thread" => thread_measure(test, stack),
        _ => panic!("unknown system {system}"),
    }
}

fn per_op(start: Instant, ops: usize) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: usize = statm.split_whitespace().nth(1).expect("rss field").parse().expect("number");
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

fn wait_until(counter: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter.load(Ordering::SeqCst) < n {
        assert!(Instant::now() < deadline, "coroutines did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Let the last ones reach their park.
    std::thread::sleep(Duration::from_millis(100));
}

/// Resident memory per coroutine: spawns `IDLE` coroutines from this plain thread with
/// `spawn_one`, each of which bumps the counter and parks forever, and measures once all did.
fn idle_memory(spawn_one: impl Fn(Arc<AtomicUsize>)) -> f64 {
    let started = Arc::new(AtomicUsize::new(0));
    // Warm up: one coroutine first, so that worker start-up costs are not counted.
    spawn_one(started.clone());
    wait_until(&started, 1);
    let before = resident_bytes();
    for _ in 0..IDLE {
        spawn_one(started.clone());
    }
    wait_until(&started, IDLE + 1);
    (resident_bytes() - before) as f64 / IDLE as f64
}

const BATCH: usize = 1000;
const BATCHES: usize = 300;
const MILLION: usize = 1_000_000;
const YIELDS: usize = 2_000_000;
const WAKES: usize = 500_000;
const IDLE: usize = 10_000;

fn oc_measure(test: &str) -> Option<f64> {
    match test {
        "spawn_batch" => {
            let start = Instant::now();
            for _ in 0..BATCHES {
                let hs: Vec<_> = (0..BATCH).map(|i| oc_runtime::spawn(move || i)).collect();
                for h in hs {
                    std::hint::black_box(h.join().expect("join"));
                }
            }
            Some(per_op(start, BATCH * BATCHES))
        }
        "spawn_million" => {
            let start = Instant::now();
            let hs: Vec<_> = (0..MILLION).map(|i| oc_runtime::spawn(move || i)).collect();
            for h in hs {
                std::hint::black_box(h.join().expect("join"));
            }
            Some(per_op(start, MILLION))
        }
        "yield" => {
            let start = Instant::now();
            for _ in 0..YIELDS {
                oc_runtime::yield_now();
            }
            Some(per_op(start, YIELDS))
        }
        "wake" => {
            let turn = Arc::new(AtomicUsize::new(0));
            let main = oc_runtime::task::current().expect("in a coroutine");
            let t = turn.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            let other = oc_runtime::spawn(move || {
                tx.send(oc_runtime::task::current().expect("in a coroutine")).expect("send handle");
                for i in 0..WAKES {
                    while t.load(Ordering::Acquire) != 2 * i + 1 {
                        oc_runtime::task::park();
                    }
                    t.store(2 * i + 2, Ordering::Release);
                    main.unpark();
                }
            });
            let peer = loop {
                match rx.try_recv() {
                    Ok(peer) => break peer,
                    Err(_) => oc_runtime::yield_now(),
                }
            };
            let start = Instant::now();
            for i in 0..WAKES {
                turn.store(2 * i + 1, Ordering::Release);
                peer.unpark();
                while turn.load(Ordering::Acquire) != 2 * i + 2 {
                    oc_runtime::task::park();
                }
            }
            other.join().expect("join");
            Some(per_op(start, 2 * WAKES))
        }
        _ => None,
    }
}

fn may_measure(test: &str) -> Option<f64> {
    use may::coroutine;
    match test {
        "spawn_batch" => {
            let start = Instant::now();
            for _ in 0..BATCHES {
                // SAFETY: the closures use no thread-local state.
                let hs: Vec<_> = (0..BATCH).map(|i| unsafe { coroutine::spawn(move || i) }).collect();
                for h in hs {
                    std::hint::black_box(h.join().expect("join"));
                }
            }
            Some(per_op(start, BATCH * BATCHES))
        }
        "spawn_million" => {
            let start = Instant::now();
            // SAFETY: the closures use no thread-local state.
            let hs: Vec<_> = (0..MILLION).map(|i| unsafe { coroutine::spawn(move || i) }).collect();
            for h in hs {
                std::hint::black_box(h.join().expect("join"));
            }
            Some(per_op(start, MILLION))
        }
        "yield" => {
            let start = Instant::now();
            for _ in 0..YIELDS {
                coroutine::yield_now();
            }
            Some(per_op(start, YIELDS))
        }
        "wake" => {
            let turn = Arc::new(AtomicUsize::new(0));
            let me = coroutine::current();
            let t = turn.clone();
            let (tx, rx) = std::sync::mpsc::channel();
            // SAFETY: the closure uses no thread-local state.
            let other = unsafe {
                coroutine::spawn(move || {
                    tx.send(coroutine::current()).expect("send handle");
                    for i in 0..WAKES {
                        while t.load(Ordering::Acquire) != 2 * i + 1 {
                            coroutine::park();
                        }
                        t.store(2 * i + 2, Ordering::Release);
                        me.unpark();
                    }
                })
            };
            let peer = loop {
                match rx.try_recv() {
                    Ok(peer) => break peer,
                    Err(_) => coroutine::yield_now(),
                }
            };
            let start = Instant::now();
            for i in 0..WAKES {
                turn.store(2 * i + 1, Ordering::Release);
                peer.unpark();
                while turn.load(Ordering::Acquire) != 2 * i + 2 {
                    coroutine::park();
                }
            }
            other.join().expect("join");
            Some(per_op(start, 2 * WAKES))
        }
        _ => None,
    }
}

fn thread_measure(test: &str, stack: usize) -> Option<f64> {
    let spawn = |f: Box<dyn FnOnce() -> usize + Send>| {
        std::thread::Builder::new().stack_size(stack.max(64 * 1024)).spawn(f).expect("thread")
    };
    match test {
        "spawn_batch" => {
            let batches = 20;
            let start = Instant::now();
            for _ in 0..batches {
                let hs: Vec<_> = (0..BATCH).map(|i| spawn(Box::new(move || i))).collect();
                for h in hs {
                    std::hint::black_box(h.join().expect("join"));
                }
            }
            Some(per_op(start, BATCH * batches))
        }
        // A million live threads do not fit in this machine's limits.
        "spawn_million" => None,
        "yield" => {
            let start = Instant::now();
            for _ in 0..YIELDS / 10 {
                std::thread::yield_now();
            }
            Some(per_op(start, YIELDS / 10))
        }
        "wake" => {
            let wakes = WAKES / 10;
            let turn = Arc::new(AtomicUsize::new(0));
            let me = std::thread::current();
            let t = turn.clone();
            let other = std::thread::spawn(move || {
                for i in 0..wakes {
                    while t.load(Ordering::Acquire) != 2 * i + 1 {
                        std::thread::park();
                    }
                    t.store(2 * i + 2, Ordering::Release);
                    me.unpark();
                }
            });
            let peer = other.thread().clone();
            let start = Instant::now();
            for i in 0..wakes {
                turn.store(2 * i + 1, Ordering::Release);
                peer.unpark();
                while turn.load(Ordering::Acquire) != 2 * i + 2 {
                    std::thread::park();
                }
            }
            other.join().expect("join");
            Some(per_op(start, 2 * wakes))
        }
        "idle_memory" => {
            let n = 2000;
            let started = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let before = resident_bytes();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let (s, stop) = (started.clone(), stop.clone());
                    spawn(Box::new(move || {
                        s.fetch_add(1, Ordering::SeqCst);
                        while !stop.load(Ordering::SeqCst) {
                            std::thread::park();
                        }
                        0
                    }))
                })
                .collect();
            wait_until(&started, n);
            let rss = resident_bytes();
            std::mem::forget(hs);
            Some((rss - before) as f64 / n as f64)
        }
        _ => None,
    }
}

/// The syscall hooks' cost on their fast path: a `read` of one byte from a blocking socket
/// that has data ready, through the hooked libc symbol and as a raw system call, in one run.
///
/// `cargo run --release -p oc-runtime-bench -- hooks`
fn hook_overhead() {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    const ROUNDS: usize = 7;
    // Fewer calls under valgrind: `HOOK_CALLS=40960`.
    fn calls() -> usize {
        env_usize("HOOK_CALLS", 2_000_000)
    }

    fn measure(fd: i32, refill: &mut std::os::unix::net::UnixStream, hooked: bool) -> f64 {
        let chunk = [7u8; 4096];
        let mut spent = Duration::ZERO;
        let mut done = 0;
        while done < calls() {
            refill.write_all(&chunk).expect("refill");
            let start = Instant::now();
            if hooked {
                reads_hooked(fd, chunk.len());
            } else {
                reads_raw(fd, chunk.len());
            }
            spent += start.elapsed();
            done += chunk.len();
        }
        spent.as_nanos() as f64 / done as f64
    }

    fn run(label: &str) -> (f64, f64) {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let fd = a.as_raw_fd();
        let mut raw = Vec::new();
        let mut hooked = Vec::new();
        for _ in 0..ROUNDS {
            raw.push(measure(fd, &mut b, false));
            hooked.push(measure(fd, &mut b, true));
        }
        let (r, h) = (median(&raw).expect("rounds"), median(&hooked).expect("rounds"));
        println!("| {label} | {r:.1} ns | {h:.1} ns | {:+.1} ns |", h - r);
        (r, h)
    }

    println!("read(2) of one ready byte from a blocking socket, medians of {ROUNDS} x {} calls\n", calls());
    println!("| where | raw system call | hooked `read` | extra |");
    println!("|---|---|---|---|");
    // `HOOK_CONTEXT=thread|coroutine` runs one context only (for instruction counts under
    // valgrind --tool=callgrind).
    let only = std::env::var("HOOK_CONTEXT").ok();
    if only.as_deref() != Some("coroutine") {
        run("plain thread");
    }
    if only.as_deref() != Some("thread") {
        let rt = oc_runtime::Runtime::builder().workers(1).build().expect("runtime");
        rt.block_on(|| {
            run("coroutine (hook active)");
        });
    }
}

/// `n` one-byte reads through the raw system call.
#[inline(never)]
fn reads_raw(fd: i32, n: usize) {
    let mut byte = [0u8; 1];
    for _ in 0..n {
        // SAFETY: a valid descriptor and a one-byte buffer.
        let got = unsafe { libc::syscall(libc::SYS_read, fd, byte.as_mut_ptr(), 1) };
        assert_eq!(got, 1);
    }
}

/// `n` one-byte reads through the (hooked) libc symbol.
#[inline(never)]
fn reads_hooked(fd: i32, n: usize) {
    let mut byte = [0u8; 1];
    for _ in 0..n {
        // SAFETY: a valid descriptor and a one-byte buffer.
        let got = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
        assert_eq!(got, 1);
    }
}

/// The preemption mechanisms on a CPU-bound load: 2 workers, 8 coroutines that each compute
/// for about 100 ms without suspending, and a probe coroutine that sleeps 1 ms in a loop and
/// records how late it wakes. Each mechanism runs in a fresh process.
///
/// `cargo run --release -p oc-runtime-bench -- preempt`
fn preempt_parent() {
    let exe = std::env::current_exe().expect("own path");
    println!("8 CPU-bound coroutines of ~100 ms each + a 1 ms sleeper, 2 workers, 10 ms slice\n");
    println!(
        "| mechanism | wall time | CPU time | sleeper lateness p50 | p99 | max | hand-offs | signal preemptions |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for mode in ["off", "hand-off", "signal"] {
        let out = Command::new(&exe).args(["preempt", mode]).output().expect("child");
        print!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            eprintln!("{mode}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

fn preempt_child(mode: &str) {
    const HOGS: usize = 8;
    const WORK: u64 = 60_000_000;
    let mut builder = oc_runtime::Runtime::builder().workers(2);
    builder = match mode {
        "off" => builder.preempt_interval(None),
        "hand-off" => builder,
        "signal" => builder.signal_preemption(true),
        other => panic!("unknown mechanism {other}"),
    };
    let rt = builder.build().expect("runtime");
    // SAFETY: getrusage with a valid out-pointer.
    let cpu = || unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        Duration::new(ru.ru_utime.tv_sec as u64, ru.ru_utime.tv_usec as u32 * 1000)
            + Duration::new(ru.ru_stime.tv_sec as u64, ru.ru_stime.tv_usec as u32 * 1000)
    };
    let cpu_before = cpu();
    let start = Instant::now();
    let mut late = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let probe = oc_runtime::spawn(move || {
            let mut late = Vec::new();
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                oc_runtime::sleep(Duration::from_millis(1));
                late.push(t.elapsed().saturating_sub(Duration::from_millis(1)));
            }
            late
        });
        let hogs: Vec<_> = (0..HOGS)
            .map(|i| {
                oc_runtime::spawn(move || {
                    let mut x = i as u64;
                    for _ in 0..WORK {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407));
                    }
                    x
                })
            })
            .collect();
        for h in hogs {
            std::hint::black_box(h.join().expect("hog"));
        }
        stop.store(true, Ordering::Relaxed);
        probe.join().expect("probe")
    });
    let wall = start.elapsed();
    let used = cpu() - cpu_before;
    late.sort();
    let pct = |p: f64| {
        late.get(((late.len() as f64 * p) as usize).min(late.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    let m = rt.metrics();
    println!(
        "| {mode} | {:.0} ms | {:.0} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} |",
        wall.as_secs_f64() * 1e3,
        used.as_secs_f64() * 1e3,
        pct(0.5).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        late.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        m.handoffs,
        m.signal_preemptions
    );
}
