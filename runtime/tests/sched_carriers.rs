//! `Builder::max_carriers` bounds the threads that drive workers; a hand-off that would
//! exceed it is refused, counted in `handoffs_refused`, and reported once as a `tracing`
//! warning (README, Configuration; docs/tuning.md). The case runs in a child process, which
//! writes what was logged to its standard error for the parent to read.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn spin(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
#[ignore = "run as a child process by the carrier limit test"]
fn child_carrier_limit() {
    if std::env::var_os("OC_TEST_CHILD").is_none() {
        return;
    }
    support::log::capture();
    // One worker and at most two carriers: its own thread and one spare.
    let rt = oc_runtime::Runtime::builder()
        .workers(1)
        .max_carriers(2)
        .preempt_interval(Some(Duration::from_millis(10)))
        .build()
        .unwrap();
    let done = AtomicBool::new(false);
    let most_alive = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                most_alive.fetch_max(rt.metrics().carriers_alive, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        // Two hogs queued on the one worker: the first is handed off with its thread, the
        // spare runs the second, and handing that one off too would need a third carrier.
        let hogs: Vec<_> = (0..2).map(|_| rt.spawn(|| spin(Duration::from_millis(400)))).collect();
        let quick = rt.spawn(|| 7);
        for h in hogs {
            h.join().unwrap();
        }
        assert_eq!(quick.join().unwrap(), 7);
        done.store(true, Ordering::SeqCst);
    });
    let m = rt.metrics();
    assert!(m.handoffs >= 1, "no hand-off at all: {m:?}");
    assert!(m.handoffs_refused >= 1, "the second hog was never refused a carrier: {m:?}");
    let most = most_alive.load(Ordering::SeqCst);
    assert!(most <= 2, "{most} carriers alive at once with max_carriers(2)");
    support::shutdown(rt);
    // The runtime reports through `tracing`: what it logged goes to standard error, for the
    // parent to read as a user would from a subscriber writing there.
    support::log::replay_to_stderr();
    println!("CHILD-OK handoffs {} refused {} most carriers {most}", m.handoffs, m.handoffs_refused);
}

#[test]
fn max_carriers_bounds_hand_offs_and_refusals_are_counted_and_reported_once() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_carrier_limit", "--ignored", "--nocapture", "--test-threads=1"])
        .env("OC_TEST_CHILD", "1")
        .env_remove("OC_PREEMPT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("CHILD-OK"), "{stdout}\n{stderr}");
    let refused: u64 = stdout
        .split("refused ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the child's report");
    let reports = stderr.matches("could not be handed off").count();
    assert_eq!(reports, 1, "{refused} refusals gave {reports} reports:\n{stderr}");
    assert!(stderr.contains("max_carriers"), "{stderr}");
}
