//! Stack overflow in a coroutine: a clear message naming the coroutine, then abort. Faults
//! that are not a coroutine's overflow go to the handler installed before ours.
//!
//! Each case runs in a child process: this test binary re-runs itself with one of the
//! `#[ignore]`d `child_*` tests selected and `OC_TEST_CHILD` set.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output};

fn run_child(test: &str, guard: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
        .env("OC_TEST_CHILD", "1")
        .env("OC_STACK_GUARD", guard)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn in_child() -> bool {
    std::env::var_os("OC_TEST_CHILD").is_some()
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let buf = std::hint::black_box([depth as u8; 512]);
    if depth == u64::MAX { 0 } else { recurse(depth + 1) + buf[7] as u64 }
}

#[test]
#[ignore = "run as a child process by coroutine_overflow_is_reported_and_aborts"]
fn child_coroutine_overflow() {
    if !in_child() {
        return;
    }
    let rt = oc_runtime::Runtime::builder().workers(1).build().unwrap();
    let h = rt
        .spawn_with(oc_runtime::task::Builder::new().name("deep-recursion").stack_size(64 * 1024), || recurse(0))
        .unwrap();
    let _ = h.join();
    unreachable!("the overflow must abort the process");
}

#[test]
fn coroutine_overflow_is_reported_and_aborts() {
    for guard in ["marker", "protect"] {
        let out = run_child("child_coroutine_overflow", guard);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.signal(), Some(libc_sigabrt()), "guard {guard}: {:?}\n{stderr}", out.status);
        assert!(
            stderr.contains("coroutine 'deep-recursion'") && stderr.contains("overflowed its stack of 65536 bytes"),
            "guard {guard}: {stderr}"
        );
    }
}

#[test]
#[ignore = "run as a child process by other_faults_go_to_the_previous_handler"]
fn child_null_write() {
    if !in_child() {
        return;
    }
    let _rt = oc_runtime::Runtime::builder().workers(1).build().unwrap();
    let p = std::hint::black_box(std::ptr::null_mut::<u64>());
    // SAFETY: not safe at all: this child process exists to fault here.
    unsafe { p.write_volatile(1) };
}

#[test]
#[ignore = "run as a child process by other_faults_go_to_the_previous_handler"]
fn child_thread_overflow() {
    if !in_child() {
        return;
    }
    let _rt = oc_runtime::Runtime::builder().workers(1).build().unwrap();
    std::thread::Builder::new()
        .name("plain-thread".into())
        .stack_size(128 * 1024)
        .spawn(|| recurse(0))
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn other_faults_go_to_the_previous_handler() {
    let out = run_child("child_null_write", "auto");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(11), "{:?}\n{stderr}", out.status);
    assert!(!stderr.contains("oc-runtime"), "{stderr}");

    // std's own overflow report for plain threads still works.
    let out = run_child("child_thread_overflow", "auto");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'plain-thread'") && stderr.contains("overflowed its stack"), "{stderr}");
    assert!(!stderr.contains("oc-runtime"), "{stderr}");
}

fn libc_sigabrt() -> i32 {
    6
}
