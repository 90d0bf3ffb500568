//! The pool under many coroutines: bounded connections, hand-off to waiters, checkout
//! time-out, health checks after a server-side kill.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oc_postgres::{ErrorKind, Pool, PoolConfig, PoolMode};

fn hammer(pool: &Pool, coroutines: i32, rounds: i32) {
    let peak = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..coroutines)
        .map(|i| {
            let pool = pool.clone();
            let peak = peak.clone();
            oc_runtime::spawn(move || {
                for r in 0..rounds {
                    let mut c = pool.get().unwrap();
                    peak.fetch_max(pool.open(), Ordering::Relaxed);
                    let stmt = c.prepare("SELECT $1::int4 * 2, pg_backend_pid()").unwrap();
                    let row = c.query_one(&stmt, &[&(i * 1000 + r)]).unwrap();
                    assert_eq!(row.get::<_, i32>(0), 2 * (i * 1000 + r));
                    if r % 3 == 0 {
                        oc_runtime::yield_now();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(peak.load(Ordering::Relaxed) <= pool.size(), "more connections than the pool size");
}

#[test]
fn many_coroutines_few_connections() {
    support::on_each_backend(2, |backend| {
        let pool = PoolConfig::new(&support::url()).unwrap().size(4).build().unwrap();
        hammer(&pool, 200, 10);
        assert!(pool.open() <= 4, "{backend:?}: {pool:?}");
        assert_eq!(pool.idle(), pool.open(), "every client came back");

        let pool =
            PoolConfig::new(&support::url()).unwrap().size(4).mode(PoolMode::PerWorker).shards(2).build().unwrap();
        hammer(&pool, 200, 10);
        assert!(pool.open() <= 4, "{pool:?}");
        assert_eq!(pool.idle(), pool.open());
    });
}

#[test]
fn checkout_timeout_and_handoff() {
    support::on_each_backend(2, |_| {
        let pool = PoolConfig::new(&support::url())
            .unwrap()
            .size(1)
            .checkout_timeout(Some(Duration::from_millis(200)))
            .build()
            .unwrap();
        let held = pool.get().unwrap();
        let start = Instant::now();
        let err = pool.get().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(start.elapsed() < Duration::from_secs(5));

        // A waiter is handed the client as soon as it is returned.
        let p = pool.clone();
        let waiter = oc_runtime::spawn(move || {
            let start = Instant::now();
            let mut c = p.get().unwrap();
            c.check().unwrap();
            start.elapsed()
        });
        oc_runtime::sleep(Duration::from_millis(50));
        drop(held);
        let waited = waiter.join().unwrap();
        assert!(waited < Duration::from_millis(200), "{waited:?}");
        assert_eq!(pool.open(), 1);
    });
}

#[test]
fn health_check_replaces_killed_connections() {
    support::on_each_backend(2, |_| {
        let pool =
            PoolConfig::new(&support::url()).unwrap().size(3).health_check_after(Some(Duration::ZERO)).build().unwrap();
        let mut pids = Vec::new();
        {
            let mut held: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
            for c in &mut held {
                let s = c.prepare("SELECT pg_backend_pid()").unwrap();
                pids.push(c.query_one(&s, &[]).unwrap().get::<_, i32>(0));
            }
        }
        let mut admin = support::client();
        for pid in &pids {
            admin.batch_execute(&format!("SELECT pg_terminate_backend({pid})")).unwrap();
        }
        oc_runtime::sleep(Duration::from_millis(100));
        // Every checkout gets a working connection: the check finds the dead ones.
        for _ in 0..6 {
            let mut c = pool.get().unwrap();
            let s = c.prepare("SELECT pg_backend_pid()").unwrap();
            let pid: i32 = c.query_one(&s, &[]).unwrap().get(0);
            assert!(!pids.contains(&pid));
        }
        assert!(pool.open() <= 3);
    });
}

#[test]
fn a_client_left_in_a_transaction_block_is_not_handed_on() {
    support::on_each_backend(1, |_| {
        let pool = Pool::new(&support::url(), 1).unwrap();
        {
            let mut c = pool.get().unwrap();
            c.batch_execute("BEGIN; CREATE TEMP TABLE leak (x int)").unwrap();
        }
        let mut c = pool.get().unwrap();
        // The session was closed, so the temp table (and the open transaction) are gone.
        assert!(c.simple_query("SELECT count(*) FROM leak").is_err());
        let rows = c.simple_query("SELECT 1").unwrap();
        assert_eq!(rows[0].get(0), Some("1"));
    });
}

#[test]
fn bad_pool_settings_are_errors() {
    assert_eq!(Pool::new(&support::url(), 0).unwrap_err().kind(), ErrorKind::Config);
    assert_eq!(Pool::new("nope://", 1).unwrap_err().kind(), ErrorKind::Config);
    let err = PoolConfig::new(&support::url()).unwrap().mode(PoolMode::PerWorker).shards(0).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

/// Per worker, the whole size is usable from one thread: a caller whose shard is in use
/// borrows another shard's room before it waits.
fn lends_between_shards() {
    let pool = PoolConfig::new(&support::url())
        .unwrap()
        .size(2)
        .mode(PoolMode::PerWorker)
        .shards(2)
        .checkout_timeout(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let mut a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    a.check().unwrap();
    b.check().unwrap();
    assert_eq!(pool.open(), 2);
    let start = Instant::now();
    assert_eq!(pool.get().unwrap_err().kind(), ErrorKind::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(100));
    drop(b);
    let mut c = pool.get().unwrap();
    c.check().unwrap();
    assert_eq!(pool.open(), 2);
}

#[test]
fn per_worker_pool_lends_between_shards() {
    // One worker: every coroutine asks from the same shard. And a plain thread, which
    // waits by parking.
    support::on_each_backend(1, |_| lends_between_shards());
    lends_between_shards();
}

/// Many coroutines waiting at once all time out on time (one reaper serves them all).
#[test]
fn many_waiters_time_out_together() {
    support::on_each_backend(2, |_| {
        let timeout = Duration::from_millis(300);
        let pool = PoolConfig::new(&support::url()).unwrap().size(1).checkout_timeout(Some(timeout)).build().unwrap();
        let held = pool.get().unwrap();
        let start = Instant::now();
        let waiters: Vec<_> = (0..50)
            .map(|_| {
                let pool = pool.clone();
                oc_runtime::spawn(move || pool.get().map(|_| ()).unwrap_err().kind())
            })
            .collect();
        for w in waiters {
            assert_eq!(w.join().unwrap(), ErrorKind::Timeout);
        }
        assert!(start.elapsed() >= timeout);
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        drop(held);
        pool.get().unwrap().check().unwrap();
    });
}

/// A pool outlives the runtime its reaper ran on: waits on the next runtime still time out.
#[test]
fn checkout_timeout_survives_a_runtime_shutdown() {
    let pool = PoolConfig::new(&support::url())
        .unwrap()
        .size(1)
        .checkout_timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    for backend in support::BACKENDS {
        let rt = support::runtime(backend, 2);
        let p = pool.clone();
        rt.block_on(move || {
            let held = p.get().unwrap();
            let mut waiter = {
                let p = p.clone();
                oc_runtime::spawn(move || p.get().map(|_| ()).unwrap_err().kind())
            };
            // Let it queue (and start the reaper), then leave it to the shutdown.
            oc_runtime::sleep(Duration::from_millis(50));
            assert!(waiter.timeout_join(Duration::from_millis(10)).unwrap_err().is_timeout());
            std::mem::forget(waiter);
            drop(held);
        });
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}");
        let rt = support::runtime(backend, 2);
        let p = pool.clone();
        rt.block_on(move || {
            let _held = p.get().unwrap();
            let mut waiter = {
                let p = p.clone();
                oc_runtime::spawn(move || p.get().map(|_| ()).unwrap_err().kind())
            };
            let got = waiter.timeout_join(Duration::from_secs(10)).expect("the wait timed out in time");
            assert_eq!(got, ErrorKind::Timeout);
        });
        assert!(rt.shutdown(Duration::from_secs(10)), "{backend:?}");
    }
}

/// A waiter cancelled after it was handed a client gives the client back: the pool keeps
/// its room.
#[test]
fn a_cancelled_waiter_gives_back_what_it_was_handed() {
    support::on_each_backend(1, |backend| {
        let pool = PoolConfig::new(&support::url())
            .unwrap()
            .size(1)
            .checkout_timeout(Some(Duration::from_secs(2)))
            .build()
            .unwrap();
        let held = pool.get().unwrap();
        let waiter = {
            let p = pool.clone();
            oc_runtime::spawn(move || p.get().map(|_| ()))
        };
        oc_runtime::sleep(Duration::from_millis(50));
        // One worker: the waiter is handed the client but cannot run before it is cancelled.
        drop(held);
        waiter.cancel();
        assert!(waiter.join().unwrap_err().is_cancelled(), "{backend:?}");
        let start = Instant::now();
        let mut c = pool.get().expect("the client came back");
        c.check().unwrap();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(pool.open(), 1);
    });
}

/// Per worker, a client returned to a shard nobody waits in goes to a waiter of another
/// shard, instead of idling while that waiter times out.
#[test]
fn per_worker_returns_reach_waiters_of_other_shards() {
    support::on_each_backend(1, |backend| {
        let pool = PoolConfig::new(&support::url())
            .unwrap()
            .size(2)
            .mode(PoolMode::PerWorker)
            .shards(2)
            .checkout_timeout(Some(Duration::from_secs(3)))
            .build()
            .unwrap();
        // One worker, so one home shard: `a` is from it, `b` borrowed from the other.
        let a = pool.get().unwrap();
        let b = pool.get().unwrap();
        let waiter = {
            let p = pool.clone();
            oc_runtime::spawn(move || {
                let start = Instant::now();
                let mut c = p.get()?;
                c.check()?;
                Ok::<_, oc_postgres::Error>(start.elapsed())
            })
        };
        oc_runtime::sleep(Duration::from_millis(100));
        drop(b);
        let waited = waiter.join().unwrap().unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        assert!(waited < Duration::from_secs(1), "{waited:?}");
        drop(a);
        assert_eq!(pool.open(), 2);
        assert_eq!(pool.idle(), 2);
    });
}

/// Bursts of checkouts on a per-worker pool smaller than the demand, with idle gaps: every
/// burst completes quickly (a waiter that missed a client returned to another shard would
/// sit out its whole checkout time-out).
#[test]
fn per_worker_bursts_never_stall() {
    support::on_each_backend(2, |backend| {
        let pool = PoolConfig::new(&support::url())
            .unwrap()
            .size(2)
            .mode(PoolMode::PerWorker)
            .shards(2)
            .checkout_timeout(Some(Duration::from_secs(20)))
            .build()
            .unwrap();
        for round in 0..30 {
            let start = Instant::now();
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let pool = pool.clone();
                    oc_runtime::spawn(move || pool.get().and_then(|mut c| c.check()))
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
            // Generous for a loaded machine; a lost hand-off would take the full 20 s.
            assert!(start.elapsed() < Duration::from_secs(10), "{backend:?} round {round}: {:?}", start.elapsed());
            assert!(pool.open() <= 2);
            oc_runtime::sleep(Duration::from_millis(5));
        }
    });
}
