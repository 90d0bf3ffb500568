//! A TCP echo server: one coroutine per connection, plain blocking reads and writes.
//!
//! `cargo run --release -p oc-examples --example echo_server -- [PORT]`
//!
//! The port comes from the first argument or `$PORT` (default 7000), the worker count from
//! `$WORKERS` (default: all CPUs), the IO backend from `$OC_IO_BACKEND`.

use std::io::{Read, Write};

fn main() -> std::io::Result<()> {
    oc_examples::log();
    let port = oc_examples::port(7000)?;
    let rt = oc_examples::runtime("echo")?;
    let listener = oc_net::TcpListener::bind(("127.0.0.1", port))?;
    eprintln!("echo server on {} ({} workers, {:?})", listener.local_addr()?, rt.workers(), rt.io_backend());
    rt.block_on(move || {
        for conn in listener.incoming() {
            match conn {
                Ok(conn) => {
                    oc_runtime::spawn(move || serve(conn));
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
    });
    Ok(())
}

fn serve(mut conn: oc_net::TcpStream) {
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
}
