//! Echo server on tokio, for comparison. Port: first argument or $PORT; workers: $WORKERS.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let port = std::env::args().nth(1).or_else(|| std::env::var("PORT").ok()).unwrap_or_else(|| "7000".into());
    let workers: usize = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()).unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await.expect("bind");
        eprintln!("tokio echo on {port} ({workers} workers)");
        loop {
            let Ok((mut conn, _)) = listener.accept().await else { continue };
            tokio::spawn(async move {
                let _ = conn.set_nodelay(true);
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if conn.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}
