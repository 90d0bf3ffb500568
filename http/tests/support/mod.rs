//! Helpers for the oc-http integration tests: a server on a fresh runtime and a raw-socket
//! client that parses responses.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use oc_http::{Limits, Request, Response, Router, Server, ServerHandle};

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

thread_local! {
    /// The IO backend of the servers this thread starts (`None`: the runtime's default).
    static BACKEND: std::cell::Cell<Option<oc_runtime::IoBackend>> = const { std::cell::Cell::new(None) };
}

/// Runs `test` once on each IO backend: the servers it starts with `server`/`server_with` run
/// on io_uring, then on epoll. Where the kernel refuses io_uring the io_uring pass is skipped
/// with a note, unless `OC_REQUIRE_IO_URING=1` (set by CI, whose machines have it): then the
/// test fails, so that no run passes without testing what it claims.
pub(crate) fn each_backend(test: impl Fn(oc_runtime::IoBackend)) {
    static URING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let uring = *URING.get_or_init(|| {
        match oc_runtime::Runtime::builder().workers(1).io_backend(oc_runtime::IoBackend::Uring).build() {
            Ok(rt) => rt.shutdown(Duration::from_secs(5)),
            Err(e) => {
                assert!(
                    std::env::var_os("OC_REQUIRE_IO_URING").is_none_or(|v| v != "1"),
                    "io_uring is required (OC_REQUIRE_IO_URING=1) but unavailable: {e}"
                );
                eprintln!("io_uring unavailable, testing epoll only: {e}");
                false
            }
        }
    });
    for backend in [oc_runtime::IoBackend::Uring, oc_runtime::IoBackend::Epoll] {
        if backend == oc_runtime::IoBackend::Uring && !uring {
            continue;
        }
        BACKEND.set(Some(backend));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(backend)));
        BACKEND.set(None);
        if let Err(payload) = result {
            eprintln!("the test failed on the {backend:?} backend");
            std::panic::resume_unwind(payload);
        }
    }
}

/// A two-worker runtime on this thread's backend (see `each_backend`).
pub(crate) fn runtime() -> oc_runtime::Runtime {
    let mut builder = oc_runtime::Runtime::builder().workers(2);
    if let Some(backend) = BACKEND.get() {
        builder = builder.io_backend(backend);
    }
    let rt = builder.build().unwrap();
    if let Some(backend) = BACKEND.get() {
        assert_eq!(rt.io_backend(), backend, "the runtime runs on another backend than asked");
    }
    rt
}

/// The router most tests use.
pub(crate) fn test_router() -> Router {
    Router::new()
        .get("/plaintext", |_: &Request| Response::text("Hello, World!"))
        .get("/json", |_: &Request| Response::json(&serde_json::json!({"message": "Hello, World!"})))
        .get("/users/:id", |r: &Request| Response::text(format!("user {}", r.param("id").unwrap())))
        .get("/files/*path", |r: &Request| Response::text(format!("file {}", r.param("path").unwrap())))
        .post("/echo", |r: &Request| Response::new(200).body(r.body().to_vec()))
        .put("/users/:id", |r: &Request| Response::text(format!("put {}", r.param("id").unwrap())))
        .get("/query", |r: &Request| Response::text(format!("{:?}", r.query_param("q"))))
        .get("/slow", |_: &Request| {
            oc_runtime::sleep(Duration::from_millis(300));
            Response::text("slow done")
        })
        .get("/panic", |_: &Request| -> Response { panic!("handler bug") })
        .get("/stream", |_: &Request| {
            Response::stream(|w| {
                for i in 0..5 {
                    write!(w, "part {i};")?;
                    w.flush()?;
                }
                Ok(())
            })
        })
        .get("/sized/:len/:written", |r: &Request| {
            // Announces `len` bytes and writes `written` in pieces of 3.
            let len: u64 = r.param("len").unwrap().parse().unwrap();
            let written: usize = r.param("written").unwrap().parse().unwrap();
            Response::stream_sized(len, move |w| {
                let bytes: Vec<u8> = (0..written).map(|i| b'a' + (i % 26) as u8).collect();
                for piece in bytes.chunks(3) {
                    w.write_all(piece)?;
                }
                Ok(())
            })
        })
}

/// Runs a server with `router` and `limits` on a fresh runtime; returns the runtime, the
/// handle and the address.
pub(crate) fn server_with(router: Router, limits: Limits) -> (oc_runtime::Runtime, ServerHandle, SocketAddr) {
    let rt = runtime();
    let handle = rt.block_on(move || Server::new(router).limits(limits).bind("127.0.0.1:0").unwrap().start());
    let addr = handle.local_addrs()[0];
    (rt, handle, addr)
}

pub(crate) fn server() -> (oc_runtime::Runtime, ServerHandle, SocketAddr) {
    server_with(test_router(), Limits::default())
}

pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response, its body framed as the response itself says: none for a response to
/// HEAD and for 1xx/204/304 (RFC 9112, section 6.3), then Content-Length, chunked, or until
/// close.
///
/// # Panics
///
/// Panics if bytes that are not the start of another response follow a response that has no
/// body: a server that sends a body to HEAD, 204 or 304 corrupts the connection, and this
/// client refuses it instead of skipping the bytes.
pub(crate) fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_request: bool) -> Option<Resp> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status_line = lines.next().unwrap();
            let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
            let headers: Vec<(String, String)> = lines
                .map(|l| {
                    let (n, v) = l.split_once(':').unwrap();
                    (n.trim().to_owned(), v.trim().to_owned())
                })
                .collect();
            let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
            let mut rest = buf[end + 4..].to_vec();
            let body = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
                expect_no_body(s, &mut rest, status, head_request);
                Vec::new()
            } else if let Some(len) = get("content-length") {
                let len: usize = len.parse().unwrap();
                while rest.len() < len {
                    read_more(s, &mut rest)?;
                }
                let body = rest[..len].to_vec();
                rest.drain(..len);
                body
            } else if get("transfer-encoding").is_some() {
                let mut body = Vec::new();
                loop {
                    while find(&rest, b"\r\n").is_none() {
                        read_more(s, &mut rest)?;
                    }
                    let line_end = find(&rest, b"\r\n").unwrap();
                    let size =
                        usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16).unwrap();
                    rest.drain(..line_end + 2);
                    while rest.len() < size + 2 {
                        read_more(s, &mut rest)?;
                    }
                    body.extend_from_slice(&rest[..size]);
                    rest.drain(..size + 2);
                    if size == 0 {
                        break;
                    }
                }
                body
            } else {
                while read_more(s, &mut rest).is_some() {}
                std::mem::take(&mut rest)
            };
            *buf = rest;
            return Some(Resp { status, headers, body });
        }
        read_more(s, buf)?;
    }
}

/// After a response without a body: whatever follows on the connection must be the next
/// response (pipelining) or nothing. Waits briefly for stray bytes the server may have written
/// after the head (in practice it writes head and body in one call, so they are already here).
fn expect_no_body(s: &mut TcpStream, rest: &mut Vec<u8>, status: u16, head_request: bool) {
    if rest.is_empty() {
        let old = s.read_timeout().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut chunk = [0u8; 4096];
        if let Ok(n) = s.read(&mut chunk) {
            rest.extend_from_slice(&chunk[..n]);
        }
        s.set_read_timeout(old).unwrap();
    }
    let stray = !rest.is_empty() && !rest.starts_with(b"HTTP/1.");
    assert!(
        !stray,
        "{} bytes of body after a {status} response{} that must have none: {:?}",
        rest.len(),
        if head_request { " to HEAD" } else { "" },
        String::from_utf8_lossy(&rest[..rest.len().min(64)])
    );
}

fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    match s.read(&mut chunk) {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Sends `raw` on a new connection and reads one response.
pub(crate) fn exchange(addr: SocketAddr, raw: &[u8]) -> Resp {
    let mut s = connect(addr);
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf, raw.starts_with(b"HEAD")).expect("a response")
}

/// Whether the server closed `s` (reads end of stream within the time-out).
pub(crate) fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(s.read(&mut b), Ok(0))
        || matches!(s.read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

/// A TLS client configuration that trusts the certificate `cert_der` and offers HTTP/1.1.
pub(crate) fn client_config(cert_der: Vec<u8>) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls_pki_types::CertificateDer::from(cert_der)).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    std::sync::Arc::new(config)
}

/// A TLS identity for `localhost`, and its certificate (DER) for clients to trust.
pub(crate) fn identity() -> (oc_http::TlsConfig, Vec<u8>) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert = key.cert.der().to_vec();
    let der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.key_pair.serialize_der().into());
    (oc_http::TlsConfig::from_der(vec![cert.clone().into()], der).unwrap(), cert)
}

/// A server on a fresh runtime with a plain and a TLS listener: the runtime, the server, the
/// plain address and the TLS one.
pub(crate) fn plain_and_tls_server(
    router: Router,
    limits: Limits,
    tls: oc_http::TlsConfig,
) -> (oc_runtime::Runtime, ServerHandle, SocketAddr, SocketAddr) {
    let rt = runtime();
    let server = rt.block_on(move || {
        Server::new(router).limits(limits).bind("127.0.0.1:0").unwrap().bind_tls("127.0.0.1:0", tls).unwrap().start()
    });
    let (plain, secure) = (server.local_addrs()[0], server.local_addrs()[1]);
    (rt, server, plain, secure)
}

/// Counts the warnings of oc-http.
#[allow(dead_code)] // used by the binaries that count warnings
pub(crate) struct WarningCounter(pub(crate) std::sync::Arc<std::sync::atomic::AtomicU64>);

impl tracing::Subscriber for WarningCounter {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        if meta.target().starts_with("oc_http") && *meta.level() == tracing::Level::WARN {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[path = "../../../runtime/tests/support/refused.rs"]
mod refused;
#[allow(unused_imports)]
pub(crate) use refused::refused_addr;
