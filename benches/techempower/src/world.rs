//! World rows, their JSON form, and the random ids and numbers the tests draw.

use std::cell::Cell;

/// Rows in the World table (ids `1..=10000`).
pub const WORLD_ROWS: i32 = 10_000;

/// One World row, serialised as `{"id":N,"randomNumber":M}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct World {
    /// The row's id, `1..=10000`.
    pub id: i32,
    /// Its number, `1..=10000`.
    #[serde(rename = "randomNumber")]
    pub random_number: i32,
}

thread_local! {
    /// This thread's generator state (wyrand); seeded from the thread's address and the clock.
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    clock ^ (std::ptr::addr_of!(local) as u64).rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15
}

/// A uniformly drawn number in `1..=10000` (an id, or a new random number).
///
/// The generator is per thread and used within this call only, so a coroutine moving between
/// threads never holds it across a switch (see `docs/caveats.md`).
#[inline(never)]
pub fn random_id() -> i32 {
    let r = RNG.with(|s| {
        // wyrand: one multiply, good enough for picking rows.
        let x = s.get().wrapping_add(0xA076_1D64_78BD_642F);
        s.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xE703_7ED1_A0B4_28DB);
        (t >> 64) as u64 ^ t as u64
    });
    // Lemire's multiply-shift: no modulo bias worth a mention at this range.
    (((r >> 32) * WORLD_ROWS as u64) >> 32) as i32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form() {
        let w = World { id: 7, random_number: 1234 };
        assert_eq!(serde_json::to_string(&w).unwrap(), r#"{"id":7,"randomNumber":1234}"#);
    }

    #[test]
    fn random_ids_cover_the_range() {
        let mut seen = vec![false; WORLD_ROWS as usize + 1];
        for _ in 0..200_000 {
            let id = random_id();
            assert!((1..=WORLD_ROWS).contains(&id), "{id}");
            seen[id as usize] = true;
        }
        // 200,000 draws over 10,000 values miss one with probability e^-20 each.
        assert!(seen[1..].iter().all(|&s| s), "some ids never drawn");
    }
}
