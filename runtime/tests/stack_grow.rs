//! `maybe_grow`: deep recursion on small stacks, in coroutines and on plain threads.

mod support;

use std::time::Duration;

/// Recursion that keeps at least 512 bytes of stack busy per level.
fn deep(n: u64) -> u64 {
    oc_runtime::maybe_grow(16 * 1024, 256 * 1024, || {
        let pad = std::hint::black_box([1u8; 512]);
        if n == 0 { 0 } else { deep(n - 1) + u64::from(pad[511]) }
    })
}

#[test]
fn a_recursion_needing_a_mebibyte_completes_on_a_32_kib_stack() {
    let rt = support::runtime(1);
    let h = rt
        .spawn_with(oc_runtime::task::Builder::new().stack_size(32 * 1024), || {
            // ~4,000 levels of at least 512 bytes each: over 2 MiB of stack in total.
            deep(4000)
        })
        .unwrap();
    assert_eq!(h.join().unwrap(), 4000);
    assert_eq!(rt.metrics().stack_segments, 0, "segments are given back");
    support::shutdown(rt);
}

#[test]
fn a_coroutine_can_suspend_and_move_while_on_a_segment() {
    let rt = support::runtime(2);
    let handles: Vec<_> = (0..20)
        .map(|i| {
            rt.spawn_with(oc_runtime::task::Builder::new().stack_size(32 * 1024), move || {
                fn go(n: u32) -> u32 {
                    oc_runtime::maybe_grow(16 * 1024, 128 * 1024, || {
                        let pad = std::hint::black_box([1u8; 1024]);
                        if n.is_multiple_of(50) {
                            // Suspend deep inside, possibly resuming on the other worker.
                            oc_runtime::sleep(Duration::from_millis(1));
                            oc_runtime::yield_now();
                        }
                        if n == 0 { pad[0] as u32 } else { go(n - 1) + 1 }
                    })
                }
                go(300 + i)
            })
            .unwrap()
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), 301 + i as u32);
    }
    support::shutdown(rt);
}

#[test]
fn a_panic_on_a_segment_comes_back_through_join() {
    let rt = support::runtime(1);
    let h = rt
        .spawn_with(oc_runtime::task::Builder::new().stack_size(32 * 1024), || {
            fn go(n: u32) -> u32 {
                oc_runtime::maybe_grow(8 * 1024, 64 * 1024, || {
                    let pad = std::hint::black_box([0u8; 1024]);
                    if n == 0 { panic!("bottom reached") } else { go(n - 1) + pad[0] as u32 }
                })
            }
            go(200)
        })
        .unwrap();
    let err = h.join().unwrap_err();
    assert_eq!(err.panic_message(), Some("bottom reached"));
    assert_eq!(rt.metrics().stack_segments, 0);
    support::shutdown(rt);
}

#[test]
fn maybe_grow_works_on_plain_threads_and_the_macro_form() {
    fn sum(n: u64) -> u64 {
        oc_runtime::maybe_grow!(if n == 0 { 0 } else { n + sum(n - 1) })
    }
    let total = std::thread::Builder::new().stack_size(128 * 1024).spawn(|| sum(100_000)).unwrap().join().unwrap();
    assert_eq!(total, 5_000_050_000);
    // Plenty of room: no segment, same result.
    assert_eq!(oc_runtime::maybe_grow(1024, 64 * 1024, || 7), 7);
}
