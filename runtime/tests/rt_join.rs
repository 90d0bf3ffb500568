//! Join: results, panics, time-outs, from coroutines and from threads.

mod support;

use std::time::{Duration, Instant};

#[test]
fn a_panic_comes_back_through_join() {
    let rt = support::runtime(2);
    rt.block_on(|| {
        let h = oc_runtime::spawn(|| -> u32 { panic!("boom {}", 7) });
        let err = h.join().unwrap_err();
        assert!(err.is_panic(), "{err:?}");
        assert_eq!(err.panic_message(), Some("boom 7"));
        assert!(err.to_string().contains("boom 7"), "{err}");
        // The runtime is unharmed.
        assert_eq!(oc_runtime::spawn(|| 1).join().unwrap(), 1);
    });
    // From a plain thread too, with a non-string payload.
    let h = rt.spawn(|| std::panic::panic_any(42u8));
    let err = h.join().unwrap_err();
    assert_eq!(*err.into_panic().downcast::<u8>().unwrap(), 42);
    support::shutdown(rt);
}

#[test]
fn block_on_resumes_the_panic_on_the_caller() {
    let rt = support::runtime(1);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(|| panic!("inner"))));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inner"));
    assert_eq!(rt.block_on(|| 3), 3);
    support::shutdown(rt);
}

fn check_timeout_join_on_time() {
    let mut h = oc_runtime::spawn(|| {
        oc_runtime::sleep(Duration::from_millis(600));
        9
    });
    let start = Instant::now();
    let err = h.timeout_join(Duration::from_millis(100)).unwrap_err();
    let waited = start.elapsed();
    assert!(err.is_timeout(), "{err:?}");
    assert!(waited >= Duration::from_millis(100), "returned early: {waited:?}");
    assert!(waited < Duration::from_millis(400), "returned late: {waited:?}");
    assert!(!h.is_finished());
    // The handle stays usable and the coroutine runs on.
    assert_eq!(h.timeout_join(Duration::from_secs(5)).unwrap(), 9);
    assert!(h.timeout_join(Duration::from_secs(1)).is_err(), "a result is taken once");
}

#[test]
fn timeout_join_times_out_on_time_in_a_coroutine() {
    let rt = support::runtime(1);
    rt.block_on(check_timeout_join_on_time);
    support::shutdown(rt);
}

#[test]
fn timeout_join_times_out_on_time_on_a_thread() {
    let rt = support::runtime(1);
    // Spawned from this thread: the global runtime is not involved.
    let mut h = rt.spawn(|| {
        oc_runtime::sleep(Duration::from_millis(600));
        9
    });
    let start = Instant::now();
    assert!(h.timeout_join(Duration::from_millis(100)).unwrap_err().is_timeout());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(100) && waited < Duration::from_millis(400), "{waited:?}");
    assert_eq!(h.join().unwrap(), 9);
    support::shutdown(rt);
}

#[test]
fn join_in_a_coroutine_suspends_only_that_coroutine() {
    // One worker: if join blocked the thread, the joined coroutine could never run.
    let rt = support::runtime(1);
    let v = rt.block_on(|| {
        let h = oc_runtime::spawn(|| {
            oc_runtime::sleep(Duration::from_millis(20));
            5
        });
        let other = oc_runtime::spawn(|| 6);
        h.join().unwrap() + other.join().unwrap()
    });
    assert_eq!(v, 11);
    support::shutdown(rt);
}

#[test]
fn join_handle_is_a_future() {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};

    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let rt = support::runtime(1);
    let h = rt.spawn(|| {
        oc_runtime::sleep(Duration::from_millis(30));
        "done"
    });
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(h);
    let mut pending = 0;
    let out = loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => break v,
            Poll::Pending => {
                pending += 1;
                std::thread::park_timeout(Duration::from_secs(1));
            }
        }
    };
    assert_eq!(out.unwrap(), "done");
    assert!(pending >= 1);
    support::shutdown(rt);
}
