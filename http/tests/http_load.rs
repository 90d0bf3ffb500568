//! Hostile connections under load: clients that pipeline requests for a large file and never
//! read, and clients that send large chunked bodies, against a server whose memory must stay
//! under the bound `docs/caveats.md` states while a normal client is answered within 100 ms.
//!
//! The tests of this binary measure the process's resident memory, so they run one at a time
//! (a lock), and each alone in its process under nextest.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oc_http::{Limits, Request, Response, Router, StaticFiles};

const MIB: u64 = 1 << 20;

/// One at a time: they measure the whole process.
static ALONE: Mutex<()> = Mutex::new(());

/// The process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

struct Load {
    /// Connections that pipeline `GET`s of a 1 MiB file and never read.
    pipeliners: usize,
    /// Requests each of them sends.
    pipelined: usize,
    /// Clients that send 8 MiB chunked bodies, one after another, then stay idle.
    uploaders: usize,
    /// How long the load lasts.
    time: Duration,
}

/// Runs `load` against a server with default limits but `max_body_memory` (64 MiB), and
/// checks the process's memory and a normal client's latency throughout.
fn hostile(load: Load) {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("oc-http-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mib.bin"), vec![b'f'; MIB as usize]).unwrap();
    support::each_backend(|backend| {
        let files = StaticFiles::new(&dir);
        let router = Router::new()
            .get("/plaintext", |_: &Request| Response::text("Hello, World!"))
            .post("/sink", |r: &Request| Response::text(r.body().len().to_string()))
            .get("/*path", files);
        let mut limits = Limits::default();
        limits.max_body_memory = 64 << 20;
        let body_memory = limits.max_body_memory as u64;
        let (rt, server, addr) = support::server_with(router, limits);
        // Warm up (the runtime's workers, the server's pools, the normal client's path).
        let mut normal = support::connect(addr);
        let mut buf = Vec::new();
        for _ in 0..50 {
            normal.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            support::read_response(&mut normal, &mut buf, false).unwrap();
        }
        let baseline = rss();
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(baseline));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    peak.fetch_max(rss(), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        // Pipeliners: every request sent at once, nothing read.
        let request = "GET /mib.bin HTTP/1.1\r\nHost: x\r\n\r\n".repeat(load.pipelined);
        let mut unread = Vec::new();
        for _ in 0..load.pipeliners {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            unread.push(s);
        }
        // Uploaders: 8 MiB chunked bodies (64 KiB chunks) until the time is up.
        let answers = Arc::new(AtomicU64::new(0));
        let uploaders: Vec<_> = (0..load.uploaders)
            .map(|_| {
                let (stop, answers) = (stop.clone(), answers.clone());
                std::thread::spawn(move || upload_until(addr, &stop, &answers))
            })
            .collect();
        // The normal client, every 20 ms.
        let start = Instant::now();
        let mut waits = Vec::new();
        while start.elapsed() < load.time {
            let t = Instant::now();
            normal.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let r = support::read_response(&mut normal, &mut buf, false).expect("the normal client's answer");
            assert_eq!(r.text(), "Hello, World!");
            waits.push(t.elapsed());
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        waits.sort();
        let (asked, slowest, p95) = (waits.len(), waits[waits.len() - 1], waits[waits.len() * 95 / 100]);
        let uploaded: Vec<Option<TcpStream>> = uploaders.into_iter().map(|u| u.join().unwrap()).collect();
        // The uploaders' connections idle on keep-alive now: they hold no body buffer.
        std::thread::sleep(Duration::from_millis(300));
        sampler.join().unwrap();
        let grown = peak.load(Ordering::SeqCst).saturating_sub(baseline);
        let connections = (load.pipeliners + load.uploaders + 1) as u64;
        // docs/caveats.md: per connection at most 2 * (max_output + head) of answers, a
        // 64 KiB file buffer, 16 KiB received and its stack (128 KiB): 400 KiB; per worker
        // 5 MiB of spare buffers; max_body_memory for large requests in all; and what glibc's
        // allocator keeps of freed large buffers (about one or two per thread heap: 4 x 10
        // MiB), and 16 MiB for the runtime and the test's clients.
        let max_buf = 10 * MIB + 80 * 1024;
        let bound = connections * 400 * 1024 + body_memory + 2 * 5 * MIB + 4 * max_buf + 16 * MIB;
        eprintln!(
            "{backend:?}: {} hostile connections for {:?}: RSS {} MiB at the start, {} MiB more at the peak (bound {} MiB); \
             {} bodies answered; normal client: {asked} answers, 95% within {p95:?}, slowest {slowest:?}",
            connections - 1,
            load.time,
            baseline / MIB,
            grown / MIB,
            bound / MIB,
            answers.load(Ordering::SeqCst),
        );
        assert!(grown < bound, "{backend:?}: {} MiB more, bound {} MiB", grown / MIB, bound / MIB);
        // Within 100 ms; on a machine whose cores other work also takes (the clients of this
        // test among it), a few answers may wait for a core: 95 in 100 within 100 ms, none
        // past a second.
        assert!(p95 < Duration::from_millis(100), "{backend:?}: 95% of answers within {p95:?}");
        assert!(slowest < Duration::from_secs(1), "{backend:?}: the normal client waited {slowest:?}");
        assert!(answers.load(Ordering::SeqCst) > 0, "{backend:?}: no body was answered");
        drop((unread, uploaded));
        rt.block_on(move || server.shutdown(Duration::from_secs(5)));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends 8 MiB chunked bodies (paced) until `stop`, counting those answered with 200 (others meet the
/// server's `max_body_memory` and are refused with 503); returns the last connection, idle.
fn upload_until(addr: SocketAddr, stop: &AtomicBool, answers: &AtomicU64) -> Option<TcpStream> {
    let mut chunk = format!("{:x}\r\n", 64 << 10).into_bytes();
    chunk.resize(chunk.len() + (64 << 10), b'u');
    chunk.extend_from_slice(b"\r\n");
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let s = match conn.as_mut() {
            Some(s) => s,
            None => {
                let s = TcpStream::connect(addr).ok()?;
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                buf.clear();
                conn.insert(s)
            }
        };
        let sent = (|| -> std::io::Result<()> {
            s.write_all(b"POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            for _ in 0..128 {
                s.write_all(&chunk)?;
                // Paced (16 MiB/s at most): slow senders hold their buffers longer, and the
                // clients do not take the cores of the machine from the server.
                std::thread::sleep(Duration::from_millis(4));
            }
            s.write_all(b"0\r\n\r\n")
        })();
        match (sent, support::read_response(s, &mut buf, false)) {
            (Ok(()), Some(r)) if r.status == 200 => {
                assert_eq!(r.text(), (8 * MIB).to_string());
                answers.fetch_add(1, Ordering::SeqCst);
            }
            // Refused (503, the connection closed) or cut short: a new connection.
            _ => {
                conn = None;
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // Keep-alive: the connection stays open, idle.
    conn
}

#[test]
fn hostile_connections_leave_memory_bounded_and_a_normal_client_answered() {
    hostile(Load { pipeliners: 100, pipelined: 64, uploaders: 4, time: Duration::from_secs(3) });
}

#[test]
#[ignore = "a minute of load: run with --ignored"]
fn a_thousand_hostile_connections_leave_memory_bounded_and_a_normal_client_answered() {
    hostile(Load { pipeliners: 960, pipelined: 256, uploaders: 40, time: Duration::from_secs(20) });
}
