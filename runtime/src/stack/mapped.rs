//! One coroutine stack: usable memory above a guard page.
//!
//! Two ways to make the guard page, chosen once per process by [`GuardKind::detect`]:
//!
//! - **Marker** (Linux 6.13+): `MADV_GUARD_INSTALL` turns the page into a guard inside the
//!   mapping, so stacks are carved from large shared chunks and cost no memory mapping of
//!   their own: `vm.max_map_count` does not limit how many coroutines can live at once, and
//!   mapping a stack does not take the process's memory-map lock for writing.
//! - **Protect** (older kernels): one mapping per stack whose lowest page is `PROT_NONE`;
//!   each stack costs two memory mappings.
//!
//! `OC_STACK_GUARD=protect` forces the second way (`marker` forces the first; `auto` is the
//! default).

use std::io;
use std::sync::{Arc, OnceLock};

use corosensei::stack::{StackPointer, valgrind::ValgrindStackRegistration};

use crate::sys;

/// How guard pages are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardKind {
    Marker,
    Protect,
}

impl GuardKind {
    /// The kind this process uses: from `OC_STACK_GUARD`, else what the kernel supports.
    pub(crate) fn detect() -> GuardKind {
        static KIND: OnceLock<GuardKind> = OnceLock::new();
        *KIND.get_or_init(|| match std::env::var("OC_STACK_GUARD").as_deref() {
            Ok("protect") => GuardKind::Protect,
            Ok("marker") => {
                if Self::markers_work() {
                    GuardKind::Marker
                } else {
                    tracing::warn!("OC_STACK_GUARD=marker needs Linux 6.13 or later; using protect");
                    GuardKind::Protect
                }
            }
            _ if Self::markers_work() => GuardKind::Marker,
            _ => GuardKind::Protect,
        })
    }

    fn markers_work() -> bool {
        let page = sys::page_size();
        let Ok(addr) = sys::map_stack(2 * page) else {
            return false;
        };
        // SAFETY: a fresh private anonymous mapping of ours, holding nothing.
        let ok = unsafe { sys::install_guard(addr, page) }.is_ok();
        // SAFETY: the probe mapping is ours and unused.
        unsafe { sys::unmap(addr, 2 * page) };
        ok
    }
}

/// A large mapping that stacks are carved from (marker guards). Unmapped when the last
/// stack carved from it is gone.
pub(crate) struct Chunk {
    base: usize,
    len: usize,
}

impl Chunk {
    /// Maps room for `count` stacks of `slot` bytes each (guard included).
    pub(crate) fn map(slot: usize, count: usize) -> io::Result<Arc<Chunk>> {
        let len = slot * count;
        let base = sys::map_stack(len)?;
        Ok(Arc::new(Chunk { base: base as usize, len }))
    }

    /// Makes the `index`th slot a stack.
    pub(crate) fn carve(self: &Arc<Chunk>, slot: usize, index: usize) -> io::Result<Stack> {
        let bottom = self.base + slot * index;
        debug_assert!(bottom + slot <= self.base + self.len);
        // SAFETY: the guard page lies in our chunk, in a slot nobody uses yet.
        unsafe { sys::install_guard(bottom as *mut u8, sys::page_size())? };
        Ok(Stack::new_in(bottom, slot, Owner::Chunk(self.clone())))
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        // SAFETY: every stack carved from the chunk is gone (each held an `Arc` to it).
        unsafe { sys::unmap(self.base as *mut u8, self.len) };
    }
}

enum Owner {
    /// The stack is its own mapping.
    Mapping,
    /// The stack is a slot of a chunk.
    Chunk(#[allow(dead_code)] Arc<Chunk>),
}

/// A stack. Usable memory is `[bottom + page, bottom + len)`; the page at `bottom` faults.
pub(crate) struct Stack {
    bottom: usize,
    len: usize,
    /// Where the last high-water measurement found the lowest non-zero word (the top when
    /// the stack is known clean); `high_water.rs`.
    pub(crate) mark: usize,
    owner: Owner,
    _valgrind: ValgrindStackRegistration,
}

// SAFETY: a stack is plain memory owned by this value; moving the owner between threads moves
// nothing the kernel ties to a thread.
unsafe impl Send for Stack {}

impl Stack {
    /// The mapping length of a stack with at least `usable` bytes.
    pub(crate) fn slot_len(usable: usize) -> usize {
        let page = sys::page_size();
        usable.max(corosensei::stack::MIN_STACK_SIZE).next_multiple_of(page) + page
    }

    fn new_in(bottom: usize, len: usize, owner: Owner) -> Stack {
        let _valgrind = ValgrindStackRegistration::new(bottom as *mut u8, len);
        Stack { bottom, len, mark: bottom + len, owner, _valgrind }
    }

    /// Maps a stack of its own with at least `usable` bytes above a `PROT_NONE` guard page.
    pub(crate) fn map_protected(usable: usize) -> io::Result<Stack> {
        let page = sys::page_size();
        let len = Self::slot_len(usable);
        let bottom = sys::map_stack(len)?;
        // SAFETY: the first page of the fresh mapping holds nothing.
        if let Err(e) = unsafe { sys::protect_none(bottom, page) } {
            // SAFETY: the mapping is ours and unused.
            unsafe { sys::unmap(bottom, len) };
            return Err(e);
        }
        Ok(Stack::new_in(bottom as usize, len, Owner::Mapping))
    }

    /// Usable bytes (the mapping less its guard page).
    pub(crate) fn usable(&self) -> usize {
        self.len - sys::page_size()
    }

    /// The usable memory: from above the guard page to the top.
    pub(crate) fn usable_range(&self) -> (usize, usize) {
        (self.bottom + sys::page_size(), self.bottom + self.len)
    }

    /// The guard page's address range.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.bottom, self.bottom + sys::page_size())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // No coroutine runs on the stack any more: a `Stack` is only dropped after its
        // coroutine finished or was unwound. A chunk's slot is released with the chunk.
        if let Owner::Mapping = self.owner {
            // SAFETY: the mapping is owned by this value.
            unsafe { sys::unmap(self.bottom as *mut u8, self.len) };
        }
    }
}

/// Returns the memory of idle stacks to the kernel, in as few calls as possible: stacks that
/// sit next to each other (slots of one chunk, or neighbouring mappings) are discarded in one
/// `madvise`, guard pages included (guards survive it).
pub(crate) fn discard_all(stacks: &mut [Stack]) {
    stacks.sort_unstable_by_key(|s| s.bottom);
    for stack in stacks.iter_mut() {
        // The discard zeroes the memory: clean for high-water measurement.
        stack.mark = stack.bottom + stack.len;
    }
    let mut run: Option<(usize, usize)> = None;
    for stack in stacks.iter() {
        run = match run {
            Some((start, end)) if end == stack.bottom => Some((start, stack.bottom + stack.len)),
            Some((start, end)) => {
                discard_range(start, end);
                Some((stack.bottom, stack.bottom + stack.len))
            }
            None => Some((stack.bottom, stack.bottom + stack.len)),
        };
    }
    if let Some((start, end)) = run {
        discard_range(start, end);
    }
}

fn discard_range(start: usize, end: usize) {
    let page = sys::page_size();
    // Keep the lowest (guard) page out of the call: with protect guards it is PROT_NONE, and
    // MADV_DONTNEED on it is pointless either way.
    // SAFETY: the range covers idle stacks we own (pooled, no coroutine on them).
    unsafe { sys::discard((start + page) as *mut u8, end - start - page) };
}

// SAFETY: the memory has a guard page at its bottom and at least MIN_STACK_SIZE usable bytes;
// both ends are page aligned, hence aligned to STACK_ALIGNMENT.
unsafe impl corosensei::stack::Stack for Stack {
    #[inline]
    fn base(&self) -> StackPointer {
        StackPointer::new(self.bottom + self.len).expect("stack mapping at address zero")
    }

    #[inline]
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom).expect("stack mapping at address zero")
    }
}
