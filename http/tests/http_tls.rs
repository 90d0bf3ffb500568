//! TLS: certificate and key from PEM files, ALPN `http/1.1`, keep-alive over TLS.

mod support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use oc_http::{Server, TlsConfig};

fn client_config(cert_der: Vec<u8>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls_pki_types::CertificateDer::from(cert_der)).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

#[test]
fn https_with_pem_files_and_alpn() {
    support::each_backend(|_backend| {
        let dir = std::env::temp_dir().join(format!("oc-http-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(dir.join("cert.pem"), key.cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.key_pair.serialize_pem()).unwrap();
        let tls = TlsConfig::from_pem_files(dir.join("cert.pem"), dir.join("key.pem")).unwrap();

        let rt = support::runtime();
        let server =
            rt.block_on(move || Server::new(support::test_router()).bind_tls("127.0.0.1:0", tls).unwrap().start());
        let addr = server.local_addrs()[0];

        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let conn =
            rustls::ClientConnection::new(client_config(key.cert.der().to_vec()), "localhost".try_into().unwrap())
                .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        for i in 0..3 {
            tls.write_all(format!("GET /users/{i} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes()).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while support::find(&got, b"\r\n\r\n").is_none_or(|end| got.len() < end + 4 + 6) {
                let n = tls.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&got);
            assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
            assert!(text.ends_with(&format!("user {i}")), "{text}");
        }
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));

        // Bad inputs give clear errors, not panics.
        let err = TlsConfig::from_pem_files(dir.join("missing.pem"), dir.join("key.pem")).unwrap_err();
        assert!(err.to_string().contains("missing.pem"), "{err}");
        std::fs::write(dir.join("empty.pem"), "").unwrap();
        assert!(TlsConfig::from_pem_files(dir.join("empty.pem"), dir.join("key.pem")).is_err());

        rt.block_on(move || assert!(server.shutdown(Duration::from_secs(2))));
        let _ = std::fs::remove_dir_all(&dir);
    });
}
