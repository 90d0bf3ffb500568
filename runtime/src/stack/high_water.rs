//! Stack high-water marks: how much of its stack a coroutine used, measured when the stack
//! comes back to the pool (`StackPool::put`), if `Builder::stack_high_water` is on.
//!
//! # How
//!
//! Fresh stack memory is zero (anonymous `mmap`), and so is memory the pool discards
//! (`MADV_DONTNEED` on cold stacks). While measuring is on, every stack goes back to the pool
//! zeroed again: the measurement finds the lowest non-zero word the coroutine left, records
//! the distance from the stack's top, and zeroes everything from there up. So a reused stack
//! starts clean, and its next coroutine is measured exactly like one on a fresh stack.
//!
//! Finding the lowest non-zero word without reading the whole stack (reading a page nobody
//! touched would fault it in): the search starts one 512-byte block below the previous mark
//! of this stack (`Stack::mark`), walks down while the blocks below hold anything non-zero
//! (tolerating one all-zero block, as a zero-initialised buffer may leave), then scans up
//! word by word to the first non-zero one. The cost is in proportion to the stack this
//! coroutine used (scanned once, zeroed once) plus, once after a deep coroutine, the depth
//! the previous one used; a coroutine that used 1 KiB costs a few cache lines.
//!
//! # Limits
//!
//! - A coroutine whose deepest kilobyte or more holds only zeros (a zeroed buffer at the very
//!   bottom of its use, never written) is measured above it. Calls leave return addresses
//!   and saved registers, so the bottom of a real call chain is non-zero.
//! - Such an undercount leaves the words below it unzeroed; a later, deeper coroutine on the
//!   same stack then overwrites them (and is measured right) or stops short of them (and is
//!   measured right); only one whose use ends within 1 KiB above them is measured as deep as
//!   they are. Discarding the stack (the cold pool) clears them.
//! - `maybe_grow` segments are not measured: a coroutine that grew onto one used its own
//!   stack down to the red zone, and counts as using nearly all of it.

use super::Stack;

/// Granularity of the downward walk.
const BLOCK: usize = 512;

/// Measures and cleans a stack whose coroutine has finished; returns the bytes it used.
///
/// Must be called for every stack returned to the pool while measuring is on (the zeroing
/// is what makes the next measurement of this stack right).
pub(crate) fn measure(stack: &mut Stack) -> usize {
    let (lo, top) = stack.usable_range();
    let hint = stack.mark.clamp(lo, top);
    // `lo` and `top` are page aligned, hence block aligned.
    let mut start = (hint & !(BLOCK - 1)).saturating_sub(BLOCK).max(lo);
    while start >= lo + BLOCK {
        let below = start - BLOCK;
        if !all_zero(below, BLOCK) {
            start = below;
        } else if below >= lo + BLOCK && !all_zero(below - BLOCK, BLOCK) {
            start = below - BLOCK;
        } else {
            break;
        }
    }
    let floor = first_non_zero(start, top).unwrap_or(top);
    // SAFETY: `[floor, top)` is usable memory of this stack, on which no coroutine runs
    // (it has finished: the pool only takes back unused stacks).
    unsafe { std::ptr::write_bytes(floor as *mut u8, 0, top - floor) };
    stack.mark = floor;
    top - floor
}

/// Whether the `len` bytes at `addr` (8-aligned, inside an unused stack) are all zero.
fn all_zero(addr: usize, len: usize) -> bool {
    // SAFETY: the caller passes an aligned range of readable memory of an unused stack.
    let words = unsafe { std::slice::from_raw_parts(addr as *const u64, len / 8) };
    words.iter().fold(0, |acc, &w| acc | w) == 0
}

/// The address of the first non-zero word in `[from, to)` (8-aligned, inside an unused stack).
fn first_non_zero(from: usize, to: usize) -> Option<usize> {
    // SAFETY: as in `all_zero`.
    let words = unsafe { std::slice::from_raw_parts(from as *const u64, (to - from) / 8) };
    // Whole cache lines first (the fold vectorises), then the word within the line.
    let mut chunks = words.chunks_exact(8);
    let mut at = 0;
    for line in &mut chunks {
        if line.iter().fold(0, |acc, &w| acc | w) != 0 {
            let word = line.iter().position(|&w| w != 0).unwrap_or(0);
            return Some(from + (at + word) * 8);
        }
        at += 8;
    }
    chunks.remainder().iter().position(|&w| w != 0).map(|word| from + (at + word) * 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: usize = 1024;

    /// Writes non-zero words over `[top - depth, top - upto)` (multiples of 8).
    fn dirty(stack: &Stack, depth: usize, upto: usize) {
        let (_, top) = stack.usable_range();
        for addr in ((top - depth)..(top - upto)).step_by(8) {
            // SAFETY: usable memory of a stack no coroutine runs on.
            unsafe { (addr as *mut u64).write(0x0123_4567_89ab_cdef) };
        }
    }

    fn all_clean(stack: &Stack) -> bool {
        let (lo, top) = stack.usable_range();
        all_zero(lo, top - lo)
    }

    #[test]
    fn marks_are_exact_and_the_stack_is_left_clean() {
        let mut stack = Stack::map_protected(64 * KIB).unwrap();
        for depth in [8, 1000, 4096, 5000, 20 * KIB, 64 * KIB] {
            dirty(&stack, depth, 0);
            assert_eq!(measure(&mut stack), depth);
            assert!(all_clean(&stack), "after {depth}");
        }
        // Deep, then shallow, then a little deeper: each measured on its own.
        for depth in [60 * KIB, 1200, 904, 1304, 40 * KIB, 16] {
            dirty(&stack, depth, 0);
            assert_eq!(measure(&mut stack), depth);
        }
        assert!(all_clean(&stack));
        assert_eq!(measure(&mut stack), 0, "a clean stack measures nothing");
    }

    #[test]
    fn a_zero_hole_inside_the_used_part_is_passed_over() {
        let mut stack = Stack::map_protected(64 * KIB).unwrap();
        dirty(&stack, 1000, 0);
        assert_eq!(measure(&mut stack), 1000);
        // Used down to 10 KiB, with 1400 zero bytes (a zeroed buffer) below the previous
        // mark: a whole block of zeros is passed over.
        dirty(&stack, 10 * KIB, 1000 + 1400);
        dirty(&stack, 1000, 0);
        assert_eq!(measure(&mut stack), 10 * KIB);
        assert!(all_clean(&stack));
    }

    #[test]
    fn a_hole_of_two_blocks_below_the_previous_mark_stops_the_search() {
        // The documented limit: the words below such a hole are not seen (and stay dirty).
        let mut stack = Stack::map_protected(64 * KIB).unwrap();
        dirty(&stack, 1000, 0);
        assert_eq!(measure(&mut stack), 1000);
        dirty(&stack, 10 * KIB, 4 * KIB);
        dirty(&stack, 1000, 0);
        assert_eq!(measure(&mut stack), 1000);
        assert!(!all_clean(&stack));
    }

    #[test]
    fn the_bottom_of_the_stack_is_reached_without_touching_the_guard() {
        let mut stack = Stack::map_protected(16 * KIB).unwrap();
        let (lo, top) = stack.usable_range();
        dirty(&stack, top - lo, 0);
        assert_eq!(measure(&mut stack), top - lo);
        dirty(&stack, 64, 0);
        assert_eq!(measure(&mut stack), 64);
    }
}
