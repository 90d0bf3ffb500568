//! The measurements behind CI's performance gate, each small and repeatable.
//!
//! `benches/gate/run.sh` runs them (and `benches/http/callgrind.sh` and
//! `benches/http/idle_memory.py` on the HTTP example) and compares each figure with the value
//! recorded in `benches/gate/figures.txt`.
//!
//! ```text
//! oc-perf-gate hooks thread|coroutine CALLS   # under valgrind --tool=callgrind
//! oc-perf-gate idle-coroutines COUNT          # prints "RESULT <bytes per coroutine>"
//! ```
//!
//! `hooks`: `CALLS` one-byte `read`s of a blocking Unix socket with data ready, once through
//! the raw system call (`reads_raw`) and once through the hooked libc symbol (`reads_hooked`),
//! on a plain thread or in a coroutine. Callgrind's inclusive instruction counts of the two
//! functions differ by exactly the hook's own work, whatever the kernel does.
//!
//! `idle-coroutines`: the resident memory that `COUNT` coroutines parked forever add to the
//! process, per coroutine, with the default stack size (what a user gets).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize| -> usize {
        args.get(i).and_then(|n| n.parse().ok()).unwrap_or_else(|| usage(&format!("argument {i} must be a number")))
    };
    match args.get(1).map(String::as_str) {
        Some("hooks") => {
            let calls = number(3);
            match args.get(2).map(String::as_str) {
                Some("thread") => reads(calls),
                Some("coroutine") => {
                    let rt = oc_runtime::Runtime::builder().workers(1).build().unwrap_or_else(|e| fail(&e.to_string()));
                    rt.block_on(move || reads(calls));
                }
                _ => usage("hooks takes `thread` or `coroutine`"),
            }
        }
        Some("idle-coroutines") => println!("RESULT {:.0}", idle_coroutines(number(2))),
        _ => usage("unknown command"),
    }
}

fn usage(why: &str) -> ! {
    eprintln!("oc-perf-gate: {why}\nusage: oc-perf-gate hooks thread|coroutine CALLS | idle-coroutines COUNT");
    std::process::exit(2)
}

fn fail(why: &str) -> ! {
    eprintln!("oc-perf-gate: {why}");
    std::process::exit(1)
}

/// `calls` reads each way, in chunks of what one refill of the socket holds.
fn reads(calls: usize) {
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap_or_else(|e| fail(&format!("socketpair: {e}")));
    let chunk = [7u8; 1024];
    for hooked in [false, true] {
        let mut done = 0;
        while done < calls {
            let n = chunk.len().min(calls - done);
            b.write_all(&chunk[..n]).unwrap_or_else(|e| fail(&format!("refill: {e}")));
            if hooked {
                reads_hooked(a.as_raw_fd(), n);
            } else {
                reads_raw(a.as_raw_fd(), n);
            }
            done += n;
        }
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

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_else(|e| fail(&format!("statm: {e}")));
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or_else(|| fail("statm"));
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// Waits until `counter` reaches `n`, then a little more for the last ones to park.
fn wait_until(counter: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter.load(Ordering::SeqCst) < n {
        if Instant::now() > deadline {
            fail("coroutines did not start within 60 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
}

/// Resident memory per coroutine parked forever, after one warm-up coroutine (so that the
/// workers' own start-up is not counted).
fn idle_coroutines(count: usize) -> f64 {
    let rt = oc_runtime::Runtime::builder().workers(2).build().unwrap_or_else(|e| fail(&e.to_string()));
    let started = Arc::new(AtomicUsize::new(0));
    let spawn_one = |started: Arc<AtomicUsize>| {
        std::mem::forget(rt.spawn(move || {
            started.fetch_add(1, Ordering::SeqCst);
            loop {
                oc_runtime::task::park();
            }
        }))
    };
    spawn_one(started.clone());
    wait_until(&started, 1);
    let before = resident_bytes();
    for _ in 0..count {
        spawn_one(started.clone());
    }
    wait_until(&started, count + 1);
    let per = (resident_bytes() - before) as f64 / count as f64;
    // The coroutines park forever: the process ends without shutting the runtime down.
    std::mem::forget(rt);
    per
}
