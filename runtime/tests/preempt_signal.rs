//! Signal preemption: coroutines spawned preemptible are switched out by the monitor's signal
//! at safe points, thousands of times, with correct results and no crash, on one worker.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Each preemptible hog runs until it has been preempted this often (by signal, or at the
/// safe point after a deferred signal)...
const WANTED: u64 = 2000;
/// ...or for this long at most.
const AT_MOST: Duration = Duration::from_secs(30);

fn preemptible_runtime() -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(1).preempt_interval(Some(Duration::from_millis(1))).build().unwrap()
}

/// Runs `hog` as a preemptible coroutine next to a ticker on one worker; checks that a
/// coroutine spawned after it finishes quickly, that the ticker ticks, and returns the hog's
/// result with the number of signal preemptions.
fn preempted<T: Send + 'static>(hog: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static) -> (T, Preempted) {
    let rt = preemptible_runtime();
    let (before, deferred_before) = {
        let m = rt.metrics();
        (m.signal_preemptions, m.signal_preemptions_deferred)
    };
    let out = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let hog = oc_runtime::task::Builder::new().preemptible(true).spawn(move || hog(s)).unwrap();
        std::thread::sleep(Duration::from_millis(1));
        let spawned = Instant::now();
        let second = oc_runtime::spawn(move || spawned.elapsed());
        let ticks = Arc::new(AtomicU64::new(0));
        let (t, st) = (ticks.clone(), stop.clone());
        let ticker = oc_runtime::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                oc_runtime::sleep(Duration::from_millis(5));
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        let waited = second.join().unwrap();
        // Tens of slices at most: a hog that allocates has many signals deferred (they land
        // in libc) before one lands in its own code, and the tests of the suite share the
        // machine's cores with this one (52 ms was seen under that load).
        assert!(waited < Duration::from_millis(100), "the second coroutine waited {waited:?}");
        let start = Instant::now();
        while oc_runtime::current_metrics().unwrap().signal_preemptions < before + WANTED && start.elapsed() < AT_MOST {
            oc_runtime::sleep(Duration::from_millis(50));
        }
        stop.store(true, Ordering::Relaxed);
        let out = hog.join().unwrap();
        ticker.join().unwrap();
        assert!(ticks.load(Ordering::Relaxed) > 50, "the ticker starved");
        out
    });
    let m = rt.metrics();
    assert!(rt.shutdown(Duration::from_secs(10)));
    let n = Preempted {
        signals: m.signal_preemptions - before,
        deferred: m.signal_preemptions_deferred - deferred_before,
        handoffs: m.handoffs,
    };
    (out, n)
}

/// What the monitor did to a hog.
struct Preempted {
    signals: u64,
    deferred: u64,
    handoffs: u64,
}

impl Preempted {
    fn check(&self) {
        let Self { signals, deferred, handoffs } = self;
        assert!(signals >= &WANTED, "only {signals} preemptions ({deferred} deferred, {handoffs} hand-offs)");
    }
}

// The preemption counter is process-wide: each test checks its own increase, and the tests
// of this file run one per process under nextest.

#[test]
fn an_empty_loop_is_preempted_thousands_of_times() {
    let ((), n) = preempted(|stop| while !stop.load(Ordering::Relaxed) {});
    n.check();
}

#[test]
fn an_allocating_loop_is_preempted_and_stays_correct() {
    let ((count, total), n) = preempted(|stop| {
        let mut count = 0u64;
        let mut total = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let v: Vec<u64> = (0..64).collect();
            let s = String::from("allocation number ") + &count.to_string();
            assert_eq!(v.iter().sum::<u64>(), 2016);
            total += v.len() + s.len();
            count += 1;
        }
        (count, total)
    });
    assert!(count > 0 && total >= count as usize * 64);
    n.check();
}

#[test]
fn a_formatting_and_printing_loop_is_preempted_and_stays_correct() {
    let (lines, n) = preempted(|stop| {
        let mut lines = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let s = format!("{lines:>8} {:?} {:.3}", [lines, lines * 2], lines as f64 / 8.0);
            assert_eq!(
                s.len(),
                8 + 1 + format!("{:?}", [lines, lines * 2]).len() + 1 + format!("{:.3}", lines as f64 / 8.0).len()
            );
            if lines.is_multiple_of(2000) {
                println!("preemptible hog printed line {lines}");
            }
            lines += 1;
        }
        lines
    });
    assert!(lines > 0);
    n.check();
}

#[test]
fn a_mutex_loop_is_preempted_and_stays_correct() {
    let ((locked, value), n) = preempted(|stop| {
        let m = Mutex::new(0u64);
        let mut locked = 0u64;
        while !stop.load(Ordering::Relaxed) {
            *m.lock().unwrap() += 1;
            locked += 1;
        }
        (locked, m.into_inner().unwrap())
    });
    assert_eq!(locked, value);
    n.check();
}

#[test]
fn a_busy_loop_on_a_grown_segment_is_preempted_and_resumes_correctly() {
    let (sum, n) = preempted(|stop| {
        fn descend(depth: u32, stop: &AtomicBool) -> u64 {
            oc_runtime::maybe_grow(8 * 1024, 128 * 1024, || {
                let pad = std::hint::black_box([depth as u8; 1024]);
                if depth == 0 {
                    // Spin here, deep on a segment, until told to stop.
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    }
                    std::hint::black_box(x);
                    0
                } else {
                    descend(depth - 1, stop) + u64::from(pad[1023] == depth as u8)
                }
            })
        }
        descend(200, &stop)
    });
    assert_eq!(sum, 200);
    n.check();
}

#[test]
fn runtime_wide_signal_preemption() {
    let rt = oc_runtime::Runtime::builder()
        .workers(1)
        .signal_preemption(true)
        .preempt_interval(Some(Duration::from_millis(2)))
        .build()
        .unwrap();
    let before = rt.metrics().signal_preemptions;
    let finished = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        // Not marked preemptible itself: the runtime-wide switch covers it.
        let hog = oc_runtime::spawn(move || while !s.load(Ordering::Relaxed) {});
        let waiting = Instant::now();
        oc_runtime::sleep(Duration::from_millis(300));
        // This runtime's count only: wait for one (longer on a loaded machine).
        while oc_runtime::current_metrics().unwrap().signal_preemptions == before
            && waiting.elapsed() < Duration::from_secs(10)
        {
            oc_runtime::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        hog.join().is_ok()
    });
    assert!(finished);
    let after = rt.metrics();
    assert!(after.signal_preemptions > before, "{after:?}");
    assert_eq!(after.handoffs, 0, "preemptible coroutines are not handed off: {after:?}");
    assert!(rt.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_preemptible_coroutine_blocked_in_an_unhooked_call_is_handed_off() {
    let rt = preemptible_runtime();
    let waited = rt.block_on(|| {
        // A system call through libc's generic `syscall` wrapper, which the hooks do not
        // cover, retried when a signal interrupts it (as C libraries do): every signal finds
        // the thread at the same instruction inside libc.
        let hog = oc_runtime::task::Builder::new()
            .preemptible(true)
            .spawn(|| {
                let start = Instant::now();
                while start.elapsed() < Duration::from_secs(1) {
                    let ts = libc::timespec { tv_sec: 0, tv_nsec: 100_000_000 };
                    // SAFETY: nanosleep with a valid request and no remainder.
                    unsafe {
                        libc::syscall(libc::SYS_nanosleep, &raw const ts, std::ptr::null_mut::<libc::timespec>())
                    };
                }
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(1));
        let spawned = Instant::now();
        let waited = oc_runtime::spawn(move || spawned.elapsed()).join().unwrap();
        hog.join().unwrap();
        waited
    });
    assert!(waited < Duration::from_millis(500), "the second coroutine waited {waited:?}");
    let m = rt.metrics();
    assert!(m.handoffs >= 1, "{m:?}");
    assert!(rt.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_preemptible_coroutine_handed_off_while_stuck_is_preempted_again_once_it_runs_on() {
    let rt = preemptible_runtime();
    let (stuck_on, ran_on, handoffs_then, preempted_then, preempted_after) = rt.block_on(|| {
        let hog = oc_runtime::task::Builder::new()
            .preemptible(true)
            .spawn(|| {
                let first = kernel_thread_id();
                // Stuck in system calls the hooks do not see: the monitor hands the worker
                // off and this thread keeps the coroutine.
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(150) {
                    let ts = libc::timespec { tv_sec: 0, tv_nsec: 20_000_000 };
                    // SAFETY: nanosleep with a valid request and no remainder.
                    unsafe {
                        libc::syscall(libc::SYS_nanosleep, &raw const ts, std::ptr::null_mut::<libc::timespec>())
                    };
                }
                // Running on: the monitor's signals still reach it here, and freeze it on
                // this thread until the worker gives it a turn.
                let m = oc_runtime::current_metrics().unwrap();
                let start = Instant::now();
                let mut now = m.signal_preemptions;
                while now < m.signal_preemptions + 20 && start.elapsed() < Duration::from_secs(10) {
                    std::hint::spin_loop();
                    now = oc_runtime::current_metrics().unwrap().signal_preemptions;
                }
                (first, kernel_thread_id(), m.handoffs, m.signal_preemptions, now)
            })
            .unwrap();
        hog.join().unwrap()
    });
    assert!(handoffs_then >= 1, "the stuck coroutine was not handed off");
    assert!(
        preempted_after >= preempted_then + 20,
        "the coroutine was preempted {} times after its hand-off",
        preempted_after - preempted_then
    );
    // A preempted coroutine keeps its thread: whatever its code held there stays valid.
    assert_eq!(stuck_on, ran_on);
    assert!(rt.shutdown(Duration::from_secs(5)));
}

fn kernel_thread_id() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// The monitor decides to hand a worker off from what it sampled a moment earlier; securing
/// a carrier takes time (the first hand-off of a runtime starts a thread), during which the
/// coroutine it saw stuck may suspend and a preemptible one resume. A non-preemptible spinner
/// that holds the worker for one to three slices and then yields makes that race likely over
/// many fresh runtimes: whatever is handed off, the preemptible coroutine must go on being
/// preempted afterwards.
#[test]
fn a_hand_off_racing_a_suspension_never_strands_a_preemptible_coroutine() {
    let start = Instant::now();
    let mut rounds = 0u32;
    while rounds < 10 || start.elapsed() < Duration::from_secs(2) {
        hand_off_race(rounds);
        rounds += 1;
    }
}

fn hand_off_race(round: u32) {
    let rt = preemptible_runtime();
    let (during, after) = rt.block_on(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let hog = oc_runtime::task::Builder::new()
            .preemptible(true)
            .spawn(move || while !s.load(Ordering::Relaxed) {})
            .unwrap();
        let spinner = oc_runtime::spawn(move || {
            let mut turn = round.wrapping_mul(7919);
            // Until the first hand-off, and a few turns more.
            let mut after_first = 0;
            while after_first < 3 && turn < round.wrapping_mul(7919) + 200 {
                // One to three slices, differently each turn (the monitor, sampling every
                // half slice, needs one and a half to see a run stuck).
                let hold = Duration::from_micros(1000 + u64::from(turn.wrapping_mul(2_654_435_761) % 2000));
                let held = Instant::now();
                while held.elapsed() < hold {
                    std::hint::spin_loop();
                }
                oc_runtime::yield_now();
                turn += 1;
                if oc_runtime::current_metrics().unwrap().handoffs > 0 {
                    after_first += 1;
                }
            }
        });
        spinner.join().unwrap();
        let during = oc_runtime::current_metrics().unwrap();
        // Counted in this runtime only: on a loaded machine its hog may get little CPU, so
        // wait for the preemptions (a stranded hog gets none, however long we wait).
        let waiting = Instant::now();
        let mut after = oc_runtime::current_metrics().unwrap();
        while after.signal_preemptions < during.signal_preemptions + 5 && waiting.elapsed() < Duration::from_secs(10) {
            oc_runtime::sleep(Duration::from_millis(20));
            after = oc_runtime::current_metrics().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
        (during, after)
    });
    assert!(during.handoffs >= 1, "round {round}: the spinner was never handed off: {during:?}");
    let preempted = after.signal_preemptions - during.signal_preemptions;
    assert!(preempted >= 5, "round {round}: {preempted} preemptions in the 10 s after the hand-offs: {after:?}");
    assert!(rt.shutdown(Duration::from_secs(5)));
}
