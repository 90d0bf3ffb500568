//! Sleeping: timers ride on the workers' park timeouts.

mod support;

use std::time::{Duration, Instant};

#[test]
fn one_hundred_thousand_sleepers_finish_in_about_one_period() {
    const N: usize = 100_000;
    const PERIOD: Duration = Duration::from_secs(1);
    // Each sleeping coroutine holds a guard-paged stack: two memory mappings.
    let rt = support::runtime(2);
    support::require_max_map_count(rt.metrics().stack_guard, 2 * N + 20_000);
    // Each sleeper reports when it began and how long it slept: the spawning (and, with
    // mprotect guard pages, each stack's mappings) takes a while on a slow machine, so the
    // period is measured from when each sleeper started.
    let (elapsed, last_start, mut late) = rt.block_on(|| {
        let start = Instant::now();
        let handles: Vec<_> = (0..N)
            .map(|_| {
                oc_runtime::spawn(|| {
                    let began = Instant::now();
                    oc_runtime::sleep(PERIOD);
                    (began, began.elapsed())
                })
            })
            .collect();
        let mut last_start = Duration::ZERO;
        let mut late = Vec::with_capacity(N);
        for h in handles {
            let (began, slept) = h.join().unwrap();
            assert!(slept >= PERIOD, "slept {slept:?} of {PERIOD:?}");
            last_start = last_start.max(began - start);
            late.push(slept - PERIOD);
        }
        (start.elapsed(), last_start, late)
    });
    late.sort();
    let (p50, p99, max) = (late[N / 2], late[N * 99 / 100], late[N - 1]);
    eprintln!("lateness p50 {p50:?}, p99 {p99:?}, max {max:?}; last start {last_start:?}, all done {elapsed:?}");
    // Timers fire on time while the workers are also starting the later sleepers. Measured on
    // a 2-core VM: alone, median 20 µs, p99 5 ms, max 25-90 ms; with the machine's load
    // average at 17, median 86 ms, p99 561 ms, max 3.0 s. So the median and the 99th
    // percentile are held (a timer that waits for a later tick or period moves both), the
    // maximum only reported. With mprotect guard pages each of the 100,000 stacks is made by
    // mmap + mprotect, which take the process's memory-map lock for writing, likely while the
    // other worker's sleepers fault in their fresh stacks: a CI run with other tests beside it
    // gave median 2 ms but p99 1.09 s. There the 99th percentile may reach two periods; timers
    // that wait a period too long as a rule still move the median.
    let p99_bound = match rt.metrics().stack_guard {
        oc_runtime::StackGuard::Protect => PERIOD * 2,
        _ => PERIOD,
    };
    assert!(p50 < Duration::from_millis(150), "median lateness {p50:?} (p99 {p99:?}, max {max:?})");
    assert!(p99 < p99_bound, "1% of the sleepers woke {p99:?} late or more (p50 {p50:?}, max {max:?})");
    assert!(elapsed < last_start + PERIOD * 3, "took {elapsed:?}; the last sleeper began at {last_start:?}");
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
