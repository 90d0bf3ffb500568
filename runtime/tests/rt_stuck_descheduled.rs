//! A coroutine whose thread the kernel keeps off the CPU is not reported as stuck: it does
//! not hold its worker, the machine does (a loaded host, a paused virtual machine).
//!
//! One test in its own binary: it pins its threads to one CPU, which the runtime's threads
//! inherit.

mod support;

use std::time::Duration;

use support::cpu::{Hogs, pin_to, short_runs};

#[test]
fn a_coroutine_waiting_for_a_cpu_is_not_reported_stuck() {
    // The runtime's threads share one CPU with four threads that never sleep: the kernel
    // keeps the worker's thread off the CPU for several milliseconds at a time, longer than
    // the 4 ms threshold, while its coroutines only ever run for a few microseconds.
    pin_to(0);
    let threshold = Duration::from_millis(4);
    let rt = oc_runtime::Runtime::builder()
        .workers(1)
        .preempt_interval(None)
        .stuck_threshold(Some(threshold))
        .build()
        .expect("runtime starts");
    let hogs = Hogs::start(4);
    let waited = rt.block_on(|| short_runs(Duration::from_secs(2), Duration::MAX)).longest;
    drop(hogs);
    let metrics = rt.metrics();
    eprintln!("longest wait {waited:?}, {} stuck reports", metrics.stuck_reports);
    // The set-up must have kept the worker waiting past the threshold, or the count below
    // says nothing.
    assert!(waited > threshold * 2, "the worker never waited past the threshold (longest {waited:?})");
    // A report may still come from a wait longer than ten thresholds. Before the monitor
    // looked at the thread's CPU time, this run saw dozens.
    assert!(metrics.stuck_reports <= 3, "{} reports of a coroutine that was only kept waiting", metrics.stuck_reports);
    assert!(rt.shutdown(Duration::from_secs(5)));
}
