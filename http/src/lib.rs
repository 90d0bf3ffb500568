//! An HTTP/1.1 server whose handlers are plain blocking functions, on oc coroutines.
//!
//! One coroutine per connection reads into a buffer (taken from a per-thread pool when bytes
//! arrive, so an idle connection holds none), parses every complete request in it
//! (pipelining), calls the handler for each, encodes every response into one output buffer
//! (up to `Limits::max_output`, past which it writes before answering more) and writes it
//! with one call. Handlers may block on anything: a database, a file,
//! another service; they suspend only their connection's coroutine.
//!
//! ```
//! use std::io::{Read, Write};
//! use oc_http::{Request, Response, Router, Server};
//!
//! let rt = oc_runtime::Runtime::builder().workers(2).build()?;
//! rt.block_on(|| -> std::io::Result<()> {
//!     let router = Router::new()
//!         .get("/hello/:name", |req: &Request| Response::text(format!("Hello, {}!", req.param("name").unwrap())));
//!     let server = Server::new(router).bind("127.0.0.1:0")?.start();
//!     let addr = server.local_addrs()[0];
//!     let mut c = oc_net::TcpStream::connect(addr)?;
//!     c.write_all(b"GET /hello/oc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//!     let mut resp = String::new();
//!     c.read_to_string(&mut resp)?;
//!     assert!(resp.starts_with("HTTP/1.1 200 OK") && resp.ends_with("Hello, oc!"));
//!     server.shutdown(std::time::Duration::from_secs(1));
//!     Ok(())
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Semantics: HTTP/1.1 and 1.0, keep-alive and `Connection: close`, pipelining (responses in
//! request order), `HEAD`, `Expect: 100-continue`, chunked request bodies (with trailers) and
//! streamed responses (chunked, or with `Content-Length` when the length is known:
//! `Response::stream_sized`, which static files over 64 KiB use), request-smuggling defences,
//! limits (414, 431, 413) and time-outs (408), a cap on connections, graceful shutdown.

mod authority;
mod body;
mod config;
mod conn;
mod date;
mod files;
mod head;
mod log;
mod parse;
pub mod proxy;
mod request;
mod response;
mod router;
mod sendfile;
mod server;
mod sys;
mod tls;

pub use body::RequestBody;
pub use config::Limits;
pub use files::StaticFiles;
#[doc(hidden)]
pub use head::{HeadProbe, HeadRefusal};
pub use request::{Request, Version};
pub use response::{Response, StreamFn};
pub use router::{Handler, Router, StreamHandler};
pub use server::{Server, ServerHandle};
pub use tls::TlsConfig;

/// For the fuzz target (`http/fuzz`): parses `data` as a pipeline of requests the way a
/// connection does, and panics unless every way of receiving it gives the same requests.
///
/// Compared, request by request: method, target, version, every header and the body, or the
/// refusal status. The ways: all at once; every prefix alone (it must give a prefix of the
/// whole outcome: no request the whole does not have, and a refusal only where the whole
/// refuses the same); and every split in two reads (the first part, then the rest arriving
/// on the same buffer), which must give exactly the whole outcome.
#[doc(hidden)]
pub fn fuzz_parse(data: &[u8]) {
    type Parsed = Result<(String, String, String, Vec<(String, Vec<u8>)>, Vec<u8>), u16>;
    let limits = Limits::default();
    // Parses `data`, of which only `data[..first]` has arrived at first, then the rest.
    let outcome = |data: &[u8], first: usize| -> Vec<Parsed> {
        let mut req = Request::new("", "");
        let mut parser = parse::Parser::default();
        req.buf = data.to_vec();
        let mut seen = Vec::new();
        let mut start = 0;
        for end in [first, data.len()] {
            while start < end {
                match parser.parse(&mut req, start, end, &limits) {
                    Ok(parse::Parse::Done(used)) => {
                        assert!(used > 0 && start + used <= end, "used {used} of {start}..{end}");
                        let headers = req.headers().map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec())).collect();
                        seen.push(Ok((
                            req.method().to_owned(),
                            req.target().to_owned(),
                            format!("{:?}", req.version()),
                            headers,
                            req.body().to_vec(),
                        )));
                        start += used;
                    }
                    Ok(parse::Parse::Need { .. } | parse::Parse::Head) => break,
                    Err(status) => {
                        seen.push(Err(status));
                        return seen;
                    }
                }
            }
        }
        seen
    };
    let whole = outcome(data, data.len());
    for cut in 0..data.len() {
        let part = outcome(&data[..cut], cut);
        let agrees = part.len() <= whole.len()
            && part.iter().zip(&whole).enumerate().all(|(i, (p, w))| {
                // A prefix may end inside a request the whole refuses (a head or body over a
                // limit is refused as soon as it is over it, however it arrived).
                p == w || (i + 1 == part.len() && p.is_err() && w.is_err())
            });
        assert!(agrees, "the first {cut} bytes alone parse differently: {part:?}\nwhole: {whole:?}");
        let split = outcome(data, cut);
        assert_eq!(split, whole, "received as {cut} bytes, then the rest");
    }
}
