//! A small HTTP/1.1 client for the verifier: keep-alive GETs, responses framed by
//! `Content-Length` or chunked encoding, headers kept as sent.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A response as received.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Header fields, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A server: its `host:port` as sent in `Host`, and the addresses that name resolved to
/// (once: a verification makes thousands of connections).
#[derive(Debug, Clone)]
pub struct Target {
    host: String,
    addrs: Vec<SocketAddr>,
}

impl Target {
    /// Resolves `host` (`host:port`); a name is looked up without holding the worker
    /// (`oc_net::lookup_host`).
    pub fn resolve(host: &str) -> io::Result<Target> {
        let addrs = match host.parse::<SocketAddr>() {
            Ok(addr) => vec![addr],
            Err(_) => oc_net::lookup_host(host.to_owned(), None)?,
        };
        Ok(Target { host: host.to_owned(), addrs })
    }
}

/// A keep-alive connection to one server.
#[derive(Debug)]
pub struct Connection {
    host: String,
    reader: BufReader<TcpStream>,
}

/// Longest a reply may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a connection may take to be made (a server behind a firewall that drops the
/// handshake would otherwise hold each request for the kernel's two minutes of retries).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

impl Connection {
    /// Connects to `host` (`host:port`), looking its name up first.
    pub fn open(host: &str) -> io::Result<Connection> {
        Connection::to(&Target::resolve(host)?)
    }

    /// Connects to `target`, trying its addresses in turn, each for at most
    /// [`CONNECT_TIMEOUT`].
    pub fn to(target: &Target) -> io::Result<Connection> {
        let mut last = None;
        for addr in &target.addrs {
            match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(TIMEOUT))?;
                    stream.set_write_timeout(Some(TIMEOUT))?;
                    stream.set_nodelay(true)?;
                    return Ok(Connection { host: target.host.clone(), reader: BufReader::new(stream) });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("a target has at least one address"))
    }

    /// `GET path` with `accept`, keeping the connection open.
    pub fn get(&mut self, path: &str, accept: &str) -> io::Result<Reply> {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nConnection: keep-alive\r\n\r\n", self.host);
        self.reader.get_mut().write_all(request.as_bytes())?;
        self.read_reply()
    }

    /// `depth` requests for `path` in one write, then their `depth` replies.
    pub fn pipeline(&mut self, path: &str, accept: &str, depth: usize) -> io::Result<Vec<Reply>> {
        let one =
            format!("GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: {accept}\r\nConnection: keep-alive\r\n\r\n", self.host);
        self.reader.get_mut().write_all(one.repeat(depth).as_bytes())?;
        (0..depth).map(|_| self.read_reply()).collect()
    }

    fn read_reply(&mut self) -> io::Result<Reply> {
        let status_line = self.line()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status = parts.next().and_then(|s| s.parse::<u16>().ok());
        let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
            return Err(bad(format!("not an HTTP/1.x status line: {status_line:?}")));
        };
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| bad(format!("bad header line: {line:?}")))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let find = |n: &str| headers.iter().find(|(h, _)| h.eq_ignore_ascii_case(n)).map(|(_, v)| v.clone());
        let body = if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            self.chunked()?
        } else if let Some(len) = find("content-length") {
            let len: usize = len.parse().map_err(|_| bad(format!("bad Content-Length: {len:?}")))?;
            if len > MAX_BODY {
                return Err(bad(format!("body of {len} bytes is too large")));
            }
            let mut body = vec![0; len];
            self.reader.read_exact(&mut body)?;
            body
        } else if status == 204 || status == 304 {
            Vec::new()
        } else {
            return Err(bad("response has neither Content-Length nor Transfer-Encoding".into()));
        };
        Ok(Reply { status, headers, body })
    }

    fn chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line = self.line()?;
            let size = line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| bad(format!("bad chunk size: {line:?}")))?;
            if size == 0 {
                while !self.line()?.is_empty() {}
                return Ok(body);
            }
            if body.len() + size > MAX_BODY {
                return Err(bad("chunked body too large".into()));
            }
            let at = body.len();
            body.resize(at + size, 0);
            self.reader.read_exact(&mut body[at..])?;
            if !self.line()?.is_empty() {
                return Err(bad("chunk not followed by CRLF".into()));
            }
        }
    }

    /// One line without its CRLF.
    fn line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        (&mut self.reader).take(64 * 1024).read_until(b'\n', &mut line)?;
        if line.last() != Some(&b'\n') {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed mid-response"));
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).map_err(|_| bad("header line is not UTF-8".into()))
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// One `GET` on a fresh connection to `host` (`host:port`), looking its name up first.
pub fn get(host: &str, path: &str, accept: &str) -> io::Result<Reply> {
    Connection::open(host)?.get(path, accept)
}

/// One `GET` on a fresh connection to `target`.
pub fn get_from(target: &Target, path: &str, accept: &str) -> io::Result<Reply> {
    Connection::to(target)?.get(path, accept)
}
