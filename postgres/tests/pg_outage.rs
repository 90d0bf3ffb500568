//! A real outage: the server stops while clients and a pool are connected, then comes back.
//! Calls fail fast with clear errors while it is down and work again, by themselves, once
//! it is up.

mod support;

#[path = "support/cluster.rs"]
mod cluster;

use std::sync::Arc;
use std::time::{Duration, Instant};

use oc_postgres::{Client, ErrorKind, PoolConfig};

const HBA: &str = "\
local all all trust
host all all 127.0.0.1/32 trust
";

#[test]
fn server_restart_fails_fast_then_recovers() {
    let cluster = Arc::new(cluster::Cluster::start(HBA));
    support::on_each_backend(2, {
        let cluster = cluster.clone();
        move |backend| {
            let url = cluster.url("postgres");
            let mut client = Client::connect(&url).unwrap();
            let stmt = client.prepare("SELECT $1::int4 + 1").unwrap();
            assert_eq!(client.query_one(&stmt, &[&1i32]).unwrap().get::<_, i32>(0), 2);
            let pool = PoolConfig::new(&url).unwrap().size(2).health_check_after(Some(Duration::ZERO)).build().unwrap();
            pool.get().unwrap().check().unwrap();

            cluster.stop();
            // The connected client learns its session is gone...
            let start = Instant::now();
            let err = client.query_one(&stmt, &[&1i32]).unwrap_err();
            assert!(err.is_unavailable(), "{backend:?}: {err}");
            assert!(matches!(err.kind(), ErrorKind::Closed | ErrorKind::Io), "{err}");
            // ...and every call while the server is down fails at once, with a clear error.
            for _ in 0..5 {
                let err = client.query_one(&stmt, &[&1i32]).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
                assert!(err.to_string().contains("could not connect"), "{err}");
                let err = pool.get().unwrap_err();
                assert!(err.is_unavailable(), "{err}");
            }
            assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());

            cluster.resume();
            // Back by itself: the client reconnects and re-parses its statement; the pool's
            // health check replaces its dead session.
            assert_eq!(client.query_one(&stmt, &[&41i32]).unwrap().get::<_, i32>(0), 42);
            let mut c = pool.get().unwrap();
            let s = c.prepare("SELECT 7").unwrap();
            assert_eq!(c.query_one(&s, &[]).unwrap().get::<_, i32>(0), 7);
        }
    });
}
