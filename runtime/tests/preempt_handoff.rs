//! Hand-off: a coroutine that never suspends does not starve the others, on one worker.
//!
//! The hog keeps its OS thread; its worker's queue moves to a spare carrier after one time
//! slice (10 ms by default).

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long each hog runs.
const HOG_FOR: Duration = Duration::from_secs(2);

/// Runs `hog` (which must return when `stop` is set) on a one-worker runtime, and checks
/// that a second coroutine spawned after it finishes within 50 ms and that a ticker keeps
/// ticking while the hog runs. Returns the hog's result.
fn starves_nobody<T: Send + 'static>(hog: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static) -> T {
    let rt = oc_runtime::Runtime::builder().workers(1).build().unwrap();
    let out = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let hog = oc_runtime::spawn(move || hog(s));
        // Let the hog start: it now holds the only worker.
        std::thread::sleep(Duration::from_millis(1));
        let spawned = Instant::now();
        let second = oc_runtime::spawn(move || spawned.elapsed());
        let ticks = Arc::new(AtomicU64::new(0));
        let t = ticks.clone();
        let st = stop.clone();
        let ticker = oc_runtime::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                oc_runtime::sleep(Duration::from_millis(10));
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        let waited = second.join().unwrap();
        assert!(waited < Duration::from_millis(50), "the second coroutine waited {waited:?}");
        oc_runtime::sleep(HOG_FOR);
        stop.store(true, Ordering::Relaxed);
        let out = hog.join().unwrap();
        ticker.join().unwrap();
        let ticked = ticks.load(Ordering::Relaxed);
        let expected = (HOG_FOR.as_millis() / 10) as u64;
        assert!(ticked > expected / 2, "the ticker ticked {ticked} times in {HOG_FOR:?}");
        out
    });
    let m = rt.metrics();
    assert!(m.handoffs >= 1, "{m:?}");
    assert!(rt.shutdown(Duration::from_secs(10)));
    out
}

#[test]
fn an_empty_loop_does_not_starve_the_others() {
    let spins = starves_nobody(|stop| {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            n = n.wrapping_add(1);
        }
        n
    });
    assert!(spins > 0);
}

#[test]
fn an_allocating_loop_does_not_starve_the_others() {
    let (count, total) = starves_nobody(|stop| {
        let mut count = 0u64;
        let mut total = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let v: Vec<u64> = (0..64).collect();
            let s = String::from("allocation number ") + &count.to_string();
            total += v.len() + s.len();
            count += 1;
        }
        (count, total)
    });
    assert!(count > 0 && total >= count as usize * 64);
}

#[test]
fn a_formatting_and_printing_loop_does_not_starve_the_others() {
    let lines = starves_nobody(|stop| {
        let mut lines = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let s = format!("{lines:>8} {:?} {:.3}", [lines, lines * 2], lines as f64 / 7.0);
            assert!(s.len() > 8);
            if lines.is_multiple_of(2000) {
                println!("hog printed line {lines}");
            }
            lines += 1;
        }
        lines
    });
    assert!(lines > 0);
}

#[test]
fn a_mutex_loop_does_not_starve_the_others() {
    let (locked, value) = starves_nobody(|stop| {
        let m = Mutex::new(0u64);
        let mut locked = 0u64;
        while !stop.load(Ordering::Relaxed) {
            *m.lock().unwrap() += 1;
            locked += 1;
        }
        (locked, m.into_inner().unwrap())
    });
    assert_eq!(locked, value);
}

#[test]
fn workers_blocked_in_a_contended_std_mutex_do_not_delay_queued_coroutines() {
    let rt = support::runtime(2);
    let lock = Arc::new(Mutex::new(()));
    let held = lock.lock().unwrap();
    // Both workers block in the kernel on the std mutex, which the hooks cannot reach.
    let blocked: Vec<_> = (0..2)
        .map(|_| {
            let lock = lock.clone();
            rt.spawn(move || drop(lock.lock().unwrap()))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(5));
    let start = Instant::now();
    let quick: Vec<_> = (0..20).map(|_| rt.spawn(move || start.elapsed())).collect();
    let worst = quick.into_iter().map(|h| h.join().unwrap()).max().unwrap();
    // A time slice is 10 ms: a few of them at most.
    assert!(worst < Duration::from_millis(80), "queued coroutines waited up to {worst:?}");
    std::thread::sleep(Duration::from_millis(1000) - start.elapsed().min(Duration::from_millis(1000)));
    drop(held);
    for b in blocked {
        b.join().unwrap();
    }
    assert!(rt.metrics().handoffs >= 1);
    support::shutdown(rt);
}

#[test]
fn the_monitor_can_be_turned_off() {
    let rt = oc_runtime::Runtime::builder().workers(1).preempt_interval(None).build().unwrap();
    let took = rt.block_on(|| {
        let start = Instant::now();
        let hog = oc_runtime::spawn(move || while start.elapsed() < Duration::from_millis(100) {});
        let second = oc_runtime::spawn(move || start.elapsed());
        hog.join().unwrap();
        second.join().unwrap()
    });
    assert!(took >= Duration::from_millis(100), "{took:?}");
    assert_eq!(rt.metrics().handoffs, 0);
    assert!(rt.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_handed_off_coroutine_rejoins_the_pool_at_its_next_hooked_call() {
    let rt = oc_runtime::Runtime::builder().workers(1).build().unwrap();
    let (before, during, after) = rt.block_on(|| {
        let hog = oc_runtime::spawn(|| {
            // The kernel's id for the running thread: a system call, so nothing cached from
            // before a switch of threads is reused.
            let before = kernel_thread_id();
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(100) {
                std::hint::spin_loop();
            }
            let during = kernel_thread_id();
            // A hooked call: writing to a file goes straight to the kernel, and its end is
            // where a handed-off coroutine goes back to the pool.
            use std::io::Write;
            std::fs::OpenOptions::new().write(true).open("/dev/null").unwrap().write_all(b"x").unwrap();
            (before, during, kernel_thread_id())
        });
        hog.join().unwrap()
    });
    assert_eq!(before, during, "a handed-off coroutine keeps its thread until it suspends");
    assert_ne!(during, after, "the coroutine went back to its worker, now on another thread");
    let m = rt.metrics();
    assert!(m.handoffs >= 1, "{m:?}");
    assert!(rt.shutdown(Duration::from_secs(5)));
}

fn kernel_thread_id() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}
