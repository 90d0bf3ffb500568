//! A database outage: the app answers 503 (quickly, not hanging) while the database cannot be
//! reached, keeps serving what needs no database, and recovers by itself when it is back.
//! The outage is made by a TCP proxy between the app and PostgreSQL that cuts every
//! connection and turns new ones away.

mod support;

use std::io;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oc_techempower::verify::{ACCEPT_JSON, client};

/// A proxy to PostgreSQL that can be cut.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(target: &'static str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    // Down: turned away at once.
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else { continue };
                let mut open = open2.lock().unwrap();
                open.push(client.try_clone().unwrap());
                open.push(server.try_clone().unwrap());
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    std::thread::spawn(move || {
                        let _ = io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, up, open }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn status(host: &str, path: &str) -> u16 {
    client::get(host, path, ACCEPT_JSON).map(|r| r.status).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn outage_gives_503_then_service_resumes() {
    let _db = support::db_lock();
    // The proxy forwards to the database of `support::database_url()`, which must be the
    // default TCP one on 127.0.0.1:5432.
    let proxy = Arc::new(Proxy::start("127.0.0.1:5432"));
    support::each_backend(move |backend| {
        let proxy = proxy.clone();
        proxy.restore();
        let url = format!("postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:{}/hello_world", proxy.port);
        let server = support::start_app(&url, 4);
        let host = server.local_addrs()[0].to_string();
        assert_eq!(status(&host, "/db"), 200, "{backend:?}: before the outage");
        assert_eq!(status(&host, "/queries?queries=5"), 200);
        assert_eq!(status(&host, "/updates?queries=3"), 200);

        proxy.down();
        for path in ["/db", "/queries?queries=5", "/fortunes", "/updates?queries=3", "/db"] {
            let started = Instant::now();
            let reply = client::get(&host, path, ACCEPT_JSON).unwrap();
            assert_eq!(reply.status, 503, "{backend:?} {path} during the outage: {}", reply.text());
            assert!(reply.text().contains("database"), "{}", reply.text());
            // Fails fast: no waiting for a time-out (generous bound for a loaded machine).
            assert!(started.elapsed() < Duration::from_secs(5), "{backend:?} {path}: 503 took {:?}", started.elapsed());
        }
        // What needs no database is served throughout.
        assert_eq!(status(&host, "/json"), 200);
        assert_eq!(status(&host, "/plaintext"), 200);

        proxy.restore();
        // Back at once: the first request of each kind is answered, though the connection it
        // meets (in particular the one updates take, not used during the outage) was cut.
        for path in ["/updates?queries=3", "/db", "/queries?queries=5", "/fortunes", "/cached-queries?count=3"] {
            assert_eq!(status(&host, path), 200, "{backend:?} {path} after the outage");
        }
        server.shutdown(Duration::from_secs(5));
    });
}
