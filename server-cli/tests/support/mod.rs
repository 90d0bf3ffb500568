//! Helpers for the oc-server tests: start the real binary on a configuration written to a
//! temporary directory (on each IO backend), wait for its listeners, and talk HTTP/1.1 to it
//! with a small blocking client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Both reactors: every test runs the server on each.
pub(crate) const BACKENDS: [&str; 2] = ["uring", "epoll"];

/// The binary under test.
pub(crate) fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_oc-server")
}

/// A directory removed when dropped.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "oc-server-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` under the directory; returns its path.
    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lines a child process printed, collected by a thread per stream.
#[derive(Clone, Default)]
pub(crate) struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn follow(stream: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().unwrap().push(line);
            }
        });
        lines
    }

    pub(crate) fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn text(&self) -> String {
        self.all().join("\n")
    }

    /// Waits until a line contains `needle` (or `timeout` passes); returns the line.
    pub(crate) fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.all().into_iter().find(|l| l.contains(needle)) {
                return Some(line);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A running oc-server.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) config: PathBuf,
    /// The addresses it listens on, in the order of `listeners`.
    pub(crate) addrs: Vec<SocketAddr>,
    pub(crate) stderr: Lines,
    pub(crate) stdout: Lines,
}

/// Starts the binary with `args` and waits for `listeners` "listening on" lines.
pub(crate) fn start_with(config: &Path, args: &[&str], listeners: usize) -> Server {
    start_with_env(config, args, listeners, &[])
}

/// As [`start_with`], with environment variables `env` set for the binary.
pub(crate) fn start_with_env(config: &Path, args: &[&str], listeners: usize, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = Lines::follow(child.stderr.take().unwrap());
    let stdout = Lines::follow(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let addrs = loop {
        let found: Vec<SocketAddr> = stderr
            .all()
            .iter()
            .filter_map(|l| l.split("listening on ").nth(1))
            .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
            .collect();
        if found.len() >= listeners {
            break found;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("oc-server exited with {status} before listening:\n{}", stderr.text());
        }
        assert!(Instant::now() < deadline, "oc-server did not listen in time:\n{}", stderr.text());
        std::thread::sleep(Duration::from_millis(10));
    };
    Server { child, config: config.to_path_buf(), addrs, stderr, stdout }
}

/// Writes `config` into `dir` and starts the binary on it.
pub(crate) fn start(dir: &TempDir, config: &serde_json::Value) -> Server {
    let listeners = config["listeners"].as_array().map_or(1, Vec::len);
    let path = dir.write("oc-server.json", serde_json::to_vec_pretty(config).unwrap());
    start_with(&path, &[], listeners)
}

impl Server {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub(crate) fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` to the server.
    pub(crate) fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with our own child's pid and a valid signal number.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit; returns its exit code.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Killed by a signal: its number, negated (-11 for SIGSEGV, -6 for SIGABRT).
                use std::os::unix::process::ExitStatusExt;
                return status.code().unwrap_or_else(|| -status.signal().unwrap_or(0));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("oc-server did not exit in time:\n{}", self.stderr.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops it with SIGTERM and checks it exits 0.
    pub(crate) fn stop(mut self) {
        self.signal(libc::SIGTERM);
        let code = self.wait_exit(Duration::from_secs(30));
        assert_eq!(code, 0, "exit code; stderr:\n{}", self.stderr.text());
    }

    /// A value of the process's `/proc/PID/status` (`VmRSS`, `VmHWM`) in KiB.
    pub(crate) fn status_kib(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A base configuration: one listener on a free port, the backend, logging that the helper
/// reads, and `routes`.
pub(crate) fn config(backend: &str, routes: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "runtime": { "workers": 2, "io_backend": backend },
        "listeners": [ { "address": "127.0.0.1:0" } ],
        "logging": { "level": "info" },
        "routes": routes,
    })
}

/// A response.
#[derive(Debug, Clone)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the server said it closes the connection after this response.
    pub(crate) fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A keep-alive HTTP/1.1 client over any stream.
pub(crate) struct Client<S: Read + Write> {
    pub(crate) stream: S,
    buf: Vec<u8>,
    /// Bytes of the response being read that have arrived so far.
    this_response: usize,
}

impl Client<TcpStream> {
    pub(crate) fn connect(addr: SocketAddr) -> std::io::Result<Client<TcpStream>> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(Client::new(stream))
    }
}

impl<S: Read + Write> Client<S> {
    pub(crate) fn new(stream: S) -> Client<S> {
        Client { stream, buf: Vec::new(), this_response: 0 }
    }

    /// Bytes of the response being (or last) read that arrived: 0 when a read failed before
    /// any byte of it came.
    pub(crate) fn response_bytes(&self) -> usize {
        self.this_response
    }

    /// Sends a request with `extra` header lines (each ending in `\r\n`) and `body`.
    pub(crate) fn send(
        &mut self,
        method: &str,
        host: &str,
        target: &str,
        extra: &str,
        body: &[u8],
    ) -> std::io::Result<()> {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}");
        if !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes)
    }

    /// Sends a request and reads its response.
    pub(crate) fn request(&mut self, method: &str, host: &str, target: &str, extra: &str) -> std::io::Result<Response> {
        self.send(method, host, target, extra, b"")?;
        self.read_response(method == "HEAD")
    }

    pub(crate) fn get(&mut self, target: &str) -> std::io::Result<Response> {
        self.request("GET", "localhost", target, "")
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        self.this_response += n;
        Ok(())
    }

    fn line(&mut self) -> std::io::Result<String> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..at]).into_owned();
                self.buf.drain(..at + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn exact(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads one response (its body too, by length or chunks).
    pub(crate) fn read_response(&mut self, head_only: bool) -> std::io::Result<Response> {
        self.this_response = self.buf.len();
        let status_line = self.line()?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, status_line.clone()))?;
        let mut headers = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').unwrap_or((&line, ""));
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
        let mut resp = Response { status, headers, body: Vec::new() };
        if head_only || status == 304 || status == 204 {
            return Ok(resp);
        }
        if resp.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let size = usize::from_str_radix(self.line()?.split(';').next().unwrap().trim(), 16)
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                let chunk = self.exact(size)?;
                resp.body.extend_from_slice(&chunk);
                self.line()?;
            }
        } else if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().unwrap();
            resp.body = self.exact(len)?;
        }
        Ok(resp)
    }
}

/// One request on a fresh connection.
pub(crate) fn get(addr: SocketAddr, host: &str, target: &str) -> Response {
    let mut c = Client::connect(addr).expect("connect");
    c.request("GET", host, target, "Connection: close\r\n").expect("response")
}

/// An upstream on a plain thread that reads each request's body (by `Content-Length`) and
/// answers `got N bytes`, counting what it read. Returns its address.
pub(crate) fn counting_upstream() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                loop {
                    let mut len = 0u64;
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((n, v)) = line.split_once(':')
                            && n.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let got = std::io::copy(&mut (&mut reader).take(len), &mut std::io::sink()).unwrap_or(0);
                    let body = format!("got {got} bytes");
                    let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    if writer.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// An upstream that accepts connections and never answers. Returns its address.
pub(crate) fn silent_upstream() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            held.push(stream);
        }
    });
    addr
}
