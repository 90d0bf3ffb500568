//! A coroutine whose panic hook runs past the time slice (printing a long backtrace, say) is
//! handed off by the monitor, and still stays on its thread until the panic is over: std
//! keeps a panic's state per thread (its count, the unwinder's walk over the stack).
//!
//! A test binary of its own: it installs a process-wide panic hook.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn a_slow_panic_hook_keeps_the_coroutine_on_its_thread() {
    let hooked = Arc::new(AtomicUsize::new(0));
    let moved = Arc::new(AtomicUsize::new(0));
    let (h, m) = (hooked.clone(), moved.clone());
    std::panic::set_hook(Box::new(move |_| {
        let before = std::thread::current().id();
        // Past the time slice, so that the monitor hands the worker to another thread.
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(60) {
            std::hint::spin_loop();
        }
        // A hooked call: the end of one is where a handed-off coroutine goes back to the
        // pool, except while it panics.
        let _ = writeln!(std::io::stderr(), "a slow panic hook");
        if std::thread::current().id() != before {
            m.fetch_add(1, Ordering::SeqCst);
        }
        h.fetch_add(1, Ordering::SeqCst);
    }));
    let rt = oc_runtime::Runtime::builder().workers(1).name("panic").build().expect("runtime starts");
    for _ in 0..3 {
        let err = rt.spawn(|| panic!("in a coroutine")).join().unwrap_err();
        assert!(err.is_panic(), "{err:?}");
    }
    let _ = std::panic::take_hook();
    assert_eq!(hooked.load(Ordering::SeqCst), 3);
    assert!(rt.metrics().handoffs >= 1, "the monitor did not hand the worker off");
    assert_eq!(moved.load(Ordering::SeqCst), 0, "a panicking coroutine moved to another thread");
    assert!(rt.shutdown(Duration::from_secs(10)));
}
