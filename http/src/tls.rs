//! TLS with rustls (the ring provider): certificate chain and key from PEM files, ALPN
//! `http/1.1`; a connection's handshake and its stream, both with deadlines that a client
//! cannot stretch by trickling bytes.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oc_net::TcpStream;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A server's TLS settings; cheap to clone.
#[derive(Clone)]
pub struct TlsConfig {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").field("alpn", &self.config.alpn_protocols).finish()
    }
}

impl TlsConfig {
    /// Loads a certificate chain and a private key (PKCS#8, PKCS#1 or SEC1) from PEM files.
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, key: impl AsRef<Path>) -> io::Result<TlsConfig> {
        let (cert_chain, key) = (cert_chain.as_ref(), key.as_ref());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_chain)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(|e| invalid(format!("cannot read certificates from {}: {e}", cert_chain.display())))?;
        if certs.is_empty() {
            return Err(invalid(format!("no certificate in {}", cert_chain.display())));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| invalid(format!("cannot read a private key from {}: {e}", key.display())))?;
        TlsConfig::from_der(certs, key)
    }

    /// Builds the configuration from DER certificates and key.
    pub fn from_der(certs: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> io::Result<TlsConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(format!("TLS protocol versions: {e}")))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| invalid(format!("the certificate and key do not make a TLS identity: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsConfig { config: Arc::new(config) })
    }

    pub(crate) fn config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Drives `session`'s handshake over `tcp` until it is done or `deadline` passes (then
/// `TimedOut`). Each read waits only for what is left of the time: a client that trickles
/// its handshake a byte at a time cannot extend it (a read time-out alone restarts with
/// every byte).
pub(crate) fn handshake(
    session: &mut rustls::ServerConnection,
    tcp: &mut TcpStream,
    deadline: Instant,
    write_timeout: Duration,
) -> io::Result<()> {
    tcp.set_write_timeout(Some(write_timeout))?;
    while session.is_handshaking() {
        while session.wants_write() {
            session.write_tls(tcp)?;
        }
        if !session.is_handshaking() {
            break;
        }
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
        let Some(left) = left else {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake took too long"));
        };
        tcp.set_read_timeout(Some(left))?;
        if session.read_tls(tcp)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        process(session, tcp)?;
    }
    // The handshake's last flight (and TLS 1.3 tickets).
    while session.wants_write() {
        session.write_tls(tcp)?;
    }
    Ok(())
}

/// Processes the records `session` has received; on a TLS error, sends the alert that says
/// why (if the socket takes it) and fails with `InvalidData`.
fn process(session: &mut rustls::ServerConnection, tcp: &mut TcpStream) -> io::Result<()> {
    session.process_new_packets().map(drop).map_err(|e| {
        let _ = session.write_tls(tcp);
        io::Error::new(io::ErrorKind::InvalidData, e)
    })
}

/// A TLS connection after its handshake, as a connection's transport.
///
/// Unlike `rustls::StreamOwned`, whose read goes on receiving until a whole record has
/// arrived, each receive waiting the socket's full time-out again, a record under way must be
/// complete within `record_timeout` of its first bytes (the header time-out): a client that
/// trickles one record a byte at a time is cut off (`TimedOut`) instead of holding the
/// connection for as long as the record is long.
pub(crate) struct TlsStream {
    session: rustls::ServerConnection,
    sock: TcpStream,
    record_timeout: Duration,
    /// When bytes that have not yet made plaintext began to arrive.
    partial_since: Option<Instant>,
}

impl TlsStream {
    pub(crate) fn new(session: rustls::ServerConnection, sock: TcpStream, record_timeout: Duration) -> TlsStream {
        TlsStream { session, sock, record_timeout, partial_since: None }
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // What the session has to send first (alerts, key updates).
            while self.session.wants_write() {
                self.session.write_tls(&mut self.sock)?;
            }
            match self.session.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                read => {
                    self.partial_since = None;
                    return read;
                }
            }
            // A record under way: receive within what is left of its time (or of the caller's
            // time-out, if that is shorter).
            if let Some(since) = self.partial_since {
                let left =
                    (since + self.record_timeout).checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
                let Some(left) = left else {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "a TLS record took too long to arrive"));
                };
                let caller = self.sock.read_timeout()?;
                self.sock.set_read_timeout(Some(caller.map_or(left, |t| t.min(left))))?;
            }
            // At the end of the stream the reader says how it ended (above).
            if self.session.read_tls(&mut self.sock)? > 0 {
                self.partial_since.get_or_insert_with(Instant::now);
            }
            process(&mut self.session, &mut self.sock)?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        rustls::Stream::new(&mut self.session, &mut self.sock).write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        rustls::Stream::new(&mut self.session, &mut self.sock).flush()
    }
}

impl crate::conn::Transport for TlsStream {
    fn secure(&self) -> bool {
        true
    }

    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}
