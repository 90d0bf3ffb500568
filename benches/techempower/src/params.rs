//! The `queries`/`count` parameter: how many rows a request asks for, clamped to `1..=500`.

/// Fewest rows a request gets.
pub const MIN_COUNT: usize = 1;
/// Most rows a request gets.
pub const MAX_COUNT: usize = 500;

/// The row count a request asks for: a missing, empty, non-numeric or smaller-than-one value
/// gives 1; more than 500 (however many digits) gives 500.
///
/// ```
/// use oc_techempower::params::clamp_count;
/// assert_eq!(clamp_count(Some("20")), 20);
/// assert_eq!(clamp_count(Some("foo")), 1);
/// assert_eq!(clamp_count(Some("0")), 1);
/// assert_eq!(clamp_count(Some("501")), 500);
/// assert_eq!(clamp_count(None), 1);
/// ```
pub fn clamp_count(value: Option<&str>) -> usize {
    let Some(digits) = value.map(str::trim) else { return MIN_COUNT };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return MIN_COUNT;
    }
    // Saturates: a number too long for `usize` is still "more than 500".
    let n = digits.bytes().fold(0usize, |n, b| n.saturating_mul(10).saturating_add(usize::from(b - b'0')));
    n.clamp(MIN_COUNT, MAX_COUNT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_values() {
        assert_eq!(clamp_count(Some("2")), 2);
        assert_eq!(clamp_count(Some("0")), 1);
        assert_eq!(clamp_count(Some("foo")), 1);
        assert_eq!(clamp_count(Some("501")), 500);
        assert_eq!(clamp_count(Some("")), 1);
        assert_eq!(clamp_count(None), 1);
    }

    #[test]
    fn edges() {
        assert_eq!(clamp_count(Some("1")), 1);
        assert_eq!(clamp_count(Some("500")), 500);
        assert_eq!(clamp_count(Some("-3")), 1);
        assert_eq!(clamp_count(Some("12abc")), 1);
        assert_eq!(clamp_count(Some("99999999999999999999999999")), 500);
        assert_eq!(clamp_count(Some("007")), 7);
    }
}
