//! Warnings that a client or a handler can cause by the thousand (an invalid response from a
//! handler, a failed accept), logged through `tracing` at most once a second for each kind,
//! with how many were left out since the last one.

use std::sync::atomic::{AtomicU64, Ordering};

/// One kind of warning and its pace.
pub(crate) struct Limited {
    /// The second (since the epoch, `date::second`) from which the next may be logged.
    next: AtomicU64,
    /// How many were left out since the last one logged.
    left_out: AtomicU64,
}

impl Limited {
    pub(crate) const fn new() -> Limited {
        Limited { next: AtomicU64::new(0), left_out: AtomicU64::new(0) }
    }

    /// Whether to log one now (then `Some` of how many were left out before it).
    pub(crate) fn allow(&self) -> Option<u64> {
        self.allow_at(crate::date::second())
    }

    fn allow_at(&self, second: u64) -> Option<u64> {
        let next = self.next.load(Ordering::Relaxed);
        if second >= next && self.next.compare_exchange(next, second + 1, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            return Some(self.left_out.swap(0, Ordering::Relaxed));
        }
        self.left_out.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Logs a warning of kind `$kind` (a `static Limited`) unless one was logged this second.
macro_rules! warn_limited {
    ($kind:expr, $($arg:tt)+) => {
        if let Some(left_out) = $kind.allow() {
            tracing::warn!(left_out, $($arg)+);
        }
    };
}
pub(crate) use warn_limited;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_a_second_with_the_count_of_those_left_out() {
        let kind = Limited::new();
        assert_eq!(kind.allow_at(100), Some(0));
        for _ in 0..1000 {
            assert_eq!(kind.allow_at(100), None);
        }
        assert_eq!(kind.allow_at(101), Some(1000));
        assert_eq!(kind.allow_at(101), None);
        assert_eq!(kind.allow_at(105), Some(1));
    }
}
