//! TLS with rustls (ring provider): the client configuration for each `sslmode`.
//!
//! `prefer` and `require` encrypt without checking the certificate, as libpq does; the
//! handshake signatures are still verified, so the session is bound to the key the server
//! presented. `verify-full` checks the chain against `sslrootcert` (or a caller-supplied
//! configuration) and the host name.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use crate::config::{Config, SslMode};
use crate::error::{Error, ErrorKind};

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

/// The rustls configuration for `config`'s TLS mode.
pub(crate) fn client_config(config: &Config) -> Result<Arc<rustls::ClientConfig>, Error> {
    if let Some(tls) = &config.tls_config {
        return Ok(tls.clone());
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::with_source(ErrorKind::Tls, "no usable TLS protocol version", e))?;
    let tls = match config.ssl_mode {
        SslMode::VerifyFull => {
            let path = config.ssl_root_cert.as_ref().ok_or_else(|| {
                Error::config("sslmode=verify-full needs sslrootcert=<PEM file> or Config::tls_config")
            })?;
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                Error::with_source(ErrorKind::Config, format!("cannot read sslrootcert {}", path.display()), e)
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    Error::with_source(ErrorKind::Config, format!("bad certificate in {}", path.display()), e)
                })?;
                roots.add(cert).map_err(|e| {
                    Error::with_source(ErrorKind::Config, format!("unusable certificate in {}", path.display()), e)
                })?;
            }
            if roots.is_empty() {
                return Err(Error::config(format!("sslrootcert {} holds no certificate", path.display())));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly {
                algorithms: provider().signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    Ok(Arc::new(tls))
}

/// The server name to present and (for `verify-full`) to check.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| Error::with_source(ErrorKind::Config, format!("`{host}` is not a valid TLS server name"), e))
}

/// Accepts any certificate (libpq's `require`), but checks the handshake signatures.
#[derive(Debug)]
struct EncryptOnly {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
