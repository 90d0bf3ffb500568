//! The reverse proxy forwarding: round-robin, keep-alive reuse, heads rewritten (hop-by-hop
//! fields, `X-Forwarded-*`, path prefixes), bodies of either framing both ways. Every test
//! runs on both IO backends.

mod support;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oc_http::proxy::{ProxyConfig, ReverseProxy};
use oc_http::{Request, RequestBody, Response, Router, Server, ServerHandle};
use support::{connect, each_backend, read_response, runtime};

/// A simple checksum of `bytes` (FNV-1a).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 % 241) as u8).collect()
}

/// An upstream named `name`: `/who` (its name), `/headers` (the request's fields, one per
/// line), `/echo` (the body's framing, length and checksum), `/sized/:n` and `/chunked/:n`
/// (`n` pattern bytes, with `Content-Length` or chunked); the client ports it saw are kept
/// in `peers`.
fn upstream(name: &'static str, peers: Arc<Mutex<Vec<SocketAddr>>>) -> Router {
    let seen = move |r: &Request| peers.lock().unwrap().push(r.peer_addr().unwrap());
    let seen2 = seen.clone();
    Router::new()
        .get("/who", move |r: &Request| {
            seen(r);
            Response::text(format!("{name} {}", r.target()))
        })
        .get("/headers", move |r: &Request| {
            seen2(r);
            let lines: Vec<String> = r
                .headers()
                .map(|(n, v)| format!("{}: {}", n.to_ascii_lowercase(), String::from_utf8_lossy(v)))
                .collect();
            Response::text(lines.join("\n"))
        })
        .streaming(Some("POST"), "/echo", |_: &Request, body: &mut RequestBody<'_>| {
            let framing = if body.is_chunked() { "chunked".to_owned() } else { format!("{:?}", body.content_length()) };
            let mut all = Vec::new();
            body.read_to_end(&mut all).unwrap();
            Response::text(format!("{framing} {} {:x}", all.len(), fnv(&all)))
        })
        .get("/sized/:n", |r: &Request| {
            let n: usize = r.param("n").unwrap().parse().unwrap();
            Response::stream_sized(n as u64, move |w| w.write_all(&pattern(n)))
        })
        .get("/chunked/:n", |r: &Request| {
            let n: usize = r.param("n").unwrap().parse().unwrap();
            Response::stream(move |w| {
                for piece in pattern(n).chunks(10_000) {
                    w.write_all(piece)?;
                }
                Ok(())
            })
        })
}

struct Setup {
    _rt: oc_runtime::Runtime,
    upstreams: Vec<ServerHandle>,
    front: ServerHandle,
    front_addr: SocketAddr,
    proxy: ReverseProxy,
    peers: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.front.shutdown(Duration::from_secs(2));
        for u in &self.upstreams {
            u.shutdown(Duration::from_secs(2));
        }
    }
}

/// Two upstreams (`a`, `b`) and a front server that proxies `/api/*` to them with
/// `/api` stripped; `adjust` changes the proxy's configuration.
fn setup(adjust: impl FnOnce(&mut ProxyConfig) + Send + 'static) -> Setup {
    let rt = runtime();
    let peers = Arc::new(Mutex::new(Vec::new()));
    let p = peers.clone();
    let (upstreams, front, proxy) = rt.block_on(move || {
        let a = Server::new(upstream("a", p.clone())).bind("127.0.0.1:0").unwrap().start();
        let b = Server::new(upstream("b", p)).bind("127.0.0.1:0").unwrap().start();
        let mut config = ProxyConfig::new([a.local_addrs()[0].to_string(), b.local_addrs()[0].to_string()]);
        config.strip_prefix = Some("/api".into());
        adjust(&mut config);
        let proxy = ReverseProxy::new(config).unwrap();
        let router = Router::new().get("/local", |_: &Request| Response::text("local")).streaming(
            None,
            "/api/*rest",
            proxy.clone(),
        );
        let front = Server::new(router).bind("127.0.0.1:0").unwrap().start();
        (vec![a, b], front, proxy)
    });
    let front_addr = front.local_addrs()[0];
    Setup { _rt: rt, upstreams, front, front_addr, proxy, peers }
}

#[test]
fn requests_go_round_robin_over_kept_alive_connections() {
    each_backend(|_| {
        let setup = setup(|_| {});
        let mut s = connect(setup.front_addr);
        let mut buf = Vec::new();
        let mut names = Vec::new();
        const N: usize = 40;
        for i in 0..N {
            s.write_all(format!("GET /api/who?i={i} HTTP/1.1\r\nHost: front\r\n\r\n").as_bytes()).unwrap();
            let resp = read_response(&mut s, &mut buf, false).unwrap();
            assert_eq!(resp.status, 200);
            let text = resp.text();
            let (name, target) = text.split_once(' ').unwrap();
            assert_eq!(target, format!("/who?i={i}"));
            names.push(name.to_owned());
        }
        // In turn: every other request to each.
        for pair in names.chunks(2) {
            assert_ne!(pair[0], pair[1], "{names:?}");
        }
        assert_eq!(names.iter().filter(|n| *n == "a").count(), N / 2);
        // The upstreams saw far fewer connections than requests.
        let ports: HashSet<u16> = setup.peers.lock().unwrap().iter().map(|p| p.port()).collect();
        assert!(ports.len() <= 4, "{} connections for {N} requests", ports.len());
        let stats = setup.proxy.stats();
        assert_eq!(stats.requests, N as u64);
        let opened: u64 = stats.upstreams.iter().map(|u| u.connections).sum();
        let reused: u64 = stats.upstreams.iter().map(|u| u.reused).sum();
        assert_eq!(opened as usize, ports.len());
        assert_eq!(reused + opened, N as u64);
        assert!(stats.upstreams.iter().all(|u| u.requests == N as u64 / 2 && u.errors == 0 && !u.failed));
        assert_eq!(stats.upstreams.iter().map(|u| u.idle).sum::<usize>(), opened as usize);
        // Other routes of the front server are its own.
        s.write_all(b"GET /local HTTP/1.1\r\nHost: front\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), "local");
    });
}

#[test]
fn hop_by_hop_fields_go_and_x_forwarded_fields_come() {
    each_backend(|_| {
        let setup = setup(|_| {});
        let mut s = connect(setup.front_addr);
        s.write_all(
            b"GET /api/headers HTTP/1.1\r\nHost: front.example:8080\r\nConnection: keep-alive, X-Drop\r\n\
              X-Drop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic eA==\r\n\
              Proxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Forwarded-For: 203.0.113.9\r\n\
              X-Forwarded-Proto: ftp\r\nX-Keep: yes\r\n\r\n",
        )
        .unwrap();
        let mut buf = Vec::new();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!(resp.status, 200);
        let text = resp.text();
        let fields: Vec<&str> = text.lines().collect();
        for gone in ["connection", "x-drop", "keep-alive", "te", "proxy-authorization", "proxy-connection", "upgrade"] {
            assert!(!fields.iter().any(|f| f.starts_with(&format!("{gone}:"))), "{gone} was forwarded: {fields:?}");
        }
        for kept in [
            "host: front.example:8080",
            "x-keep: yes",
            "x-forwarded-for: 203.0.113.9, 127.0.0.1",
            "x-forwarded-proto: http",
            "x-forwarded-host: front.example:8080",
        ] {
            assert!(fields.contains(&kept), "{kept} is missing: {fields:?}");
        }
        assert_eq!(fields.iter().filter(|f| f.starts_with("x-forwarded-proto:")).count(), 1);
    });
}

#[test]
fn hop_by_hop_fields_of_a_response_are_removed() {
    each_backend(|_| {
        // A raw upstream that answers with hop-by-hop fields of every kind.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let raw = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                let n = c.read(&mut b).unwrap();
                assert!(n > 0);
                head.extend_from_slice(&b[..n]);
            }
            c.write_all(
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Up-Drop\r\nX-Up-Drop: 1\r\nKeep-Alive: timeout=5\r\n\
                  Proxy-Authenticate: Basic\r\nTrailer: X-T\r\nUpgrade: foo\r\nX-Kept: yes\r\nServer: raw\r\n\
                  Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-T: 1\r\n\r\n",
            )
            .unwrap();
        });
        let rt = runtime();
        let front = rt.block_on(move || {
            let proxy = ReverseProxy::new(ProxyConfig::new([addr.to_string()])).unwrap();
            Server::new(Router::new().streaming(None, "/*rest", proxy)).bind("127.0.0.1:0").unwrap().start()
        });
        let mut s = connect(front.local_addrs()[0]);
        s.write_all(b"GET /x HTTP/1.1\r\nHost: front\r\n\r\n").unwrap();
        let mut buf = Vec::new();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        raw.join().unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "ok"));
        for gone in ["x-up-drop", "keep-alive", "proxy-authenticate", "trailer", "upgrade"] {
            assert!(resp.header(gone).is_none(), "{gone} was passed on: {:?}", resp.headers);
        }
        assert_eq!((resp.header("x-kept"), resp.header("server")), (Some("yes"), Some("raw")));
        // The server's own framing and connection fields only.
        assert_eq!((resp.header("transfer-encoding"), resp.header("connection")), (Some("chunked"), None));
        front.shutdown(Duration::from_secs(2));
    });
}

#[test]
fn bodies_of_either_framing_pass_both_ways() {
    each_backend(|_| {
        let setup = setup(|config| config.add_prefix = Some("/".into()));
        let mut s = connect(setup.front_addr);
        let mut buf = Vec::new();
        let body = pattern(300_000);
        // A sized request body stays sized.
        let head = format!("POST /api/echo HTTP/1.1\r\nHost: f\r\nContent-Length: {}\r\n\r\n", body.len());
        let mut w = s.try_clone().unwrap();
        let sent = body.clone();
        let writer = std::thread::spawn(move || w.write_all(&[head.as_bytes(), &sent].concat()).unwrap());
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        writer.join().unwrap();
        assert_eq!(resp.text(), format!("Some({0}) {0} {1:x}", body.len(), fnv(&body)));
        // A chunked one stays chunked.
        let mut chunked = b"POST /api/echo HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for piece in body.chunks(7777) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || w.write_all(&chunked).unwrap());
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        writer.join().unwrap();
        assert_eq!(resp.text(), format!("chunked {} {:x}", body.len(), fnv(&body)));
        // An empty sized body.
        s.write_all(b"POST /api/echo HTTP/1.1\r\nHost: f\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).unwrap().text(), format!("Some(0) 0 {:x}", fnv(b"")));
        // Responses: sized stays sized, chunked stays chunked, HEAD keeps the length.
        s.write_all(b"GET /api/sized/250000 HTTP/1.1\r\nHost: f\r\n\r\n").unwrap();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((resp.header("content-length"), resp.header("transfer-encoding")), (Some("250000"), None));
        assert!(resp.body == pattern(250_000));
        s.write_all(b"GET /api/chunked/250000 HTTP/1.1\r\nHost: f\r\n\r\n").unwrap();
        let resp = read_response(&mut s, &mut buf, false).unwrap();
        assert_eq!((resp.header("content-length"), resp.header("transfer-encoding")), (None, Some("chunked")));
        assert!(resp.body == pattern(250_000));
        s.write_all(b"HEAD /api/sized/1234 HTTP/1.1\r\nHost: f\r\n\r\n").unwrap();
        let resp = read_response(&mut s, &mut buf, true).unwrap();
        assert_eq!((resp.status, resp.header("content-length")), (200, Some("1234")));
        // And the connection still works.
        s.write_all(b"GET /api/who HTTP/1.1\r\nHost: f\r\n\r\n").unwrap();
        assert!(read_response(&mut s, &mut buf, false).unwrap().text().ends_with(" /who"));
        // An HTTP/1.0 client gets a chunked upstream body delimited by the close.
        let mut s10 = connect(setup.front_addr);
        s10.write_all(b"GET /api/chunked/5000 HTTP/1.0\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s10.read_to_end(&mut raw).unwrap();
        let at = support::find(&raw, b"\r\n\r\n").unwrap() + 4;
        assert!(raw.starts_with(b"HTTP/1.1 200") && raw[at..] == pattern(5000)[..]);
        assert_eq!(setup.proxy.stats().errors, Default::default());
    });
}

#[test]
fn a_request_over_tls_is_forwarded_as_https_with_its_body() {
    each_backend(|_| {
        let rt = runtime();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let upstream_server =
            rt.block_on(move || Server::new(upstream("a", peers)).bind("127.0.0.1:0").unwrap().start());
        let proxy = ReverseProxy::new(ProxyConfig::new([upstream_server.local_addrs()[0].to_string()])).unwrap();
        let (tls, cert) = support::identity();
        let (_front_rt, front, _plain, secure) = support::plain_and_tls_server(
            Router::new().streaming(None, "/*rest", proxy),
            oc_http::Limits::default(),
            tls,
        );
        let tcp = connect(secure);
        let conn =
            rustls::ClientConnection::new(support::client_config(cert), "localhost".try_into().unwrap()).unwrap();
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let body = pattern(200_000);
        let head = format!("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n", body.len());
        s.write_all(
            &[head.as_bytes(), &body, b"GET /headers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"]
                .concat(),
        )
        .unwrap();
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains(&format!("Some({0}) {0} {1:x}", body.len(), fnv(&body))), "{text}");
        assert!(text.contains("x-forwarded-proto: https"), "{text}");
        front.shutdown(Duration::from_secs(2));
        upstream_server.shutdown(Duration::from_secs(2));
    });
}
