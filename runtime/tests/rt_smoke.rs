//! Smoke: the basics work end to end.

use std::time::{Duration, Instant};

#[test]
fn block_on_spawn_join_sleep() {
    let rt = oc_runtime::Runtime::builder().workers(2).build().unwrap();
    let v = rt.block_on(|| {
        let hs: Vec<_> = (0..100u64)
            .map(|i| {
                oc_runtime::spawn(move || {
                    oc_runtime::sleep(Duration::from_millis(20));
                    i
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(v, 4950);
    let start = Instant::now();
    assert!(rt.shutdown(Duration::from_secs(5)));
    assert!(start.elapsed() < Duration::from_secs(1));
}
