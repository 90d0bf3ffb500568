//! `lookup_host`: names are looked up off the worker (a slow look-up leaves the worker's other
//! coroutines running), within a time-out when one is given.

mod support;

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An address whose look-up takes `0` (a plain sleep: no hook reaches a blocking-pool
/// thread, as none reaches a name server's wait in the C library).
struct Slow(Duration);

impl ToSocketAddrs for Slow {
    type Iter = std::vec::IntoIter<SocketAddr>;

    fn to_socket_addrs(&self) -> std::io::Result<Self::Iter> {
        std::thread::sleep(self.0);
        Ok(vec!["127.0.0.1:7".parse().unwrap()].into_iter())
    }
}

#[test]
fn a_slow_lookup_leaves_the_worker_free_and_honours_its_timeout() {
    support::on_each_backend(1, |backend| {
        // One worker: the ticks run only if the look-up does not hold it.
        let ticks = Arc::new(AtomicUsize::new(0));
        let ticker = {
            let ticks = ticks.clone();
            oc_runtime::spawn(move || {
                for _ in 0..10 {
                    oc_runtime::sleep(Duration::from_millis(10));
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let addrs = oc_net::lookup_host(Slow(Duration::from_millis(300)), None).unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:7".parse::<SocketAddr>().unwrap()]);
        assert!(ticks.load(Ordering::Relaxed) >= 5, "{backend:?}: the worker was held by the look-up");
        ticker.join().unwrap();

        let started = Instant::now();
        let err = oc_net::lookup_host(Slow(Duration::from_millis(500)), Some(Duration::from_millis(50))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() < Duration::from_millis(400), "{backend:?}: {:?}", started.elapsed());
    });
}

#[test]
fn names_resolve_and_unknown_ones_are_errors() {
    support::on_each_backend(1, |_| {
        let addrs = oc_net::lookup_host(("localhost", 80), Some(Duration::from_secs(10))).unwrap();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()), "{addrs:?}");
        let err = oc_net::lookup_host("no-such-host.invalid:80".to_owned(), None).unwrap_err();
        assert_ne!(err.kind(), ErrorKind::TimedOut, "{err}");
    });
    // And from a plain thread, which blocks.
    assert!(oc_net::lookup_host("127.0.0.1:9", None).unwrap().contains(&"127.0.0.1:9".parse().unwrap()));
}
