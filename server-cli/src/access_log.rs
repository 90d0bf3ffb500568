//! The access log: one line per request in the common log format, on standard output.
//!
//! A request appends its line to a shared buffer under a short lock (no IO, no suspension
//! while it is held); a plain thread takes the buffer every 100 ms, or sooner when it passes
//! 64 KiB, and writes it. A coroutine therefore never waits on the log's output, and a
//! request costs one formatted line and one uncontended lock. If the output falls behind by
//! more than `MAX_PENDING` bytes, lines are dropped and counted (`oc_access_log_dropped_lines_total`)
//! rather than let memory grow.
//!
//! # Shutdown
//!
//! 1. `flush` takes whatever is buffered and writes it, on the calling thread.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Buffered bytes past which lines are dropped.
const MAX_PENDING: usize = 16 * 1024 * 1024;
/// Buffered bytes past which the writer is woken early.
const WAKE_AT: usize = 64 * 1024;

/// What a line says about one request.
#[derive(Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) version: oc_http::Version,
    pub(crate) status: u16,
    /// Body bytes sent (`-` in the line when 0).
    pub(crate) bytes: u64,
}

/// Lines waiting for the writer.
struct Pending {
    buf: Vec<u8>,
}

/// The longest a line is beside its method and target: an IPv6 address (39, 45 with an IPv4 tail), the date (26),
/// the version (8), the status (5), the byte count (20) and the fixed text (15).
const LINE_FIXED_MAX: usize = 45 + 26 + 8 + 5 + 20 + 15;

thread_local! {
    /// The date of the second this thread last logged in, and when (on the monotonic clock)
    /// the next second starts: comparing a request's reading with it is all most lines
    /// cost for their date.
    static DATE: std::cell::Cell<Option<(Instant, [u8; 26])>> = const { std::cell::Cell::new(None) };
}

oc_runtime::tls_accessor! {
    /// `10/Oct/2000:13:55:36 +0000` for the second of `at`, formatted once a second per thread.
    fn clf_date(at: Instant) -> [u8; 26] {
        match DATE.get() {
            Some((until, date)) if at < until => date,
            _ => {
                let (second, until) = wall_second(at);
                let mut date = [0u8; 26];
                let _ = write_clf_date(&mut &mut date[..], second);
                DATE.set(Some((until, date)));
                date
            }
        }
    }
}

/// A line being formatted into memory sized for it beforehand (`LINE_FIXED_MAX`).
struct Line<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Line<'_> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    /// An IPv4 address's byte in decimal.
    #[inline(always)]
    fn octet(&mut self, n: u8) {
        if n >= 100 {
            self.put(&[b'0' + n / 100, b'0' + n / 10 % 10, b'0' + n % 10]);
        } else if n >= 10 {
            self.put(&[b'0' + n / 10, b'0' + n % 10]);
        } else {
            self.byte(b'0' + n);
        }
    }

    /// `n` in decimal.
    #[inline(always)]
    fn decimal(&mut self, n: u64) {
        self.put(itoa::Buffer::new().format(n).as_bytes());
    }

    /// The whole line, newline included.
    fn format(&mut self, date: [u8; 26], entry: &Entry<'_>, target: &str) {
        let Entry { peer, method, version, status, bytes, .. } = *entry;
        match peer.map(|p| p.ip()) {
            Some(std::net::IpAddr::V4(ip)) => {
                let [a, b, c, d] = ip.octets();
                self.octet(a);
                self.byte(b'.');
                self.octet(b);
                self.byte(b'.');
                self.octet(c);
                self.byte(b'.');
                self.octet(d);
            }
            Some(ip) => {
                let mut text = [0u8; 45];
                let mut w = &mut text[..];
                let _ = write!(w, "{ip}");
                let written = 45 - w.len();
                self.put(&text[..written]);
            }
            None => self.byte(b'-'),
        }
        self.put(b" - - [");
        self.put(&date);
        self.put(b"] \"");
        self.put(method.as_bytes());
        self.byte(b' ');
        self.put(target.as_bytes());
        self.put(match version {
            oc_http::Version::Http10 => b" HTTP/1.0\" ",
            oc_http::Version::Http11 => b" HTTP/1.1\" ",
        });
        if (100..1000).contains(&status) {
            self.put(&[b'0' + (status / 100) as u8, b'0' + (status / 10 % 10) as u8, b'0' + (status % 10) as u8]);
        } else {
            self.decimal(u64::from(status));
        }
        self.byte(b' ');
        match bytes {
            0 => self.byte(b'-'),
            n => self.decimal(n),
        }
        self.byte(b'\n');
    }
}

/// The process's access log.
pub(crate) struct AccessLog {
    pending: Mutex<Pending>,
    wake: Condvar,
    dropped: AtomicU64,
    /// Serialises the writer thread and `flush`, so that lines keep their order.
    output: Mutex<()>,
}

static LOG: OnceLock<Arc<AccessLog>> = OnceLock::new();

/// The monotonic clock's origin for `wall_second`.
static ORIGIN: OnceLock<Instant> = OnceLock::new();
/// Wall-clock nanoseconds since the epoch at `ORIGIN`, as last measured (the writer thread
/// measures it again every 100 ms, so that a step of the wall clock shows within that).
static ORIGIN_WALL_NS: AtomicI64 = AtomicI64::new(0);

/// Measures `ORIGIN_WALL_NS` again.
fn sync_wall_clock() {
    let origin = *ORIGIN.get_or_init(Instant::now);
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
    let since_origin = origin.elapsed().as_nanos() as i64;
    ORIGIN_WALL_NS.store(wall - since_origin, Ordering::Relaxed);
}

/// The wall-clock second (since the epoch) of `at`, from the monotonic reading a request
/// took anyway (no clock read of its own), and when, on the monotonic clock, the next second
/// starts.
fn wall_second(at: Instant) -> (u64, Instant) {
    let origin = *ORIGIN.get_or_init(Instant::now);
    let ns = (ORIGIN_WALL_NS.load(Ordering::Relaxed) + at.saturating_duration_since(origin).as_nanos() as i64).max(0);
    let into_second = Duration::from_nanos((ns % 1_000_000_000) as u64);
    ((ns / 1_000_000_000) as u64, at - into_second + Duration::from_secs(1))
}

impl AccessLog {
    /// The access log, its writer thread started on first use.
    pub(crate) fn get() -> &'static Arc<AccessLog> {
        LOG.get_or_init(|| {
            let log = Arc::new(AccessLog {
                pending: Mutex::new(Pending { buf: Vec::with_capacity(WAKE_AT * 2) }),
                wake: Condvar::new(),
                dropped: AtomicU64::new(0),
                output: Mutex::new(()),
            });
            sync_wall_clock();
            let writer = log.clone();
            std::thread::Builder::new()
                .name("oc-access-log".into())
                .spawn(move || writer.run())
                .expect("cannot start the access log's writer thread");
            log
        })
    }

    /// Lines dropped so far, if the log was ever used.
    pub(crate) fn dropped_if_started() -> u64 {
        LOG.get().map_or(0, |l| l.dropped.load(Ordering::Relaxed))
    }

    /// Appends a line for one request. The line is formatted on the stack (bytes copied and
    /// integers written by hand, the date formatted once a second per thread), then copied
    /// into the shared buffer in one piece under the lock: about 270 instructions a line under
    /// callgrind, where appending each of its fifteen pieces to the buffer under the lock
    /// took about 600.
    ///
    /// `at` is when the request arrived (its date in the line).
    #[inline(never)]
    pub(crate) fn record(&self, at: Instant, entry: &Entry<'_>) {
        let target = escape_if_needed(entry.target);
        let need = LINE_FIXED_MAX + entry.method.len() + target.len();
        let mut stack = [0u8; 256];
        let mut heap = Vec::new();
        let room = if need <= stack.len() {
            &mut stack[..]
        } else {
            heap.resize(need, 0);
            &mut heap[..]
        };
        let mut line = Line { buf: room, len: 0 };
        line.format(clf_date(at), entry, &target);
        let line = &line.buf[..line.len];
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let before = pending.buf.len();
        if before > MAX_PENDING {
            drop(pending);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.buf.extend_from_slice(line);
        // Wake the writer once, as the buffer passes the mark.
        let wake = before < WAKE_AT && pending.buf.len() >= WAKE_AT;
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
    }

    /// The writer thread: every 100 ms (or when woken), writes what is buffered.
    fn run(&self) {
        let mut spare = Vec::with_capacity(WAKE_AT * 2);
        loop {
            {
                let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                let (mut pending, _) = self
                    .wake
                    .wait_timeout_while(pending, Duration::from_millis(100), |p| p.buf.len() < WAKE_AT)
                    .unwrap_or_else(|e| e.into_inner());
                std::mem::swap(&mut pending.buf, &mut spare);
            }
            sync_wall_clock();
            self.write_out(&mut spare);
        }
    }

    fn write_out(&self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        let _order = self.output.lock().unwrap_or_else(|e| e.into_inner());
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(buf);
        let _ = stdout.flush();
        buf.clear();
    }

    /// Writes whatever is buffered now (at shutdown).
    pub(crate) fn flush(&self) {
        let mut taken = std::mem::take(&mut self.pending.lock().unwrap_or_else(|e| e.into_inner()).buf);
        self.write_out(&mut taken);
    }
}

/// The target as it may appear in a log line: `"`, `\` and control bytes escaped (the parser
/// admits only visible ASCII in a target, so this is a defence, not the usual path).
fn escape_if_needed(target: &str) -> std::borrow::Cow<'_, str> {
    if needs_escape(target.as_bytes()) {
        std::borrow::Cow::Owned(escape(target))
    } else {
        std::borrow::Cow::Borrowed(target)
    }
}

/// Whether any byte is not visible ASCII, or is `"` or `\`: eight bytes at a time (a byte
/// at a time was a fifth of a line's cost for a ten-byte target).
fn needs_escape(bytes: &[u8]) -> bool {
    let word = |chunk: &[u8]| u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
    if bytes.len() < 8 {
        // Padded with a byte that needs nothing.
        let mut padded = [b'a'; 8];
        padded[..bytes.len()].copy_from_slice(bytes);
        return word_needs_escape(u64::from_le_bytes(padded));
    }
    let mut chunks = bytes.chunks_exact(8);
    if chunks.any(|chunk| word_needs_escape(word(chunk))) {
        return true;
    }
    // The last eight bytes, overlapping the chunks when the length is not a multiple of 8.
    !chunks.remainder().is_empty() && word_needs_escape(word(&bytes[bytes.len() - 8..]))
}

/// Whether any of the eight bytes of `x` is below `!` (0x21), `DEL` (0x7f) or above, `"` or
/// `\`. Each test is exact for whether any byte matches (the classic "has less" and "has
/// zero byte" bit tricks; which byte matched may be wrong, which does not matter here).
fn word_needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    let equal = |c: u64| {
        let y = x ^ (ONES * c);
        y.wrapping_sub(ONES) & !y & HIGHS
    };
    (x & HIGHS | below(0x21) | equal(0x7f) | equal(u64::from(b'"')) | equal(u64::from(b'\\'))) != 0
}

fn escape(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for c in target.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_ascii_graphic() => out.push(c),
            c => {
                let mut b = [0u8; 4];
                for byte in c.encode_utf8(&mut b).bytes() {
                    out.push_str(&format!("\\x{byte:02x}"));
                }
            }
        }
    }
    out
}

/// `10/Oct/2000:13:55:36 +0000` (UTC) for `secs` since the epoch.
fn write_clf_date(w: &mut impl Write, secs: u64) -> std::io::Result<()> {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    write!(
        w,
        "{day:02}/{}/{year}:{:02}:{:02}:{:02} +0000",
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Year, month (1-12) and day (1-31) of a count of days since 1970-01-01 (Howard Hinnant's
/// algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_the_common_log_format() {
        let mut out = Vec::new();
        write_clf_date(&mut out, 971_186_136).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "10/Oct/2000:13:55:36 +0000");
        let mut out = Vec::new();
        write_clf_date(&mut out, 1_709_208_000).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "29/Feb/2024:12:00:00 +0000");
    }

    #[test]
    fn the_wall_clock_from_the_monotonic_one() {
        sync_wall_clock();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let now = Instant::now();
        let (derived, next) = wall_second(now);
        assert!(derived.abs_diff(wall) <= 1, "{derived} vs {wall}");
        assert!(next > now && next <= now + Duration::from_secs(1));
        assert_eq!(wall_second(next).0, derived + 1);
    }

    #[test]
    fn decimals() {
        let mut room = [0u8; 20];
        for n in 0..=255u8 {
            let mut line = Line { buf: &mut room, len: 0 };
            line.octet(n);
            assert_eq!(&line.buf[..line.len], n.to_string().as_bytes());
        }
        for n in [0u64, 7, 10, 404, 1_048_576, u64::MAX] {
            let mut line = Line { buf: &mut room, len: 0 };
            line.decimal(n);
            assert_eq!(&line.buf[..line.len], n.to_string().as_bytes());
        }
    }

    /// A log without its writer thread: lines stay in its buffer.
    fn test_log() -> AccessLog {
        sync_wall_clock();
        AccessLog {
            pending: Mutex::new(Pending { buf: Vec::new() }),
            wake: Condvar::new(),
            dropped: AtomicU64::new(0),
            output: Mutex::new(()),
        }
    }

    fn buffered(log: &AccessLog) -> String {
        String::from_utf8(log.pending.lock().unwrap().buf.clone()).unwrap()
    }

    #[test]
    fn lines_in_the_common_log_format() {
        let log = test_log();
        let peer = Some("10.1.2.3:5555".parse().unwrap());
        let now = Instant::now();
        let get =
            Entry { peer, method: "GET", target: "/a?b", version: oc_http::Version::Http11, status: 200, bytes: 1234 };
        log.record(now, &get);
        let head = Entry {
            peer: Some("[::1]:80".parse().unwrap()),
            method: "HEAD",
            target: "/\"x",
            version: oc_http::Version::Http10,
            status: 304,
            bytes: 0,
        };
        log.record(now, &head);
        let text = buffered(&log);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("10.1.2.3 - - ["), "{text}");
        assert!(lines[0].ends_with(" +0000] \"GET /a?b HTTP/1.1\" 200 1234"), "{text}");
        assert!(lines[1].starts_with("::1 - - [") && lines[1].ends_with("] \"HEAD /\\\"x HTTP/1.0\" 304 -"), "{text}");
    }

    #[test]
    fn the_longest_lines_fit() {
        let log = test_log();
        // The longest address text, a status of five digits, the largest count, and targets
        // on either side of the stack line's room (one escaped to four times its length).
        let peer = Some("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:1".parse().unwrap());
        let long = format!("/{}", "a".repeat(300));
        let escaped = "\x01".repeat(100);
        for target in [long.as_str(), &long[..200], escaped.as_str()] {
            let entry = Entry {
                peer,
                method: "OPTIONS",
                target,
                version: oc_http::Version::Http11,
                status: 65535,
                bytes: u64::MAX,
            };
            log.record(Instant::now(), &entry);
        }
        let text = buffered(&log);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let tail = format!(" HTTP/1.1\" 65535 {}", u64::MAX);
        assert!(lines[0].starts_with("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff - - ["), "{text}");
        assert!(lines[0].ends_with(&format!("\"OPTIONS {long}{tail}")), "{text}");
        assert!(lines[1].ends_with(&format!("\"OPTIONS {}{tail}", &long[..200])), "{text}");
        assert!(lines[2].ends_with(&format!("\"OPTIONS {}{tail}", "\\x01".repeat(100))), "{text}");
    }

    #[test]
    fn the_word_test_agrees_with_the_byte_test() {
        let byte_test = |bytes: &[u8]| bytes.iter().any(|&b| !b.is_ascii_graphic() || b == b'"' || b == b'\\');
        // Every byte value at every position of targets of 1 to 20 bytes.
        for len in 1..=20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut target = vec![b'x'; len];
                    target[at] = b;
                    assert_eq!(needs_escape(&target), byte_test(&target), "byte {b:#x} at {at} of {len}");
                }
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape(b"/plaintext?a=b&c=%20~"));
        assert!(needs_escape("/caf\u{e9}".as_bytes()));
    }

    #[test]
    fn targets_are_escaped() {
        assert_eq!(escape_if_needed("/a?b=c"), "/a?b=c");
        assert_eq!(escape_if_needed("/a\"b\\"), "/a\\\"b\\\\");
        assert_eq!(escape("/é"), "/\\xc3\\xa9");
    }
}
