//! Hostile connections under load: clients that pipeline requests for a large file and never
//! read, clients that send large chunked bodies, and clients that trickle a TLS ClientHello a
//! byte at a time, against a server whose memory must stay under the bound `docs/caveats.md`
//! states while a normal client is answered within 100 ms.
//!
//! The tests of this binary measure the process's resident memory, so they run one at a time
//! (a lock), and each alone in its process under nextest.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
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
    /// Clients of the server's TLS listener that send a ClientHello a byte every 200 to 500 ms,
    /// and connect again when the server cuts them off.
    tricklers: usize,
    /// How long the load lasts.
    time: Duration,
}

/// The TLS handshake's deadline in these tests (`Limits::header_timeout`), short so that the
/// tricklers are cut off, and connect again, during the load.
const HANDSHAKE_TIME: Duration = Duration::from_secs(2);

/// How much later than `HANDSHAKE_TIME` after its connect a trickler may find itself cut off.
/// The deadline runs from the accept, and under this load on two cores shared with the test's
/// clients (and other work) connections wait to be accepted (on io_uring one accept completes
/// per turn of the worker's loop) and timers fire late: cut-offs were seen up to 1.5 s late at
/// a load average of 5, 3 s at 12. Without the handshake's deadline a trickler would be held
/// for over a minute (its ClientHello, each byte well within the idle time-out).
const CUT_MARGIN: Duration = Duration::from_secs(3);

/// Runs `load` against a server with default limits but `max_body_memory` (64 MiB) and
/// `header_timeout` (`HANDSHAKE_TIME`), listening plain and with TLS, and checks the process's
/// memory and a normal client's latency throughout.
fn hostile(load: Load) {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("oc-http-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mib.bin"), vec![b'f'; MIB as usize]).unwrap();
    let (tls, cert) = support::identity();
    let client = support::client_config(cert);
    support::each_backend(|backend| {
        let files = StaticFiles::new(&dir);
        let router = Router::new()
            .get("/plaintext", |_: &Request| Response::text("Hello, World!"))
            .post("/sink", |r: &Request| Response::text(r.body().len().to_string()))
            .get("/*path", files);
        let mut limits = Limits::default();
        limits.max_body_memory = 64 << 20;
        limits.header_timeout = HANDSHAKE_TIME;
        let body_memory = limits.max_body_memory as u64;
        let (rt, server, addr, tls_addr) = support::plain_and_tls_server(router, limits, tls.clone());
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
        // Tricklers: every TLS handshake of theirs holds a slot until the server cuts it off.
        let tricklers = {
            let (stop, client, count) = (stop.clone(), client.clone(), load.tricklers);
            std::thread::spawn(move || trickle_until(tls_addr, count, &client, &stop))
        };
        let start = Instant::now();
        while server.connections() < 1 + load.tricklers {
            assert!(
                start.elapsed() < HANDSHAKE_TIME,
                "{backend:?}: {} connections, not the normal client's and {} tricklers'",
                server.connections(),
                load.tricklers
            );
            std::thread::sleep(Duration::from_millis(1));
        }
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
        // The normal client, every 20 ms; the server's connections counted meanwhile.
        let start = Instant::now();
        let mut waits = Vec::new();
        let (mut most, mut last) = (0, 0);
        while start.elapsed() < load.time {
            let t = Instant::now();
            normal.write_all(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let r = support::read_response(&mut normal, &mut buf, false).expect("the normal client's answer");
            assert_eq!(r.text(), "Hello, World!");
            waits.push(t.elapsed());
            last = server.connections();
            most = most.max(last);
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        waits.sort();
        let (asked, slowest, p95) = (waits.len(), waits[waits.len() - 1], waits[waits.len() * 95 / 100]);
        let uploaded: Vec<Option<TcpStream>> = uploaders.into_iter().map(|u| u.join().unwrap()).collect();
        let trickled = tricklers.join().unwrap();
        let mut cuts = trickled.cuts.clone();
        cuts.sort();
        // The uploaders' connections idle on keep-alive now: they hold no body buffer.
        std::thread::sleep(Duration::from_millis(300));
        sampler.join().unwrap();
        let grown = peak.load(Ordering::SeqCst).saturating_sub(baseline);
        let plain = (load.pipeliners + load.uploaders + 1) as u64;
        // docs/caveats.md: per connection at most 2 * (max_output + head) of answers, a
        // 64 KiB file buffer, 16 KiB received and its stack (128 KiB): 400 KiB; per TLS
        // connection in its handshake (M_handshake) its stack, rustls's session, 64 KiB of
        // handshake records received and the server's flight (a 354-byte certificate): 200 KiB;
        // per worker 5 MiB of spare buffers; max_body_memory for large requests in all; and what
        // glibc's allocator keeps of freed large buffers (about one or two per thread heap: 4 x
        // 10 MiB), and 16 MiB for the runtime and the test's clients.
        let max_buf = 10 * MIB + 80 * 1024;
        let bound = plain * 400 * 1024
            + load.tricklers as u64 * 200 * 1024
            + body_memory
            + 2 * 5 * MIB
            + 4 * max_buf
            + 16 * MIB;
        eprintln!(
            "{backend:?}: {} hostile connections ({} of them TLS handshakes) for {:?}: RSS {} MiB at the start, \
             {} MiB more at the peak (bound {} MiB); {} connections open at the most, {} at the end; {} bodies answered; {} handshakes \
             cut off, after {:?} to {:?} (95% within {:?}); normal client: {asked} answers, 95% within {p95:?}, slowest {slowest:?}",
            plain - 1 + load.tricklers as u64,
            load.tricklers,
            load.time,
            baseline / MIB,
            grown / MIB,
            bound / MIB,
            most,
            last,
            answers.load(Ordering::SeqCst),
            trickled.cuts.len(),
            cuts.first().copied().unwrap_or_default(),
            cuts.last().copied().unwrap_or_default(),
            cuts.get(cuts.len() * 95 / 100).copied().unwrap_or_default(),
        );
        assert!(grown < bound, "{backend:?}: {} MiB more, bound {} MiB", grown / MIB, bound / MIB);
        // Within 100 ms; on a machine whose cores other work also takes (the clients of this
        // test among it), a few answers may wait for a core: 95 in 100 within 100 ms, none
        // past a second.
        assert!(p95 < Duration::from_millis(100), "{backend:?}: 95% of answers within {p95:?}");
        assert!(slowest < Duration::from_secs(1), "{backend:?}: the normal client waited {slowest:?}");
        assert!(answers.load(Ordering::SeqCst) > 0, "{backend:?}: no body was answered");
        // Every trickled handshake, those under way when the load ended too, was cut off at
        // its deadline: none before it (counted from the connect, before the accept), none
        // held much past it.
        assert!(trickled.overdue.is_empty(), "{backend:?}: handshakes held past the deadline: {:?}", trickled.overdue);
        assert!(cuts.len() >= load.tricklers, "{backend:?}: {} cut-offs", cuts.len());
        assert!(cuts[0] >= HANDSHAKE_TIME, "{backend:?}: a handshake cut off after {:?}, before its deadline", cuts[0]);
        let last_cut = cuts[cuts.len() - 1];
        assert!(last_cut < HANDSHAKE_TIME + CUT_MARGIN, "{backend:?}: a handshake cut off after {last_cut:?}");
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

/// What the tricklers saw.
struct Trickled {
    /// How long after its connect each cut-off connection was found closed.
    cuts: Vec<Duration>,
    /// The ages of connections found open past `HANDSHAKE_TIME + CUT_MARGIN` once stopped.
    overdue: Vec<Duration>,
}

/// Keeps `count` TLS handshakes under way with the server at `addr` until `stop`: each sends a
/// ClientHello of its own one byte every 200 to 500 ms, and when the server closes it, a new
/// connection takes its place 0 to 300 ms later (so that, once cut off at their deadline, they
/// do not all come back at once). One thread polls them all, so a cut-off is seen when it
/// happens. Once `stop` is set, waits for the handshakes under way to end.
fn trickle_until(addr: SocketAddr, count: usize, client: &Arc<rustls::ClientConfig>, stop: &AtomicBool) -> Trickled {
    struct Slow {
        sock: TcpStream,
        /// Before the connect.
        since: Instant,
        hello: Vec<u8>,
        sent: usize,
        next: Instant,
    }
    /// A trickler: its connection, or when it connects again.
    enum Trickler {
        Open(Slow),
        Closed(Instant),
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random_ms = move |from: u64, to: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        Duration::from_millis(from + seed % (to - from + 1))
    };
    let connect = |first: Duration| -> Trickler {
        let since = Instant::now();
        match TcpStream::connect(addr) {
            Ok(sock) => {
                sock.set_nonblocking(true).unwrap();
                Trickler::Open(Slow { sock, since, hello: client_hello(client), sent: 0, next: since + first })
            }
            Err(_) => Trickler::Closed(since + Duration::from_millis(10)),
        }
    };
    // All at once (the caller sees them all hold a slot); their first bytes spread over a pace.
    let mut tricklers: Vec<Trickler> = (0..count).map(|_| connect(random_ms(200, 500))).collect();
    let mut seen = Trickled { cuts: Vec::new(), overdue: Vec::new() };
    let mut fds = Vec::with_capacity(count);
    let limit = HANDSHAKE_TIME + CUT_MARGIN;
    loop {
        let now = Instant::now();
        // Once stopped, none connects again, and the handshakes under way are followed to
        // their end: each is cut off, or found held past the limit.
        let stopping = stop.load(Ordering::SeqCst);
        if stopping {
            for trickler in tricklers.iter_mut() {
                if let Trickler::Open(t) = trickler
                    && t.since.elapsed() > limit
                {
                    seen.overdue.push(t.since.elapsed());
                    *trickler = Trickler::Closed(now);
                }
            }
            if tricklers.iter().all(|t| matches!(t, Trickler::Closed(_))) {
                break;
            }
        }
        let mut wake = now + Duration::from_millis(100);
        for trickler in tricklers.iter_mut() {
            let t = match trickler {
                Trickler::Closed(_) if stopping => continue,
                Trickler::Closed(again) if *again <= now => {
                    *trickler = connect(random_ms(200, 500));
                    continue;
                }
                Trickler::Closed(again) => {
                    wake = wake.min(*again);
                    continue;
                }
                Trickler::Open(t) => t,
            };
            if t.next <= now {
                // The whole ClientHello would take over a minute at this pace: the server cuts first.
                if t.sent < t.hello.len() {
                    match t.sock.write(&t.hello[t.sent..=t.sent]) {
                        Ok(n) => t.sent += n,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => {
                            seen.cuts.push(t.since.elapsed());
                            *trickler = Trickler::Closed(now + random_ms(0, 300));
                            continue;
                        }
                    }
                }
                t.next = now + random_ms(200, 500);
            }
            wake = wake.min(t.next);
        }
        // Wait for the next byte due, or for the server to close a connection.
        fds.clear();
        fds.extend(tricklers.iter().filter_map(|t| match t {
            Trickler::Open(t) => Some(libc::pollfd { fd: t.sock.as_raw_fd(), events: libc::POLLIN, revents: 0 }),
            Trickler::Closed(_) => None,
        }));
        let timeout = wake.saturating_duration_since(Instant::now()).as_millis() as libc::c_int;
        // SAFETY: `fds` is an array of `fds.len()` pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout.max(1)) };
        if ready <= 0 {
            continue;
        }
        let open = tricklers.iter_mut().filter(|t| matches!(t, Trickler::Open(_)));
        for (trickler, fd) in open.zip(&fds) {
            let Trickler::Open(t) = trickler else { unreachable!() };
            if fd.revents == 0 {
                continue;
            }
            let mut b = [0u8; 512];
            // The end of the stream, a reset, or an alert before them.
            let cut = loop {
                match t.sock.read(&mut b) {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            if cut {
                seen.cuts.push(t.since.elapsed());
                *trickler = Trickler::Closed(Instant::now() + random_ms(0, 300));
            }
        }
    }
    seen
}

/// The first flight of a new TLS client: a ClientHello record.
fn client_hello(client: &Arc<rustls::ClientConfig>) -> Vec<u8> {
    let mut session = rustls::ClientConnection::new(client.clone(), "localhost".try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    while session.wants_write() {
        session.write_tls(&mut hello).unwrap();
    }
    hello
}

#[test]
fn hostile_connections_leave_memory_bounded_and_a_normal_client_answered() {
    hostile(Load { pipeliners: 100, pipelined: 64, uploaders: 4, tricklers: 20, time: Duration::from_secs(3) });
}

#[test]
#[ignore = "a minute of load: run with --ignored"]
fn a_thousand_hostile_connections_leave_memory_bounded_and_a_normal_client_answered() {
    hostile(Load { pipeliners: 700, pipelined: 256, uploaders: 40, tricklers: 260, time: Duration::from_secs(20) });
}
