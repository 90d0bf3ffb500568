//! The byte stream under a connection: TCP, a Unix socket, or TLS over TCP, each with read
//! and write time-outs.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use oc_net::{Exchange, TcpStream, UnixStream};

use crate::config::{Config, Host, SslMode};
use crate::error::{Error, ErrorKind};
use crate::tls;

type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A connected stream to the server.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
}

/// Where to send a `CancelRequest`: the address the connection went to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

impl Target {
    /// Opens a new plain stream to the same server (for a cancel request).
    pub(crate) fn connect(&self, timeout: Duration) -> io::Result<Stream> {
        match self {
            Target::Tcp(addr) => TcpStream::connect_timeout(addr, timeout).map(Stream::Tcp),
            Target::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
        }
    }
}

fn remaining(deadline: Option<Instant>) -> io::Result<Option<Duration>> {
    match deadline {
        None => Ok(None),
        Some(d) => match d.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed")),
        },
    }
}

/// The addresses of `host`, looked up without holding the worker (`oc_net::lookup_host`),
/// within what is left of the connect time-out.
fn resolve(host: &str, port: u16, deadline: Option<Instant>) -> Result<Vec<SocketAddr>, Error> {
    let left = remaining(deadline)
        .map_err(|e| Error::with_source(ErrorKind::Timeout, format!("no time left to resolve `{host}`"), e))?;
    oc_net::lookup_host((host.to_owned(), port), left).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut => {
            Error::with_source(ErrorKind::Timeout, format!("could not resolve `{host}` within the connect time-out"), e)
        }
        _ => Error::with_source(ErrorKind::Connect, format!("cannot resolve `{host}`"), e),
    })
}

/// Connects to the server of `config` (TCP or Unix), then negotiates TLS as its mode says.
pub(crate) fn connect(config: &Config, deadline: Option<Instant>) -> Result<(Stream, Target), Error> {
    match &config.host {
        Host::Unix(dir) => {
            let path = dir.join(format!(".s.PGSQL.{}", config.port));
            let s = UnixStream::connect(&path).map_err(|e| {
                Error::with_source(ErrorKind::Connect, format!("could not connect to {}", path.display()), e)
            })?;
            // TLS over a local socket is pointless; libpq does not try it either.
            Ok((Stream::Unix(s), Target::Unix(path)))
        }
        Host::Tcp(host) => {
            let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
                Ok(ip) => vec![SocketAddr::new(ip, config.port)],
                Err(_) => resolve(host, config.port, deadline)?,
            };
            let mut last = None;
            for addr in addrs {
                let res = match remaining(deadline) {
                    Ok(Some(left)) => TcpStream::connect_timeout(&addr, left),
                    Ok(None) => TcpStream::connect(addr),
                    Err(e) => Err(e),
                };
                match res {
                    Ok(tcp) => {
                        let _ = tcp.set_nodelay(true);
                        let stream = negotiate_tls(config, host, tcp, deadline)?;
                        return Ok((stream, Target::Tcp(addr)));
                    }
                    Err(e) => last = Some((addr, e)),
                }
            }
            Err(match last {
                Some((addr, e)) if e.kind() == io::ErrorKind::TimedOut => Error::with_source(
                    ErrorKind::Timeout,
                    format!("could not connect to {addr} within the connect time-out"),
                    e,
                ),
                Some((addr, e)) => Error::with_source(ErrorKind::Connect, format!("could not connect to {addr}"), e),
                None => Error::new(ErrorKind::Connect, format!("`{host}` resolved to no address")),
            })
        }
    }
}

fn negotiate_tls(config: &Config, host: &str, tcp: TcpStream, deadline: Option<Instant>) -> Result<Stream, Error> {
    if config.ssl_mode == SslMode::Disable {
        return Ok(Stream::Tcp(tcp));
    }
    let tls_config = tls::client_config(config)?;
    let mut stream = Stream::Tcp(tcp);
    let mut buf = bytes::BytesMut::new();
    postgres_protocol::message::frontend::ssl_request(&mut buf);
    let mut answer = [0u8; 1];
    let res = stream
        .set_timeouts(deadline)
        .and_then(|()| stream.write_all(&buf))
        .and_then(|()| stream.read_exact(&mut answer));
    res.map_err(|e| Error::with_source(ErrorKind::Connect, "the server did not answer the TLS request", e))?;
    let Stream::Tcp(tcp) = stream else { unreachable!("the stream is still plain TCP") };
    match answer[0] {
        b'S' => {
            let conn = rustls::ClientConnection::new(tls_config, tls::server_name(host)?)
                .map_err(|e| Error::with_source(ErrorKind::Tls, "cannot start a TLS session", e))?;
            let mut tls = Box::new(rustls::StreamOwned::new(conn, tcp));
            while tls.conn.is_handshaking() {
                tls.conn
                    .complete_io(&mut tls.sock)
                    .map_err(|e| Error::with_source(ErrorKind::Tls, "the TLS handshake failed", e))?;
            }
            Ok(Stream::Tls(tls))
        }
        b'N' if config.ssl_mode == SslMode::Prefer => Ok(Stream::Tcp(tcp)),
        b'N' => Err(Error::new(ErrorKind::Tls, "the server does not accept TLS connections (sslmode requires TLS)")),
        other => Err(Error::protocol(format!("unexpected answer {other:#x} to the TLS request"))),
    }
}

impl Stream {
    /// Makes reads and writes fail with `TimedOut` at `deadline` (or never).
    pub(crate) fn set_timeouts(&self, deadline: Option<Instant>) -> io::Result<()> {
        let left = remaining(deadline)?;
        match self {
            Stream::Tcp(s) => {
                s.set_read_timeout(left)?;
                s.set_write_timeout(left)
            }
            Stream::Unix(s) => {
                s.set_read_timeout(left)?;
                s.set_write_timeout(left)
            }
            Stream::Tls(s) => {
                s.sock.set_read_timeout(left)?;
                s.sock.set_write_timeout(left)
            }
        }
    }

    pub(crate) fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
            Stream::Tls(s) => {
                s.write_all(buf)?;
                s.flush()
            }
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.read_exact(buf),
            Stream::Unix(s) => s.read_exact(buf),
            Stream::Tls(s) => s.read_exact(buf),
        }
    }

    /// Writes all of `out`, then reads into `buf`: on plain TCP in one step of the reactor.
    pub(crate) fn write_then_read(&mut self, out: &[u8], buf: &mut [u8]) -> Exchange<usize> {
        match self {
            Stream::Tcp(s) => s.write_all_then_read(out, buf),
            _ => match self.write_all(out) {
                Ok(()) => match self.read(buf) {
                    Ok(n) => Exchange::Done(n),
                    Err(e) => Exchange::ReadFailed(e),
                },
                Err(e) => Exchange::WriteFailed(e),
            },
        }
    }

    /// Whether this stream is encrypted.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}
