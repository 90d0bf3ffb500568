//! A worker whose thread the kernel keeps off the CPU is not handed off.
//!
//! One test in its own binary: it pins its threads to one CPU, which the runtime's threads
//! inherit.

mod support;

use std::time::Duration;

use support::cpu::{Hogs, pin_to, short_runs};

#[test]
fn a_worker_waiting_for_a_cpu_is_not_handed_off() {
    // The runtime's threads share one CPU with four threads that never sleep: the kernel
    // keeps the worker's thread off the CPU for several milliseconds at a time, longer than
    // the 2 ms slice, while its coroutines only ever run for a few microseconds.
    pin_to(0);
    let slice = Duration::from_millis(2);
    let rt = oc_runtime::Runtime::builder().workers(1).preempt_interval(Some(slice)).build().expect("runtime starts");
    let hogs = Hogs::start(4);
    // Short runs: a few microseconds of work between two yields.
    let (runs, waited) = rt.block_on(|| short_runs(Duration::from_secs(2)));
    drop(hogs);
    let metrics = rt.metrics();
    eprintln!("{runs} runs, longest {waited:?}, {} hand-offs", metrics.handoffs);
    // The set-up must have made the kernel keep the worker waiting past the slice (16-20 ms
    // at a time, measured), or the count below says nothing.
    assert!(waited > slice * 2, "the worker never waited past the slice (longest {waited:?})");
    // A hand-off may still come from a run that the kernel interrupted for longer than the
    // monitor's patience (10 slices); each spurious one cost a thread switch and, on
    // io_uring, a slower ring for good. Before the monitor looked at the thread's CPU time,
    // this run saw hundreds.
    assert!(metrics.handoffs <= 10, "{} hand-offs of a worker that was only kept waiting", metrics.handoffs);
    assert!(rt.shutdown(Duration::from_secs(5)));
}
