//! The stuck-coroutine report: a coroutine that holds its thread past the threshold is
//! logged with its name, a backtrace taken on its own thread and for how long, then again
//! with the total when it suspends; it is counted in the metrics; well-behaved coroutines
//! are not reported.
//!
//! The functions the stuck coroutines run in have names no other code has, and the tests
//! look for them in the symbolized backtrace (tests build with debug info).

mod support;

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oc_runtime::Runtime;
use support::log;

const THRESHOLD: Duration = Duration::from_millis(100);
/// How long a stuck coroutine holds its thread. The tests that need no spinning block in a
/// system call instead, so as not to take CPU from tests running beside them.
const HOLD: Duration = Duration::from_millis(300);
/// How much of a hold the monitor may miss: it sees a run from its first tick on (5 ms, or
/// 25 ms without a time slice), later on a loaded machine.
const SEEN_LATE: u64 = 100;
/// Generous: the report thread symbolizes (reading debug info the first time) on a busy machine.
const LOG_WAIT: Duration = Duration::from_secs(30);

fn runtime(name: &str, threshold: Duration) -> Runtime {
    log::capture();
    Runtime::builder().workers(2).name(name).stuck_threshold(Some(threshold)).build().expect("runtime starts")
}

/// The report line of the coroutine named `who`, and its follow-up, once both are logged.
fn report_and_follow_up(who: &str) -> (String, String) {
    let needle = format!("coroutine '{who}'");
    let lines = log::wait_for(&needle, 2, LOG_WAIT);
    let report = lines.iter().find(|l| l.contains("without suspending")).cloned();
    let follow_up = lines.iter().find(|l| l.contains("suspended after")).cloned();
    match (report, follow_up) {
        (Some(r), Some(f)) => (r, f),
        _ => panic!("expected a report and a follow-up for {who}, got {lines:#?}"),
    }
}

/// The number after `key=` in a log line.
fn field(line: &str, key: &str) -> u64 {
    let at = line.find(&format!(" {key}=")).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len() + 2;
    line[at..].split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

#[inline(never)]
fn oc_stuck_test_spin_in_named_function(hold: Duration) -> u64 {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < hold {
        for i in 0..1000u64 {
            x = black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    x
}

#[test]
fn a_spinning_coroutine_is_reported_with_its_function_and_duration() {
    let rt = runtime("stuck-spin", THRESHOLD);
    let h = rt
        .spawn_with(oc_runtime::task::Builder::new().name("spinner-a"), || oc_stuck_test_spin_in_named_function(HOLD))
        .unwrap();
    h.join().unwrap();
    let (report, follow_up) = report_and_follow_up("spinner-a");
    assert!(
        report.contains("oc_stuck_test_spin_in_named_function"),
        "the backtrace names the function the coroutine spins in:\n{report}"
    );
    assert!(report.contains("runtime=stuck-spin"), "{report}");
    let held = field(&report, "held_ms");
    assert!(held >= THRESHOLD.as_millis() as u64 && held < HOLD.as_millis() as u64 + 2000, "held {held} ms: {report}");
    let total = field(&follow_up, "total_ms");
    // The monitor sees the end within a few of its ticks (5 ms each), even on a busy machine.
    assert!(total >= HOLD.as_millis() as u64 - SEEN_LATE && total < HOLD.as_millis() as u64 + 2000, "total {total} ms");
    let m = rt.metrics();
    assert_eq!(m.stuck_reports, 1, "{m:?}");
    assert!(m.stuck_longest >= HOLD - Duration::from_millis(SEEN_LATE), "{m:?}");
    assert_eq!(m.stuck_longest.as_millis() as u64, total, "the longest hold is this one's total");
    support::shutdown(rt);
}

#[test]
fn well_behaved_coroutines_are_not_reported() {
    // A threshold well above any pause a loaded machine gives a running thread.
    let rt = runtime("stuck-quiet", Duration::from_millis(300));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            rt.spawn_with(oc_runtime::task::Builder::new().name(format!("polite-{i}")), move || {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(600) {
                    black_box(oc_stuck_test_spin_in_named_function(Duration::from_micros(200)));
                    if i == 0 {
                        oc_runtime::yield_now();
                    } else {
                        oc_runtime::sleep(Duration::from_millis(2));
                    }
                }
            })
            .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // A stuck one in the same runtime afterwards is reported: the quiet result is not
    // because reports are broken.
    rt.spawn_with(oc_runtime::task::Builder::new().name("loud-one"), || {
        oc_stuck_test_blocked_in_a_raw_system_call(Duration::from_millis(600))
    })
    .unwrap()
    .join()
    .unwrap();
    let _ = report_and_follow_up("loud-one");
    assert!(log::lines_with("'polite-").is_empty(), "{:#?}", log::lines_with("'polite-"));
    assert_eq!(rt.metrics().stuck_reports, 1);
    support::shutdown(rt);
}

#[inline(never)]
fn oc_stuck_test_allocate_under_a_lock(lock: &Mutex<Vec<String>>, hold: Duration) -> usize {
    let start = Instant::now();
    let mut guard = lock.lock().unwrap();
    let mut total = 0;
    while start.elapsed() < hold {
        for i in 0..64 {
            guard.push(format!("{i:>40}"));
        }
        total += guard.iter().map(String::len).sum::<usize>();
        guard.clear();
        guard.shrink_to_fit();
    }
    total
}

#[test]
fn a_coroutine_allocating_under_a_lock_is_reported_without_deadlock() {
    let rt = runtime("stuck-malloc", THRESHOLD);
    // Other threads allocate all along, so the malloc arenas' locks are busy.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churners: Vec<_> = (0..2)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let v: Vec<Box<[u8]>> = (0..256).map(|i| vec![i as u8; 100 + i].into_boxed_slice()).collect();
                    black_box(v);
                }
            })
        })
        .collect();
    let lock = Arc::new(Mutex::new(Vec::new()));
    let lock2 = lock.clone();
    let mut h = rt
        .spawn_with(oc_runtime::task::Builder::new().name("allocator"), move || {
            oc_stuck_test_allocate_under_a_lock(&lock2, HOLD)
        })
        .unwrap();
    // A deadlock in the signal handler would leave the coroutine stuck for ever.
    let done = h.timeout_join(Duration::from_secs(20));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in churners {
        c.join().unwrap();
    }
    assert!(done.unwrap() > 0);
    let (report, _) = report_and_follow_up("allocator");
    assert!(report.contains("oc_stuck_test_allocate_under_a_lock"), "{report}");
    assert!(lock.lock().unwrap().is_empty(), "the lock is free again");
    support::shutdown(rt);
}

#[inline(never)]
fn oc_stuck_test_blocked_in_a_raw_system_call(hold: Duration) {
    let start = Instant::now();
    // `syscall(2)` is not hooked: the worker blocks. The sample signal interrupts the sleep
    // (EINTR), which this loop, like std, simply retries.
    while start.elapsed() < hold {
        let ts = libc::timespec { tv_sec: 0, tv_nsec: 20_000_000 };
        // SAFETY: nanosleep reads the timespec and writes nothing (null remainder).
        unsafe {
            libc::syscall(libc::SYS_nanosleep, &ts as *const libc::timespec, std::ptr::null_mut::<libc::timespec>())
        };
    }
}

#[test]
fn a_coroutine_blocked_in_an_unhooked_system_call_is_reported() {
    let rt = runtime("stuck-syscall", THRESHOLD);
    rt.spawn_with(oc_runtime::task::Builder::new().name("sleeper"), || {
        oc_stuck_test_blocked_in_a_raw_system_call(HOLD)
    })
    .unwrap()
    .join()
    .unwrap();
    let (report, follow_up) = report_and_follow_up("sleeper");
    assert!(report.contains("oc_stuck_test_blocked_in_a_raw_system_call"), "{report}");
    assert!(field(&follow_up, "total_ms") >= HOLD.as_millis() as u64 - SEEN_LATE, "{follow_up}");
    support::shutdown(rt);
}

#[test]
fn a_preemptible_coroutine_that_cannot_be_preempted_is_reported() {
    // A preemptible coroutine blocked in a system call: every preemption signal is deferred
    // (it is in libc), so it is handed off and followed on its thread.
    let rt = runtime("stuck-preemptible", THRESHOLD);
    rt.spawn_with(oc_runtime::task::Builder::new().name("unpreemptable").preemptible(true), || {
        oc_stuck_test_blocked_in_a_raw_system_call(HOLD)
    })
    .unwrap()
    .join()
    .unwrap();
    let (report, _) = report_and_follow_up("unpreemptable");
    assert!(report.contains("oc_stuck_test_blocked_in_a_raw_system_call"), "{report}");
    assert_eq!(rt.metrics().stuck_reports, 1);
    support::shutdown(rt);
}

#[test]
fn reports_are_off_when_the_threshold_is_none() {
    log::capture();
    let rt = Runtime::builder().workers(1).name("stuck-off").stuck_threshold(None).build().unwrap();
    rt.spawn_with(oc_runtime::task::Builder::new().name("unwatched"), || {
        oc_stuck_test_blocked_in_a_raw_system_call(Duration::from_millis(250))
    })
    .unwrap()
    .join()
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rt.metrics().stuck_reports, 0);
    assert!(log::lines_with("'unwatched'").is_empty());
    support::shutdown(rt);
}

#[test]
fn a_coroutine_that_keeps_its_worker_is_reported_from_its_worker_thread() {
    // Without a time slice nothing is handed off: the coroutine keeps its worker, and the
    // monitor runs for the report alone.
    log::capture();
    let rt = Runtime::builder()
        .workers(1)
        .name("stuck-no-slice")
        .preempt_interval(None)
        .stuck_threshold(Some(THRESHOLD))
        .build()
        .unwrap();
    rt.spawn_with(oc_runtime::task::Builder::new().name("keeper"), || oc_stuck_test_spin_in_named_function(HOLD))
        .unwrap()
        .join()
        .unwrap();
    let (report, follow_up) = report_and_follow_up("keeper");
    assert!(report.contains("oc_stuck_test_spin_in_named_function"), "{report}");
    assert!(field(&follow_up, "total_ms") >= HOLD.as_millis() as u64 - SEEN_LATE, "{follow_up}");
    let m = rt.metrics();
    assert_eq!((m.handoffs, m.stuck_reports), (0, 1), "{m:?}");
    support::shutdown(rt);
}

#[test]
fn a_coroutine_whose_hand_off_is_refused_is_reported() {
    // No spare carrier may start: the hand-off is refused and the coroutine keeps its worker.
    let rt = Runtime::builder()
        .workers(1)
        .name("stuck-refused")
        .max_carriers(1)
        .stuck_threshold(Some(THRESHOLD))
        .build()
        .unwrap();
    log::capture();
    rt.spawn_with(oc_runtime::task::Builder::new().name("refused"), || {
        oc_stuck_test_blocked_in_a_raw_system_call(HOLD)
    })
    .unwrap()
    .join()
    .unwrap();
    let (report, _) = report_and_follow_up("refused");
    assert!(report.contains("oc_stuck_test_blocked_in_a_raw_system_call"), "{report}");
    let m = rt.metrics();
    assert!(m.handoffs_refused >= 1 && m.handoffs == 0, "{m:?}");
    support::shutdown(rt);
}

#[test]
fn the_longest_hold_grows_while_the_coroutine_is_still_stuck() {
    let rt = runtime("stuck-live", THRESHOLD);
    let h = rt
        .spawn_with(oc_runtime::task::Builder::new().name("live"), || {
            oc_stuck_test_blocked_in_a_raw_system_call(Duration::from_millis(1500))
        })
        .unwrap();
    let start = Instant::now();
    // Seen from outside while it still spins.
    let mut seen = Duration::ZERO;
    while !h.is_finished() && start.elapsed() < Duration::from_secs(10) {
        let m = rt.metrics();
        if m.stuck_reports == 1 && m.stuck_longest >= Duration::from_millis(500) {
            seen = m.stuck_longest;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!h.is_finished() && seen >= Duration::from_millis(500), "seen {seen:?} after {:?}", start.elapsed());
    h.join().unwrap();
    let (_, follow_up) = report_and_follow_up("live");
    assert!(field(&follow_up, "total_ms") >= 1500 - SEEN_LATE, "{follow_up}");
    support::shutdown(rt);
}

#[test]
fn reports_beyond_the_burst_are_counted_but_not_logged() {
    let rt = runtime("stuck-burst", THRESHOLD);
    let burst: Vec<_> = (0..7)
        .map(|i| {
            rt.spawn_with(oc_runtime::task::Builder::new().name(format!("burst-{i}")), || {
                oc_stuck_test_blocked_in_a_raw_system_call(Duration::from_millis(300))
            })
            .unwrap()
        })
        .collect();
    for h in burst {
        h.join().unwrap();
    }
    // Every episode counts; the log got the burst of 4 (and one more if a second passed).
    assert_eq!(rt.metrics().stuck_reports, 7);
    let reports = || log::lines_with("runtime=stuck-burst").iter().filter(|l| l.contains("without suspending")).count();
    let deadline = Instant::now() + LOG_WAIT;
    while reports() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Time for any report beyond the burst to show up, were it (wrongly) logged.
    std::thread::sleep(Duration::from_millis(300));
    let logged = reports();
    assert!((4..=5).contains(&logged), "{logged} reports logged");
    // After a pause, the next report is logged and says how many were left out.
    std::thread::sleep(Duration::from_millis(1100));
    rt.spawn_with(oc_runtime::task::Builder::new().name("after-burst"), || {
        oc_stuck_test_blocked_in_a_raw_system_call(Duration::from_millis(300))
    })
    .unwrap()
    .join()
    .unwrap();
    let (report, _) = report_and_follow_up("after-burst");
    assert!(report.contains("earlier reports rate-limited"), "{report}");
    assert_eq!(rt.metrics().stuck_reports, 8);
    support::shutdown(rt);
}

#[test]
fn two_stuck_coroutines_of_one_worker_both_get_backtraces() {
    // One worker: the first is handed off with its thread, the second then gets stuck on
    // the carrier that took the worker over; their samples share the worker's slot.
    log::capture();
    let rt =
        Runtime::builder().workers(1).name("stuck-pair").stuck_threshold(Some(THRESHOLD)).build().expect("runtime");
    let handles: Vec<_> = ["pair-a", "pair-b"]
        .into_iter()
        .map(|name| {
            rt.spawn_with(oc_runtime::task::Builder::new().name(name), || {
                oc_stuck_test_blocked_in_a_raw_system_call(Duration::from_millis(500))
            })
            .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for name in ["pair-a", "pair-b"] {
        let (report, _) = report_and_follow_up(name);
        assert!(report.contains("oc_stuck_test_blocked_in_a_raw_system_call"), "{report}");
    }
    assert_eq!(rt.metrics().stuck_reports, 2);
    support::shutdown(rt);
}
