//! A stuck-coroutine report gives back the memory its backtrace took to symbolize.
//!
//! One test in its own binary: it reads the resident memory of the whole process.

mod support;

use std::time::{Duration, Instant};

use support::log;

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[inline(never)]
fn oc_stuck_memory_test_blocked(hold: Duration) {
    let start = Instant::now();
    // Not hooked: the worker's thread blocks, and the monitor reports its coroutine.
    while start.elapsed() < hold {
        let ts = libc::timespec { tv_sec: 0, tv_nsec: 10_000_000 };
        // SAFETY: nanosleep reads the timespec and writes nothing (null remainder).
        unsafe {
            libc::syscall(libc::SYS_nanosleep, &ts as *const libc::timespec, std::ptr::null_mut::<libc::timespec>())
        };
    }
}

#[test]
fn a_report_does_not_keep_the_debug_info_it_read() {
    log::capture();
    let rt = oc_runtime::Runtime::builder()
        .workers(1)
        .name("stuck-memory")
        .stuck_threshold(Some(Duration::from_millis(50)))
        .build()
        .expect("runtime starts");
    // Everything but the report itself, once, so that the figures below differ by it alone.
    rt.block_on(|| oc_runtime::sleep(Duration::from_millis(1)));
    let before = rss_kib();
    rt.spawn_with(oc_runtime::task::Builder::new().name("memory-stuck"), || {
        oc_stuck_memory_test_blocked(Duration::from_millis(200))
    })
    .unwrap()
    .join()
    .unwrap();
    // The follow-up is logged after the report (one thread logs both, in order), so the
    // report's clean-up is done once it is there.
    let lines = log::wait_for("'memory-stuck'", 2, Duration::from_secs(60));
    assert_eq!(lines.len(), 2, "a report and its follow-up: {lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("oc_stuck_memory_test_blocked")),
        "the report was symbolized (it names the function): {lines:#?}"
    );
    let grown = rss_kib().saturating_sub(before);
    eprintln!("resident memory grew by {grown} KiB over the report");
    // Parsing this binary's debug info takes tens of megabytes (ten times this bound here),
    // which used to stay for the life of the process.
    assert!(grown < 8 * 1024, "the report left {grown} KiB resident");
    assert!(rt.shutdown(Duration::from_secs(5)));
}
