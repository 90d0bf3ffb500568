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
        struct Search {
            ranges: Ranges,
            wanted: fn(&str) -> bool,
        }
        let mut search = Search { ranges: Ranges { spans: [(0, 0); 32], len: 0 }, wanted };
        unsafe extern "C" fn each(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
            // SAFETY: the loader passes a valid info for each object, and `data` is our Search.
            let (info, search) = unsafe { (&*info, &mut *data.cast::<Search>()) };
            let name = if info.dlpi_name.is_null() {
                ""
            } else {
                // SAFETY: a NUL-terminated name owned by the loader.
                unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }.to_str().unwrap_or("")
            };
            let base = name.rsplit('/').next().unwrap_or("");
            if !(search.wanted)(base) {
                return 0;
            }
            let ranges = &mut search.ranges;
            for i in 0..info.dlpi_phnum as usize {
                // SAFETY: `dlpi_phnum` headers follow `dlpi_phdr`.
                let ph = unsafe { &*info.dlpi_phdr.add(i) };
                if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 && ranges.len < ranges.spans.len() {
                    let lo = info.dlpi_addr as usize + ph.p_vaddr as usize;
                    ranges.spans[ranges.len] = (lo, lo + ph.p_memsz as usize);
                    ranges.len += 1;
                }
            }
            0
        }
        // SAFETY: the callback matches the expected signature and `search` outlives the call.
        unsafe { libc::dl_iterate_phdr(Some(each), (&raw mut search).cast()) };
        search.ranges
    }

    /// # Signal safety
    ///
    /// Reads a fixed array.
    pub(crate) fn contains(&self, pc: usize) -> bool {
        self.spans[..self.len].iter().any(|&(lo, hi)| pc >= lo && pc < hi)
    }
}
