//! Making the kernel keep a thread off the CPU: pinning to one CPU, and threads that never
//! sleep there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Pins the calling thread (and the threads it starts from now on) to CPU `cpu`.
pub(crate) fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0, "sched_setaffinity");
    }
}

/// `count` threads that spin until dropped (they inherit the caller's CPU affinity).
pub(crate) struct Hogs {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Hogs {
    pub(crate) fn start(count: usize) -> Hogs {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Hogs { stop, threads }
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// In a coroutine: short runs (five microseconds of work between two yields) for `total`.
pub(crate) struct ShortRuns {
    /// How many.
    pub(crate) runs: u64,
    /// The longest a run took from its start to its resumption after the yield (how long
    /// the kernel kept the worker's thread waiting, at most).
    pub(crate) longest: std::time::Duration,
    /// How many took longer than the `beyond` given.
    pub(crate) beyond: u64,
}

pub(crate) fn short_runs(total: std::time::Duration, beyond: std::time::Duration) -> ShortRuns {
    use std::time::{Duration, Instant};
    let start = Instant::now();
    let mut out = ShortRuns { runs: 0, longest: Duration::ZERO, beyond: 0 };
    while start.elapsed() < total {
        let before = Instant::now();
        while before.elapsed() < Duration::from_micros(5) {
            std::hint::spin_loop();
        }
        oc_runtime::yield_now();
        let took = before.elapsed();
        out.longest = out.longest.max(took);
        out.beyond += u64::from(took > beyond);
        out.runs += 1;
    }
    out
}
