//! Code ranges of loaded objects, for the `SIGURG` handler's "where did the signal land"
//! checks.

/// The executable segments of some loaded objects (at most 32 ranges).
pub(crate) struct Ranges {
    spans: [(usize, usize); 32],
    len: usize,
}

impl Ranges {
    /// The executable segments of every loaded object whose file name (without its folder)
    /// `wanted` accepts. Ordinary context only (`dl_iterate_phdr` takes the loader's lock).
    pub(crate) fn of_objects(wanted: fn(&str) -> bool) -> Ranges {
        let mut ranges = Ranges { spans: [(0, 0); 32], len: 0 };
        crate::sys::each_executable_segment(&mut |name, lo, hi| {
            if wanted(name) && ranges.len < ranges.spans.len() {
                ranges.spans[ranges.len] = (lo, hi);
                ranges.len += 1;
            }
        });
        ranges
    }

    /// # Signal safety
    ///
    /// Reads a fixed array.
    pub(crate) fn contains(&self, pc: usize) -> bool {
        self.spans[..self.len].iter().any(|&(lo, hi)| pc >= lo && pc < hi)
    }
}
