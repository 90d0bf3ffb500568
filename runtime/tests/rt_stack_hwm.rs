//! Stack high-water marks: measured when a coroutine's stack returns to the pool, counted in
//! power-of-two buckets in `RuntimeMetrics::stack_high_water`, right for reused stacks.

mod support;

use std::hint::black_box;

use oc_runtime::{Runtime, StackHistogram};

const KIB: usize = 1024;

fn runtime(name: &str) -> Runtime {
    Runtime::builder()
        .workers(1)
        .name(name)
        .stack_size(256 * KIB)
        .stack_high_water(true)
        .build()
        .expect("runtime starts")
}

/// Uses `kib` KiB of stack in one frame, every byte written non-zero.
#[inline(never)]
fn use_stack(kib: usize) -> u64 {
    match kib {
        96 => fill::<{ 96 * KIB }>(),
        24 => fill::<{ 24 * KIB }>(),
        _ => unreachable!(),
    }
}

#[inline(never)]
fn fill<const N: usize>() -> u64 {
    let mut buf = [0u8; N];
    black_box(&mut buf);
    buf.fill(0x5a);
    black_box(&buf).iter().map(|&b| b as u64).sum()
}

fn bucket_range(hist: &StackHistogram, lo: usize, hi: usize) -> u64 {
    (0..StackHistogram::BUCKETS)
        .filter(|&b| {
            let upper = StackHistogram::upper_bound(b).unwrap_or(usize::MAX);
            upper > lo && upper <= hi
        })
        .map(|b| hist.counts[b])
        .sum()
}

#[test]
fn a_deep_coroutine_and_a_tiny_one_land_in_their_buckets() {
    let rt = runtime("hwm-buckets");
    rt.spawn(|| use_stack(96)).join().unwrap();
    let hist = rt.metrics().stack_high_water;
    assert_eq!(hist.count(), 1, "{hist:?}");
    let deep = StackHistogram::bucket_of(100 * KIB);
    assert_eq!(hist.counts[deep], 1, "~100 KiB of stack is in the 64..128 KiB bucket: {hist:?}");
    assert!(hist.max >= 96 * KIB && hist.max < 128 * KIB, "max {}", hist.max);

    rt.spawn(|| 1 + 1).join().unwrap();
    let hist = rt.metrics().stack_high_water;
    assert_eq!(hist.count(), 2);
    // A trivial coroutine (runtime frames and the closure, debug build) stays within 16 KiB.
    assert_eq!(bucket_range(&hist, 0, 16 * KIB), 1, "{hist:?}");
    support::shutdown(rt);
}

#[test]
fn reused_stacks_are_measured_afresh() {
    // One worker: each coroutine below reuses the stack the previous one returned.
    let rt = runtime("hwm-reuse");
    for round in 0..3 {
        rt.spawn(|| use_stack(96)).join().unwrap();
        for _ in 0..50 {
            rt.spawn(|| black_box(7)).join().unwrap();
        }
        rt.spawn(|| use_stack(24)).join().unwrap();
        let hist = rt.metrics().stack_high_water;
        let rounds = round as u64 + 1;
        assert_eq!(hist.counts[StackHistogram::bucket_of(100 * KIB)], rounds, "round {round}: {hist:?}");
        // 24 KiB and a little more: the 16..32 KiB bucket.
        assert_eq!(hist.counts[StackHistogram::bucket_of(24 * KIB)], rounds, "round {round}: {hist:?}");
        assert_eq!(bucket_range(&hist, 0, 16 * KIB), 50 * rounds, "round {round}: {hist:?}");
    }
    let m = rt.metrics();
    assert!(m.stacks_mapped <= 3, "the coroutines reused pooled stacks: {m:?}");
    support::shutdown(rt);
}

#[test]
fn stacks_of_other_sizes_and_many_at_once_are_measured() {
    let rt = runtime("hwm-many");
    let handles: Vec<_> = (0..200)
        .map(|i| {
            let b = oc_runtime::task::Builder::new().stack_size(if i % 2 == 0 { 512 * KIB } else { 0 });
            rt.spawn_with(b, move || {
                // Several alive at once, so several stacks are in use.
                oc_runtime::yield_now();
                if i % 10 == 0 { use_stack(96) } else { black_box(i as u64) }
            })
            .unwrap()
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let hist = rt.metrics().stack_high_water;
    assert_eq!(hist.count(), 200, "{hist:?}");
    assert_eq!(hist.counts[StackHistogram::bucket_of(100 * KIB)], 20, "{hist:?}");
    assert_eq!(bucket_range(&hist, 0, 16 * KIB), 180, "{hist:?}");
    assert_eq!(hist.quantile_bound(0.5), Some(bucket_bound_of_tiny(&hist)));
    assert_eq!(hist.quantile_bound(1.0), Some(128 * KIB));
    support::shutdown(rt);
}

/// The upper bound of the lowest non-empty bucket.
fn bucket_bound_of_tiny(hist: &StackHistogram) -> usize {
    let first = hist.counts.iter().position(|&n| n > 0).unwrap();
    StackHistogram::upper_bound(first).unwrap()
}

#[test]
fn measuring_can_be_off() {
    let rt = Runtime::builder().workers(1).name("hwm-off").stack_high_water(false).build().unwrap();
    rt.spawn(|| use_stack(24)).join().unwrap();
    let hist = rt.metrics().stack_high_water;
    assert!(hist.counts.is_empty() && hist.max == 0, "{hist:?}");
    support::shutdown(rt);
}

#[test]
fn buckets_are_powers_of_two() {
    assert_eq!(StackHistogram::bucket_of(0), 0);
    assert_eq!(StackHistogram::bucket_of(1023), 0);
    assert_eq!(StackHistogram::bucket_of(1024), 1);
    assert_eq!(StackHistogram::bucket_of(2047), 1);
    assert_eq!(StackHistogram::bucket_of(2048), 2);
    assert_eq!(StackHistogram::bucket_of(100 * KIB), 7);
    assert_eq!(StackHistogram::upper_bound(7), Some(128 * KIB));
    assert_eq!(StackHistogram::bucket_of(usize::MAX), StackHistogram::BUCKETS - 1);
    assert_eq!(StackHistogram::upper_bound(StackHistogram::BUCKETS - 1), None);
}
