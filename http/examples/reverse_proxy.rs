//! A reverse proxy on oc-http: every request goes to the upstreams in turn.
//!
//! `cargo run --release -p oc-http --example reverse_proxy -- [PORT] [UPSTREAM...]`
//!
//! Listens on 127.0.0.1; the port comes from the first argument or `$PORT` (default 8081),
//! the upstreams (`host:port`) from the other arguments or `$UPSTREAMS` (comma-separated,
//! default `127.0.0.1:8080`), the worker count from `$WORKERS` (default: all CPUs). With
//! `hello_http` (oc-examples) on 8080 it proxies `/plaintext` for the benchmarks
//! (`docs/benchmarks.md`, "Reverse proxy").

use oc_http::proxy::{ProxyConfig, ReverseProxy};
use oc_http::{Router, Server};

fn main() -> std::io::Result<()> {
    // The libraries report through `tracing`: their events go to standard error.
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let mut args = std::env::args().skip(1);
    let port: u16 = match args.next().or_else(|| std::env::var("PORT").ok()) {
        Some(p) => {
            p.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("port {p:?}: {e}")))?
        }
        None => 8081,
    };
    let mut upstreams: Vec<String> = args.collect();
    if upstreams.is_empty() {
        let list = std::env::var("UPSTREAMS").unwrap_or_else(|_| "127.0.0.1:8080".into());
        upstreams = list.split(',').map(str::to_owned).collect();
    }
    let mut builder = oc_runtime::Runtime::builder();
    if let Some(workers) = std::env::var("WORKERS").ok().and_then(|w| w.parse().ok()) {
        builder = builder.workers(workers);
    }
    let rt = builder.build()?;
    rt.block_on(move || -> std::io::Result<()> {
        let proxy = ReverseProxy::new(ProxyConfig::new(upstreams))?;
        let server = Server::new(Router::new().streaming(None, "/*path", proxy)).bind(("127.0.0.1", port))?.start();
        eprintln!("reverse_proxy on http://{}/", server.local_addrs()[0]);
        server.join();
        Ok(())
    })
}
