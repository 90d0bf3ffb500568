//! The `Date` header value.
//!
//! A background thread keeps the current second of the wall clock in an atomic, waking just
//! after each second begins; each thread formats the value once per second. Answering a
//! request then costs one atomic load, not a clock reading.

use std::cell::Cell;
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

/// Formats seconds since the epoch as an IMF-fixdate.
pub(crate) fn format(secs: u64) -> [u8; 29] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = [0u8; 29];
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    out[3..5].copy_from_slice(b", ");
    two(&mut out[5..7], day as u64);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    let y = year as u64;
    out[12] = b'0' + (y / 1000 % 10) as u8;
    out[13] = b'0' + (y / 100 % 10) as u8;
    out[14] = b'0' + (y / 10 % 10) as u8;
    out[15] = b'0' + (y % 10) as u8;
    out[16] = b' ';
    two(&mut out[17..19], h);
    out[19] = b':';
    two(&mut out[20..22], m);
    out[22] = b':';
    two(&mut out[23..25], s);
    out[25..].copy_from_slice(b" GMT");
    out
}

fn two(out: &mut [u8], v: u64) {
    out[0] = b'0' + (v / 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
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
    }
}
