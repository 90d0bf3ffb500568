//! Spawning and joining at scale, from coroutines and from plain threads.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn one_million_coroutines_spawned_and_joined() {
    const N: usize = 1_000_000;
    let rt = support::runtime(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    let sum = rt.block_on(move || {
        let mut sum = 0u64;
        // Spawn all of them before joining any: queued coroutines own no stack.
        let handles: Vec<_> = (0..N as u64)
            .map(|i| {
                let ran = ran2.clone();
                oc_runtime::spawn(move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                    i
                })
            })
            .collect();
        for h in handles {
            sum += h.join().unwrap();
        }
        sum
    });
    assert_eq!(ran.load(Ordering::Relaxed), N);
    assert_eq!(sum, (N as u64 - 1) * N as u64 / 2);
    let m = rt.metrics();
    assert_eq!(m.spawned, N as u64 + 1, "{m:?}");
    assert_eq!(m.alive, 0, "{m:?}");
    support::shutdown(rt);
}

#[test]
fn spawn_and_join_from_plain_threads() {
    let rt = Arc::new(support::runtime(2));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let rt = rt.clone();
            std::thread::spawn(move || {
                let handles: Vec<_> = (0..1000u64).map(|i| rt.spawn(move || t * 1000 + i)).collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, (0..4000u64).sum::<u64>());
    let rt = Arc::into_inner(rt).unwrap();
    support::shutdown(rt);
}

#[test]
fn nested_spawns_and_block_on_inside_a_coroutine() {
    let rt = support::runtime(2);
    let depth = rt.block_on(|| {
        fn go(n: u32) -> u32 {
            if n == 0 { 0 } else { oc_runtime::spawn(move || go(n - 1)).join().unwrap() + 1 }
        }
        go(200) + oc_runtime::block_on(|| 1)
    });
    assert_eq!(depth, 201);
    support::shutdown(rt);
}

#[test]
fn task_builder_name_priority_and_stack_size() {
    let rt = support::runtime(1);
    rt.block_on(|| {
        let h = oc_runtime::task::Builder::new()
            .name("named")
            .stack_size(32 * 1024)
            .priority(3)
            .spawn(|| (oc_runtime::current_name(), oc_runtime::current_id()))
            .unwrap();
        let id = h.id();
        assert_eq!(h.name(), Some("named"));
        let (name, seen_id) = h.join().unwrap();
        assert_eq!(name.as_deref(), Some("named"));
        assert_eq!(seen_id, Some(id));
        assert!(oc_runtime::in_coroutine());
    });
    assert!(!oc_runtime::in_coroutine());
    assert_eq!(oc_runtime::current_id(), None);
    support::shutdown(rt);
}

#[test]
fn task_macro_passes_the_parameter() {
    let rt = support::runtime(1);
    rt.block_on(|| {
        let a = oc_runtime::task!(|p: u32| p + 1, 41);
        let b = oc_runtime::task!(|s: String| s.len(), "hello".to_owned(), 5);
        let c = oc_runtime::task!(|p: u8| p, 7, None::<i64>);
        assert_eq!(a.join().unwrap(), 42);
        assert_eq!(b.join().unwrap(), 5);
        assert_eq!(c.join().unwrap(), 7);
    });
    support::shutdown(rt);
}

#[test]
fn global_runtime_spawn_from_main_thread() {
    let h = oc_runtime::spawn(|| {
        oc_runtime::yield_now();
        oc_runtime::current_id().is_some()
    });
    assert!(h.join().unwrap());
    assert_eq!(oc_runtime::block_on(|| 5), 5);
}

#[test]
fn spawning_on_a_runtime_that_shuts_down_is_an_error() {
    use std::sync::Mutex;
    struct SpawnOnDrop(Arc<Mutex<Option<String>>>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let result = oc_runtime::task::Builder::new().spawn(|| ());
            *self.0.lock().unwrap() = Some(match result {
                Ok(_) => "spawned".to_owned(),
                Err(e) => e.to_string(),
            });
        }
    }
    let rt = support::runtime(1);
    let seen = Arc::new(Mutex::new(None));
    let guard = SpawnOnDrop(seen.clone());
    let _h = rt.spawn(move || {
        let _g = guard;
        oc_runtime::sleep(std::time::Duration::from_secs(60));
    });
    std::thread::sleep(std::time::Duration::from_millis(20));
    support::shutdown(rt);
    let seen = seen.lock().unwrap().clone().expect("destructor ran");
    assert!(seen.contains("shutting down"), "{seen}");
}
