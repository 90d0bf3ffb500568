//! A coroutine cancelled in the middle of a query: its client is not reused with the
//! abandoned replies still on the wire, and nothing aborts.

mod support;

use std::time::{Duration, Instant};

use oc_postgres::Pool;

#[test]
fn cancelled_mid_query_does_not_poison_the_pool() {
    support::on_each_backend(2, |backend| {
        let pool = Pool::new(&support::url(), 1).unwrap();
        let p = pool.clone();
        let sleeper = oc_runtime::spawn(move || {
            let mut c = p.get().unwrap();
            // Rows come back only after the sleep: cancelled before that, they would be
            // left on the wire.
            let stmt = c.prepare("SELECT 1000 + g FROM generate_series(1, 3) g, pg_sleep(1)").unwrap();
            c.query(&stmt, &[]).unwrap()
        });
        oc_runtime::sleep(Duration::from_millis(200));
        sleeper.cancel();
        let err = sleeper.join().unwrap_err();
        assert!(err.is_cancelled(), "{backend:?}: {err:?}");

        // Wait past the sleep so the stale rows have arrived, then reuse the one client.
        oc_runtime::sleep(Duration::from_millis(1200));
        let start = Instant::now();
        let mut c = pool.get().unwrap();
        let stmt = c.prepare("SELECT $1::int4").unwrap();
        for i in 0..3i32 {
            assert_eq!(c.query_one(&stmt, &[&i]).unwrap().get::<_, i32>(0), i, "a stale reply was read");
        }
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}
