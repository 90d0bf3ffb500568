//! TLS listeners with a test certificate (rcgen), and the redirect of plain HTTP to HTTPS,
//! through the real binary on each IO backend.

mod support;

use serde_json::json;
use support::{BACKENDS, Client, TempDir, get, start};

/// A client configuration that trusts `cert_der` only.
fn client_config(cert_der: Vec<u8>) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls_pki_types::CertificateDer::from(cert_der)).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    std::sync::Arc::new(config)
}

#[test]
fn https_with_a_test_certificate_and_a_redirect_from_http() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    for backend in BACKENDS {
        let dir = TempDir::new("tls");
        let cert = dir.write("cert.pem", key.cert.pem());
        let pkey = dir.write("key.pem", key.key_pair.serialize_pem());
        // The HTTPS port is only known once bound: bind it first, then the redirect names it.
        let https = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let https_port = https.local_addr().unwrap().port();
        drop(https);
        let config = json!({
            "runtime": { "workers": 2, "io_backend": backend },
            "listeners": [
                { "address": format!("127.0.0.1:{https_port}"), "tls": { "cert": cert, "key": pkey } },
                { "address": "127.0.0.1:0", "redirect_to_https_port": https_port },
            ],
            "routes": [{ "kind": "fixed", "path": "/", "body": "secret garden" }],
        });
        let server = start(&dir, &config);
        let (tls_addr, plain_addr) = (server.addrs[0], server.addrs[1]);
        assert_eq!(tls_addr.port(), https_port);

        let tcp = std::net::TcpStream::connect(tls_addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let conn =
            rustls::ClientConnection::new(client_config(key.cert.der().to_vec()), "localhost".try_into().unwrap())
                .unwrap();
        let mut c = Client::new(rustls::StreamOwned::new(conn, tcp));
        for _ in 0..3 {
            let r = c.request("GET", "localhost", "/page", "").unwrap();
            assert_eq!((r.status, r.text().as_str()), (200, "secret garden"), "{backend}");
        }

        let r = get(plain_addr, &format!("localhost:{}", plain_addr.port()), "/page?x=1");
        assert_eq!(r.status, 308, "{backend}");
        assert_eq!(r.header("location"), Some(format!("https://localhost:{https_port}/page?x=1").as_str()));
        server.stop();
    }
}

#[test]
fn two_processes_share_a_tls_port_with_reuse_port() {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    for backend in BACKENDS {
        let dir = TempDir::new("tls-reuse");
        let cert = dir.write("cert.pem", key.cert.pem());
        let pkey = dir.write("key.pem", key.key_pair.serialize_pem());
        let config = |address: String, body: &str| {
            json!({
                "runtime": { "workers": 1, "io_backend": backend },
                "listeners": [{ "address": address, "reuse_port": true, "tls": { "cert": cert, "key": pkey } }],
                "routes": [{ "kind": "fixed", "path": "/", "body": body }],
            })
        };
        let dir_b = TempDir::new("tls-reuse-b");
        let a = start(&dir, &config("127.0.0.1:0".into(), "A"));
        let b = start(&dir_b, &config(a.addrs[0].to_string(), "B"));
        assert_eq!(a.addrs[0], b.addrs[0]);
        let (mut from_a, mut from_b) = (0, 0);
        for _ in 0..64 {
            let tcp = std::net::TcpStream::connect(a.addrs[0]).unwrap();
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let conn =
                rustls::ClientConnection::new(client_config(key.cert.der().to_vec()), "localhost".try_into().unwrap())
                    .unwrap();
            let mut c = Client::new(rustls::StreamOwned::new(conn, tcp));
            let r = c.request("GET", "localhost", "/", "").unwrap();
            match r.text().as_str() {
                "A" => from_a += 1,
                "B" => from_b += 1,
                other => panic!("{backend}: {other}"),
            }
        }
        // The kernel spreads connections by a hash of their addresses: both get some (all 64
        // to one has a chance of about 2^-63).
        assert!(from_a > 0 && from_b > 0, "{backend}: A {from_a}, B {from_b}");
        a.stop();
        b.stop();
    }
}
