//! `spawn_blocking`: jobs run on plain threads while the worker runs coroutines, results and
//! panics are joined like a coroutine's, and the pool grows on demand up to its bound.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_runtime::IoBackend;

fn runtime(workers: usize, backend: IoBackend) -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(workers).io_backend(backend).name("blocking").build().unwrap()
}

/// A job that blocks its thread (an unhooked wait) does not hold the single worker: the job
/// waits (up to 30 s) for a coroutine on that worker to finish its steps.
#[test]
fn blocking_job_leaves_the_worker_free() {
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = runtime(1, backend);
        let (job_result, released) = rt.block_on(|| {
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let job = oc_runtime::spawn_blocking(move || {
                // A futex wait the hooks cannot see: on a worker it would stall every coroutine.
                let released = done_rx.recv_timeout(Duration::from_secs(30)).is_ok();
                (std::thread::current().name().map(str::to_owned), released)
            });
            oc_runtime::spawn(move || {
                for _ in 0..20 {
                    oc_runtime::sleep(Duration::from_millis(1));
                }
                done_tx.send(()).unwrap();
            });
            let (name, released) = job.join().unwrap();
            (name, released)
        });
        assert_eq!(job_result.as_deref(), Some("oc-blocking"), "the job ran on the pool");
        assert!(released, "{backend:?}: the coroutine could not run while the job blocked");
        support::shutdown(rt);
    }
}

#[test]
fn panics_are_join_errors() {
    let rt = runtime(1, IoBackend::Epoll);
    let err = rt.block_on(|| oc_runtime::spawn_blocking(|| -> u8 { panic!("job fails") }).join().unwrap_err());
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), Some("job fails"));
    // And from a plain thread, which blocks in `join`.
    assert_eq!(oc_runtime::spawn_blocking(|| 6 * 7).join().unwrap(), 42);
    support::shutdown(rt);
}

/// Jobs run side by side: twelve jobs each wait (up to 30 s) until all twelve are running.
#[test]
fn pool_grows_for_concurrent_jobs() {
    let inside = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..12)
        .map(|i| {
            let inside = inside.clone();
            oc_runtime::spawn_blocking(move || {
                inside.fetch_add(1, Ordering::SeqCst);
                let deadline = Instant::now() + Duration::from_secs(30);
                while inside.load(Ordering::SeqCst) < 12 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
                (i, inside.load(Ordering::SeqCst))
            })
        })
        .collect();
    for j in jobs {
        let (i, seen) = j.join().unwrap();
        assert_eq!(seen, 12, "job {i} saw only {seen} jobs running: the pool did not grow");
    }
}

/// The handle is a future: a tokio task awaits a blocking job.
#[test]
fn handle_is_a_future() {
    let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let v = tokio.block_on(async { oc_runtime::spawn_blocking(|| "done").await.unwrap() });
    assert_eq!(v, "done");
}

/// With `OC_BLOCKING_THREADS=2`, at most two jobs run at once and the rest queue. Runs in a
/// child process, since the pool reads the variable once per process.
#[test]
fn pool_is_bounded() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "bounded_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("OC_BLOCKING_THREADS", "2")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("PEAK 2"), "expected at most and at least 2 jobs at once: {stdout}");
}

#[test]
#[ignore = "run by pool_is_bounded in a child process"]
fn bounded_child() {
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..8)
        .map(|_| {
            let (inside, peak) = (inside.clone(), peak.clone());
            oc_runtime::spawn_blocking(move || {
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for j in jobs {
        j.join().unwrap();
    }
    println!("PEAK {}", peak.load(Ordering::SeqCst));
}

/// `timeout_join` gives up after its time-out (the job runs on) and takes the result once the
/// job is done; from a coroutine, on both reactors, and from a plain thread.
#[test]
fn timeout_join_gives_up_and_joins_later() {
    let check = || {
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let mut job = oc_runtime::spawn_blocking(move || release_rx.recv_timeout(Duration::from_secs(30)).map(|()| 7));
        let started = Instant::now();
        let err = job.timeout_join(Duration::from_millis(50)).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(!job.is_finished());
        release_tx.send(()).unwrap();
        assert_eq!(job.timeout_join(Duration::from_secs(30)).unwrap(), Ok(7));
        // The result is taken: a second join says so.
        let again = job.timeout_join(Duration::from_millis(1)).unwrap_err();
        assert!(!again.is_timeout() && !again.is_panic() && !again.is_cancelled(), "{again}");
    };
    for backend in [IoBackend::Uring, IoBackend::Epoll] {
        let rt = runtime(1, backend);
        rt.block_on(check);
        support::shutdown(rt);
    }
    check();
}
