//! The TechEmpower `/plaintext` and `/json` tests on oc-http.
//!
//! `cargo run --release -p oc-examples --example hello_http -- [PORT]`
//!
//! Listens on 127.0.0.1; the port comes from the first argument or `$PORT` (default 8080),
//! the worker count from `$WORKERS` (default: all CPUs). This is the convention of the
//! reference servers' benchmark scripts.

use oc_http::{Request, Response, Router, Server};

#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

fn main() -> std::io::Result<()> {
    oc_examples::log();
    let port = oc_examples::port(8080)?;
    let rt = oc_examples::runtime("hello")?;
    rt.block_on(move || -> std::io::Result<()> {
        let router = Router::new()
            .get("/plaintext", |_: &Request| {
                Response::new(200).header("Content-Type", "text/plain").static_body(b"Hello, World!")
            })
            .get("/json", |_: &Request| Response::json(&Message { message: "Hello, World!" }));
        let server = Server::new(router).bind(("127.0.0.1", port))?.start();
        eprintln!("hello_http on http://{}/plaintext and /json", server.local_addrs()[0]);
        server.join();
        Ok(())
    })
}
