//! The environment variables of docs/tuning.md and the README: `OC_WORKERS` and
//! `OC_STACK_SIZE` (the global runtime), `OC_PREEMPT` (every runtime built without an
//! explicit time slice) and `OC_WAKE_THRESHOLD` (every runtime built without an explicit
//! threshold). Each case runs in a child process with only that variable set;
//! values that are not numbers are ignored with a warning (a `tracing` event, which the child
//! writes to its standard error), never a crash.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the child test with `vars` set (and the variables under test otherwise removed);
/// returns its standard error.
fn run_child(case: &str, vars: &[(&str, &str)]) -> String {
    run_child_with_nofile(case, vars, None)
}

/// `run_child`, with the child's open-file limit lowered to `nofile`.
fn run_child_with_nofile(case: &str, vars: &[(&str, &str)], nofile: Option<u64>) -> String {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    if let Some(n) = nofile {
        // SAFETY: setrlimit is async-signal-safe, as a pre_exec hook must be.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
    cmd.args(["--exact", "child_case", "--ignored", "--nocapture", "--test-threads=1"]).env("OC_TEST_CHILD", case);
    for var in ["OC_WORKERS", "OC_STACK_SIZE", "OC_PREEMPT", "OC_WAKE_THRESHOLD"] {
        cmd.env_remove(var);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains("CHILD-OK"),
        "{case} {vars:?}: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    stderr
}

/// Whether `maybe_grow` with this red zone takes a new segment in a fresh coroutine of the
/// global runtime: the coroutine's stack has less than `red_zone` left.
fn global_stack_has_less_than(red_zone: usize) -> bool {
    oc_runtime::block_on(move || {
        oc_runtime::maybe_grow(red_zone, 64 * 1024, || oc_runtime::current_metrics().unwrap().stack_segments == 1)
    })
}

/// Hand-offs on a one-worker runtime built with the defaults, while a coroutine holds the
/// worker for 300 ms.
fn handoffs_of_a_300_ms_hog() -> u64 {
    let rt = oc_runtime::Runtime::builder().workers(1).build().unwrap();
    rt.spawn(|| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(300) {
            std::hint::spin_loop();
        }
    })
    .join()
    .unwrap();
    let handoffs = rt.metrics().handoffs;
    support::shutdown(rt);
    handoffs
}

/// Sleeping workers woken by a burst of eight wake-ups from one coroutine, on a two-worker
/// runtime built with the defaults.
fn wakeups_of_a_burst() -> u64 {
    let rt = oc_runtime::Runtime::builder().workers(2).build().unwrap();
    let (woken, _, _) = support::wake::Burst::park(&rt, 8, |_| ()).wake(&rt);
    support::shutdown(rt);
    woken
}

#[test]
#[ignore = "run as a child process by the tests below"]
fn child_case() {
    let Ok(case) = std::env::var("OC_TEST_CHILD") else {
        return;
    };
    // The runtime warns through `tracing`; the parent reads the warnings on standard error.
    support::log::capture();
    match case.as_str() {
        "workers" => {
            let want: usize = std::env::var("OC_WORKERS").unwrap().parse().unwrap();
            assert_eq!(oc_runtime::global().metrics().workers, want.max(1));
        }
        "default-workers" => {
            let cpus = std::thread::available_parallelism().unwrap().get();
            assert_eq!(oc_runtime::global().metrics().workers, cpus);
        }
        "big-stack" => assert!(!global_stack_has_less_than(512 * 1024), "OC_STACK_SIZE=1 MiB gave a smaller stack"),
        "small-stack" => assert!(global_stack_has_less_than(96 * 1024), "OC_STACK_SIZE=64 KiB gave a larger stack"),
        "default-stack" => {
            assert!(global_stack_has_less_than(oc_runtime::DEFAULT_STACK_SIZE + 4096));
            assert!(!global_stack_has_less_than(oc_runtime::DEFAULT_STACK_SIZE / 2));
        }
        "preempt-off" => assert_eq!(handoffs_of_a_300_ms_hog(), 0, "OC_PREEMPT=0 left the monitor on"),
        "preempt-on" => assert!(handoffs_of_a_300_ms_hog() > 0, "no hand-off with the default time slice"),
        "wake-eager" => assert!(wakeups_of_a_burst() >= 1, "OC_WAKE_THRESHOLD=1 held wake-ups back"),
        "wake-held" => assert_eq!(wakeups_of_a_burst(), 0, "eight wake-ups woke a sleeping worker"),
        "wake-invalid" => {
            let Err(err) = oc_runtime::Runtime::builder().workers(1).build() else { panic!("the runtime started") };
            println!("{err}");
            assert!(err.to_string().contains("OC_WAKE_THRESHOLD"), "{err}");
        }
        other => panic!("unknown case {other}"),
    }
    support::log::replay_to_stderr();
    println!("CHILD-OK");
}

#[test]
fn oc_workers_sets_the_global_runtimes_worker_count() {
    run_child("workers", &[("OC_WORKERS", "3")]);
    run_child("workers", &[("OC_WORKERS", "1")]);
    run_child("default-workers", &[]);
    // Zero is raised to one worker; something that is not a number is ignored, with a note.
    run_child("workers", &[("OC_WORKERS", "0")]);
    let err = run_child("default-workers", &[("OC_WORKERS", "lots")]);
    assert!(err.contains("OC_WORKERS") && err.contains("lots"), "no warning for OC_WORKERS=lots: {err}");
    // More workers than the process has descriptors for: the global runtime starts with the
    // defaults and says why, instead of panicking at first use (it did).
    let err = run_child_with_nofile("default-workers", &[("OC_WORKERS", "1000")], Some(64));
    assert!(err.contains("cannot start the global runtime") && err.contains("defaults"), "{err}");
}

#[test]
fn oc_stack_size_sets_the_global_runtimes_stack_size() {
    run_child("big-stack", &[("OC_STACK_SIZE", "1048576")]);
    run_child("small-stack", &[("OC_STACK_SIZE", "65536")]);
    run_child("default-stack", &[]);
    let err = run_child("default-stack", &[("OC_STACK_SIZE", "64k")]);
    assert!(err.contains("OC_STACK_SIZE") && err.contains("64k"), "no warning for OC_STACK_SIZE=64k: {err}");
}

#[test]
fn oc_preempt_0_turns_the_monitor_off() {
    for off in ["0", "off", "false"] {
        run_child("preempt-off", &[("OC_PREEMPT", off)]);
    }
    run_child("preempt-on", &[]);
    run_child("preempt-on", &[("OC_PREEMPT", "1")]);
}

#[test]
fn oc_wake_threshold_sets_how_many_wake_ups_wait_before_a_worker_is_woken() {
    run_child("wake-held", &[]);
    run_child("wake-held", &[("OC_WAKE_THRESHOLD", "16")]);
    run_child("wake-eager", &[("OC_WAKE_THRESHOLD", "1")]);
    // Zero means one.
    run_child("wake-eager", &[("OC_WAKE_THRESHOLD", "0")]);
    // A threshold held back by nothing: without a time slice every wake-up may wake a worker.
    run_child("wake-eager", &[("OC_WAKE_THRESHOLD", "16"), ("OC_PREEMPT", "0")]);
    run_child("wake-invalid", &[("OC_WAKE_THRESHOLD", "lots")]);
    run_child("wake-invalid", &[("OC_WAKE_THRESHOLD", "-1")]);
    // Checked even where it would not apply.
    run_child("wake-invalid", &[("OC_WAKE_THRESHOLD", "lots"), ("OC_PREEMPT", "0")]);
}
