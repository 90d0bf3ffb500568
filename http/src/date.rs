//! The `Date` header value.
//!
//! A background thread keeps the current second of the wall clock in an atomic, waking just
//! after each second begins; each thread formats the value once per second. Answering a
//! request then costs one atomic load, not a clock reading.

use std::cell::Cell;
use std::io::Write;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

thread_local! {
    static CACHE: Cell<(u64, [u8; 29])> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// The current second since the epoch, kept by the ticker thread.
static SECOND: AtomicU64 = AtomicU64::new(0);
/// The ticker thread could not be started: every call reads the clock.
static NO_TICKER: AtomicBool = AtomicBool::new(false);
static TICKER: Once = Once::new();

fn wall_clock() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn start_ticker() {
    SECOND.store(wall_clock().as_secs(), Ordering::Relaxed);
    let ticker = std::thread::Builder::new().name("oc-http-date".into()).spawn(|| {
        loop {
            let now = wall_clock();
            SECOND.store(now.as_secs(), Ordering::Relaxed);
            // Just after the next second begins.
            std::thread::sleep(
                Duration::from_nanos(1_000_000_000 - u64::from(now.subsec_nanos())) + Duration::from_millis(1),
            );
        }
    });
    if ticker.is_err() {
        NO_TICKER.store(true, Ordering::Relaxed);
    }
}

/// The current second since the epoch (as `now` formats it): one atomic load once the
/// ticker runs.
#[inline]
pub(crate) fn second() -> u64 {
    TICKER.call_once(start_ticker);
    if NO_TICKER.load(Ordering::Relaxed) { wall_clock().as_secs() } else { SECOND.load(Ordering::Relaxed) }
}

/// How long ago `second` (from `second`) began, at least: the time since the end of that
/// second, by the wall clock (zero if it has not ended).
pub(crate) fn since_end_of(second: u64) -> Duration {
    wall_clock().saturating_sub(Duration::from_secs(second.saturating_add(1)))
}

oc_runtime::tls_accessor! {
    /// The current time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), 29 bytes.
    pub(crate) fn now() -> [u8; 29] {
        TICKER.call_once(start_ticker);
        let secs = if NO_TICKER.load(Ordering::Relaxed) { wall_clock().as_secs() } else { SECOND.load(Ordering::Relaxed) };
        let (cached_secs, cached) = CACHE.get();
        if cached_secs == secs {
            return cached;
        }
        let fresh = format(secs);
        CACHE.set((secs, fresh));
        fresh
    }
}

/// The last second an HTTP-date can name (Fri, 31 Dec 9999 23:59:59 GMT): httpdate refuses
/// later ones, and a file's modification time may be anything.
const LAST_SECOND: u64 = 253_402_300_799;

/// Formats seconds since the epoch as an IMF-fixdate (seconds past the year 9999 as its last
/// second).
///
/// The per-request cost is `now`'s cache hit, not this: a thread formats the date once per
/// second, so the formatting is httpdate's. Side by side with the hand-written formatter it
/// replaced: 667 and 669 user-space instructions per plaintext request (callgrind medians;
/// docs/benchmarks.md, "HTTP dates").
pub(crate) fn format(secs: u64) -> [u8; 29] {
    let date = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs.min(LAST_SECOND)));
    let mut out = [0u8; 29];
    write!(&mut out[..], "{date}").expect("an IMF-fixdate is 29 bytes");
    out
}

/// Seconds since the epoch of an HTTP-date in any of its three forms (RFC 9110 §5.6.7):
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`). Surrounding
/// whitespace is ignored; a date whose weekday is wrong is not a date.
pub(crate) fn parse(text: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(text.trim()).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_follows_the_wall_clock() {
        let parse = |d: [u8; 29]| String::from_utf8(d.to_vec()).unwrap();
        let secs = super::wall_clock().as_secs();
        let now = parse(super::now());
        // The ticker moves on a millisecond after each second begins: at most one behind.
        assert!((secs - 1..=secs + 1).any(|s| parse(super::format(s)) == now), "{now}");
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let later = parse(super::now());
        let secs = super::wall_clock().as_secs();
        assert!((secs - 2..=secs).any(|s| parse(super::format(s)) == later), "{later}");
        assert_ne!(now, later);
    }

    #[test]
    fn formats_known_dates() {
        assert_eq!(&super::format(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&super::format(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&super::format(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(&super::format(4_102_444_799), b"Thu, 31 Dec 2099 23:59:59 GMT");
        assert_eq!(&super::format(u64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn parses_the_three_forms() {
        for text in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", " Sun Nov  6 08:49:37 1994 "] {
            assert_eq!(super::parse(text), Some(784_111_777), "{text}");
        }
        for bad in ["Mon, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC", "06-Nov-94", ""] {
            assert_eq!(super::parse(bad), None, "{bad}");
        }
    }
}
