//! Sleeping: timers ride on the workers' park timeouts.

mod support;

use std::time::{Duration, Instant};

#[test]
fn one_hundred_thousand_sleepers_finish_in_about_one_period() {
    const N: usize = 100_000;
    const PERIOD: Duration = Duration::from_secs(1);
    // Each sleeping coroutine holds a guard-paged stack: two memory mappings.
    support::ensure_max_map_count(2 * N + 20_000);
    let rt = support::runtime(2);
    let elapsed = rt.block_on(|| {
        let start = Instant::now();
        let handles: Vec<_> = (0..N).map(|_| oc_runtime::spawn(|| oc_runtime::sleep(PERIOD))).collect();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    });
    assert!(elapsed >= PERIOD);
    assert!(elapsed < PERIOD * 3, "took {elapsed:?} for a {PERIOD:?} sleep");
    support::shutdown(rt);
}

#[test]
fn sleep_is_accurate_and_does_not_block_the_worker() {
    let rt = support::runtime(1);
    rt.block_on(|| {
        let start = Instant::now();
        let sleeper = oc_runtime::spawn(move || {
            oc_runtime::sleep(Duration::from_millis(100));
            start.elapsed()
        });
        // While it sleeps, the only worker runs this one.
        let quick = oc_runtime::spawn(move || start.elapsed());
        let quick_at = quick.join().unwrap();
        let slept = sleeper.join().unwrap();
        assert!(quick_at < Duration::from_millis(50), "{quick_at:?}");
        assert!(slept >= Duration::from_millis(100), "{slept:?}");
        assert!(slept < Duration::from_millis(150), "{slept:?}");
    });
    support::shutdown(rt);
}

#[test]
fn sleep_until_and_zero_sleeps() {
    let rt = support::runtime(1);
    rt.block_on(|| {
        oc_runtime::sleep(Duration::ZERO);
        let deadline = Instant::now() + Duration::from_millis(30);
        oc_runtime::sleep_until(deadline);
        assert!(Instant::now() >= deadline);
        oc_runtime::sleep_until(Instant::now() - Duration::from_millis(5));
    });
    support::shutdown(rt);
}

#[test]
fn sleep_outside_a_coroutine_sleeps_the_thread() {
    let start = Instant::now();
    oc_runtime::sleep(Duration::from_millis(20));
    assert!(start.elapsed() >= Duration::from_millis(20));
}
