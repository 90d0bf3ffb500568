//! What signal preemption must never do to the code around the coroutine it preempts: corrupt
//! an allocator's per-thread state, move a signal handler to another thread, overflow a
//! stack that had room, or let a preempted coroutine cut in front of new work. (Panics:
//! `preempt_panic.rs`, which installs a panic hook of its own.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

mod support;

/// With the system allocator: glibc's by default, jemalloc when `.ci/run` preloads it.
#[test]
fn preemption_inside_the_allocator_corrupts_nothing() {
    support::churn::preemption_amid_allocation();
}

fn runtime(slice_ms: u64) -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(1).preempt_interval(Some(Duration::from_millis(slice_ms))).build().unwrap()
}

fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        for _ in 0..1000 {
            std::hint::spin_loop();
        }
    }
}

static HANDLER_PIPE: AtomicI32 = AtomicI32::new(-1);
static HANDLER_TID_BEFORE: AtomicI32 = AtomicI32::new(0);
static HANDLER_TID_AFTER: AtomicI32 = AtomicI32::new(0);

extern "C" fn self_pipe_handler(_: libc::c_int) {
    // SAFETY: gettid and write are async-signal-safe; the pipe's write end is open.
    unsafe {
        HANDLER_TID_BEFORE.store(libc::gettid(), Ordering::SeqCst);
        let fd = HANDLER_PIPE.load(Ordering::SeqCst);
        libc::write(fd, b"x".as_ptr().cast(), 1);
        HANDLER_TID_AFTER.store(libc::gettid(), Ordering::SeqCst);
    }
}

#[test]
fn a_hooked_call_inside_a_signal_handler_returns_on_the_handlers_thread() {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into the array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    HANDLER_PIPE.store(fds[1], Ordering::SeqCst);
    // SAFETY: a handler that only calls async-signal-safe functions; SIGUSR2 is not used
    // elsewhere in this test binary.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = self_pipe_handler as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR2, &action, std::ptr::null_mut()), 0);
    }
    let rt = runtime(1);
    let handed_off = rt.block_on(|| {
        let before = oc_runtime::current_metrics().unwrap().handoffs;
        let ticker = oc_runtime::spawn(|| {
            for _ in 0..20 {
                oc_runtime::sleep(Duration::from_millis(5));
            }
        });
        let hog = oc_runtime::spawn(move || {
            // Hold the worker past the slice: the monitor hands it to another thread and
            // this thread keeps the coroutine. Then a signal arrives, as a Ctrl-C would.
            spin_for(Duration::from_millis(100));
            let handed = oc_runtime::current_metrics().unwrap().handoffs > before;
            // SAFETY: raise delivers SIGUSR2 to this thread, whose handler is installed.
            unsafe { libc::raise(libc::SIGUSR2) };
            handed
        });
        ticker.join().unwrap();
        hog.join().unwrap()
    });
    assert!(handed_off, "the worker was not handed off: the test did not set the scene");
    let (before, after) = (HANDLER_TID_BEFORE.load(Ordering::SeqCst), HANDLER_TID_AFTER.load(Ordering::SeqCst));
    assert_ne!(before, 0, "the handler did not run");
    assert_eq!(before, after, "the signal handler's hooked write moved it to another thread");
    let mut byte = 0u8;
    // SAFETY: reading one byte into a valid buffer from the pipe's read end.
    assert_eq!(unsafe { libc::read(fds[0], (&raw mut byte).cast(), 1) }, 1);
    assert!(rt.shutdown(Duration::from_secs(10)));
}

/// Recurses until about `room` bytes of the coroutine's stack are left below `top`, then
/// computes for `spin`.
#[inline(never)]
fn compute_at_depth(top: usize, used: usize, spin: Duration) -> u64 {
    let frame = [0u8; 256];
    let sp = std::hint::black_box(&frame) as *const _ as usize;
    if top - sp < used {
        return compute_at_depth(top, used, spin) + std::hint::black_box(frame[7]) as u64;
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < spin {
        n = n.wrapping_add(1);
        std::hint::spin_loop();
    }
    n
}

#[test]
fn a_coroutine_preempted_close_to_its_stack_limit_is_not_reported_as_overflowing() {
    const STACK: usize = 64 * 1024;
    let rt = runtime(1);
    let preempted = rt.block_on(|| {
        let before = oc_runtime::current_metrics().unwrap().signal_preemptions;
        // From 40 KiB to 3 KiB left, in 512-byte steps: somewhere the handler must decline,
        // everywhere the preemption that it does make must fit.
        for left in (3 * 1024..=40 * 1024).rev().step_by(512) {
            let hog = oc_runtime::task::Builder::new()
                .preemptible(true)
                .stack_size(STACK)
                .spawn(move || {
                    let marker = 0u8;
                    let top = std::hint::black_box(&marker) as *const u8 as usize;
                    compute_at_depth(top, STACK - left, Duration::from_millis(15))
                })
                .unwrap();
            hog.join().unwrap();
        }
        oc_runtime::current_metrics().unwrap().signal_preemptions - before
    });
    assert!(preempted > 0, "nothing was preempted");
    assert!(rt.shutdown(Duration::from_secs(10)));
}

#[test]
fn a_coroutine_spawned_from_a_plain_thread_waits_at_most_about_a_slice_behind_a_preempted_one() {
    let rt = runtime(10);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let hog = rt.spawn_with(oc_runtime::task::Builder::new().preemptible(true), move || {
        while !s.load(Ordering::Relaxed) {
            std::hint::spin_loop();
        }
    });
    let hog = hog.unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut waits = Vec::new();
    for _ in 0..10 {
        let spawned = Instant::now();
        let waited = rt.spawn(move || spawned.elapsed()).join().unwrap();
        waits.push(waited);
        std::thread::sleep(Duration::from_millis(7));
    }
    stop.store(true, Ordering::Relaxed);
    hog.join().unwrap();
    waits.sort();
    let median = waits[waits.len() / 2];
    let worst = waits[waits.len() - 1];
    // A slice is 10 ms; the monitor looks every half slice. Generous for a loaded machine.
    assert!(median < Duration::from_millis(60), "median wait {median:?} ({waits:?})");
    assert!(worst < Duration::from_millis(200), "worst wait {worst:?} ({waits:?})");
    assert!(rt.shutdown(Duration::from_secs(10)));
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn a_thread_local_borrowed_when_the_signal_lands_is_seen_by_no_other_coroutine() {
    // The runtime's own per-thread buffers (reactor operations, oc-http's send and receive
    // buffers) are `RefCell`s of this kind: a coroutine preempted inside a borrow must not
    // let another coroutine on the same thread find it borrowed.
    let rt = runtime(1);
    let (clashes, checks) = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        // At least six borrows, and on until the checker has looked often enough for its
        // verdict to mean something (on a loaded machine it gets fewer turns per borrow).
        let checked = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = checked.clone();
        let holder = oc_runtime::task::Builder::new()
            .preemptible(true)
            .spawn(move || {
                let start = std::time::Instant::now();
                let mut round = 0;
                while round < 6 || (seen.load(Ordering::SeqCst) <= 20 && start.elapsed() < Duration::from_secs(20)) {
                    round += 1;
                    // Borrowed for 50 ms of computation: preemption signals land inside.
                    SCRATCH.with(|cell| {
                        let mut v = cell.borrow_mut();
                        v.push(1);
                        spin_for(Duration::from_millis(50));
                        v.clear();
                    });
                    oc_runtime::yield_now();
                }
                s.store(true, Ordering::SeqCst);
            })
            .unwrap();
        let checker = oc_runtime::spawn(move || {
            let (mut clashes, mut checks) = (0u64, 0u64);
            while !stop.load(Ordering::SeqCst) {
                SCRATCH.with(|cell| {
                    if cell.try_borrow_mut().is_err() {
                        clashes += 1;
                    }
                });
                checks += 1;
                checked.store(checks, Ordering::SeqCst);
                oc_runtime::yield_now();
            }
            (clashes, checks)
        });
        holder.join().unwrap();
        checker.join().unwrap()
    });
    assert!(checks > 20, "the checker hardly ran ({checks} checks)");
    assert_eq!(clashes, 0, "{clashes} of {checks} checks found another coroutine's borrow");
    assert!(rt.shutdown(Duration::from_secs(10)));
}
