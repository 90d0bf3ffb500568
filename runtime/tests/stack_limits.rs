//! Running out of stacks gives a clear error from `join`, never a crash.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Spawns `n` coroutines that all stay alive until every one of them has either started or
/// failed to start, then joins them: how many ran, and the errors of the rest.
fn hold_all(rt: &oc_runtime::Runtime, n: usize) -> (usize, Vec<oc_runtime::JoinError>) {
    let started = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(AtomicBool::new(false));
    // Parked coroutines, to be woken all at once (no polling: a hundred thousand pollers
    // would keep the workers too busy to start the rest).
    let parked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (started, release, parked) = (started.clone(), release.clone(), parked.clone());
            rt.spawn(move || {
                parked.lock().unwrap().push(oc_runtime::task::current().unwrap());
                started.fetch_add(1, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    oc_runtime::task::park();
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Coroutines that could not get a stack finish at once, without starting.
        let failed = rt.metrics().finished as usize;
        if started.load(Ordering::SeqCst) + failed >= n {
            break;
        }
        assert!(Instant::now() < deadline, "coroutines neither started nor failed");
        std::thread::sleep(Duration::from_millis(10));
    }
    release.store(true, Ordering::SeqCst);
    for c in parked.lock().unwrap().drain(..) {
        c.unpark();
    }
    let mut ok = 0;
    let mut errors = Vec::new();
    for h in handles {
        match h.join() {
            Ok(()) => ok += 1,
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

#[test]
fn max_stacks_limits_live_coroutines_with_a_clear_error() {
    let rt = oc_runtime::Runtime::builder().workers(2).max_stacks(100).build().unwrap();
    let (ok, errors) = hold_all(&rt, 300);
    assert_eq!(ok, 100, "exactly max_stacks coroutines run at once");
    assert_eq!(ok + errors.len(), 300);
    let e = &errors[0];
    assert!(e.is_no_stack(), "{e:?}");
    assert!(e.to_string().contains("max_stacks"), "{e}");
    assert_eq!(e.io_error().unwrap().kind(), std::io::ErrorKind::OutOfMemory);
    // Once stacks are free again, coroutines start normally.
    let before = rt.metrics().finished;
    let handles: Vec<_> = (0..50).map(|i| rt.spawn(move || i)).collect();
    assert_eq!(handles.into_iter().map(|h| h.join().unwrap()).sum::<i32>(), 1225);
    assert_eq!(rt.metrics().finished, before + 50);
    support::shutdown(rt);
}

#[test]
fn past_the_mapping_limit_with_protect_guards_spawns_fail_clearly() {
    // Each protect-guarded stack costs two memory mappings, so vm.max_map_count bounds them.
    // The guard kind is chosen once per process, so the case runs in a child process.
    run_child("child_protect_limit", Some("protect"));
}

#[test]
#[ignore = "run as a child process by past_the_mapping_limit_with_protect_guards_spawns_fail_clearly"]
fn child_protect_limit() {
    if std::env::var_os("OC_TEST_CHILD").is_none() {
        return;
    }
    let rt = support::runtime(2);
    // The documented cap (docs/tuning.md): `(vm.max_map_count - 2048) / 2` live stacks.
    let cap = (support::max_map_count() - 2048) / 2;
    assert_eq!(rt.metrics().stack_guard, oc_runtime::StackGuard::Protect);
    let n = cap + 2000;
    let (ok, errors) = hold_all(&rt, n);
    assert_eq!(ok, cap, "{ok} of {n} ran; the documented cap is {cap}");
    assert_eq!(errors.len(), n - cap);
    let e = errors.first().expect("some coroutines could not start");
    assert!(e.is_no_stack(), "{e:?}");
    assert!(e.to_string().contains("vm.max_map_count"), "{e}");
    support::shutdown(rt);
    println!("CHILD-OK {ok} ran, {} refused: {e}", errors.len());
}

#[test]
fn marker_guards_are_not_bound_by_the_mapping_limit() {
    // In a child process without `OC_STACK_GUARD` (CI reruns this suite with protect guards),
    // so that the runtime picks markers wherever the kernel has them.
    run_child("child_marker_guards", None);
}

#[test]
#[ignore = "run as a child process by marker_guards_are_not_bound_by_the_mapping_limit"]
fn child_marker_guards() {
    if std::env::var_os("OC_TEST_CHILD").is_none() {
        return;
    }
    let rt = support::runtime(2);
    if rt.metrics().stack_guard != oc_runtime::StackGuard::Marker {
        // Kernels before 6.13 have no guard markers (the protect-guard test covers them);
        // CI machines do, and say so with OC_REQUIRE_GUARD_MARKERS=1.
        support::require("OC_REQUIRE_GUARD_MARKERS", "guard-page markers (Linux 6.13+)");
        println!("CHILD-OK guard markers unsupported here; nothing to check");
        return;
    }
    let n = support::max_map_count() / 2 + 5000;
    let (ok, errors) = hold_all(&rt, n);
    assert_eq!((ok, errors.len()), (n, 0), "{:?}", errors.first());
    support::shutdown(rt);
    println!("CHILD-OK {ok} coroutines held with guard markers");
}

#[test]
fn every_stack_under_max_stacks_can_be_used_by_any_worker() {
    const MAX: usize = 8;
    let rt = oc_runtime::Runtime::builder().workers(2).max_stacks(MAX).build().unwrap();
    for round in 0..40 {
        // Short coroutines (two at a time at most: they never suspend) leave their stacks on
        // whichever worker ran them.
        let warm: Vec<_> = (0..16).map(|i| rt.spawn(move || i)).collect();
        for h in warm {
            h.join().unwrap();
        }
        // Then exactly `MAX` coroutines at once: every one must get a stack, whichever worker
        // runs it. (Each waits for all to arrive, or two seconds if one cannot start.)
        let arrived = Arc::new(AtomicUsize::new(0));
        let held: Vec<_> = (0..MAX)
            .map(|_| {
                let arrived = arrived.clone();
                rt.spawn(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let start = Instant::now();
                    while arrived.load(Ordering::SeqCst) < MAX && start.elapsed() < Duration::from_secs(2) {
                        oc_runtime::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        for (i, h) in held.into_iter().enumerate() {
            if let Err(e) = h.join() {
                panic!("round {round}: coroutine {i} of {MAX} failed: {e}");
            }
        }
    }
    support::shutdown(rt);
}

/// Runs the ignored test `name` of this binary in a child process (`OC_STACK_GUARD` set to
/// `guard`, or removed) and asserts that it passed and said so.
fn run_child(name: &str, guard: Option<&str>) {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"]).env("OC_TEST_CHILD", "1");
    match guard {
        Some(kind) => command.env("OC_STACK_GUARD", kind),
        None => command.env_remove("OC_STACK_GUARD"),
    };
    let child = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "{:?}\n{stdout}\n{stderr}", child.status);
    assert!(stdout.contains("CHILD-OK"), "{stdout}\n{stderr}");
}
