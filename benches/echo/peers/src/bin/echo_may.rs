//! Echo server on may (stackful coroutines), for comparison. Port: first argument or $PORT;
//! workers: $WORKERS.

use std::io::{Read, Write};

fn main() {
    let port = std::env::args().nth(1).or_else(|| std::env::var("PORT").ok()).unwrap_or_else(|| "7000".into());
    let workers: usize = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(2);
    may::config().set_workers(workers);
    let listener = may::net::TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
    eprintln!("may echo on {port} ({workers} workers)");
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        // SAFETY: the closure keeps no thread-local state across suspensions.
        unsafe {
            may::coroutine::spawn(move || {
                let _ = conn.set_nodelay(true);
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    }
}
