//! One coroutine stack: an anonymous mapping whose lowest page is a guard page.

use std::io;

use corosensei::stack::{StackPointer, valgrind::ValgrindStackRegistration};

use crate::sys;

/// A mapped stack. Usable memory is `[bottom + guard, top)`; the guard page below it faults.
pub(crate) struct Stack {
    /// Lowest address of the mapping (the guard page).
    bottom: usize,
    /// Length of the whole mapping, guard included.
    len: usize,
    _valgrind: ValgrindStackRegistration,
}

// SAFETY: a stack is plain memory owned by this value; moving the owner between threads moves
// nothing the kernel ties to a thread.
unsafe impl Send for Stack {}

impl Stack {
    /// Maps a stack with at least `usable` bytes above one guard page.
    pub(crate) fn new(usable: usize) -> io::Result<Stack> {
        let page = sys::page_size();
        let usable = usable
            .max(corosensei::stack::MIN_STACK_SIZE)
            .next_multiple_of(page);
        let len = usable + page;
        let bottom = sys::map_stack(len)?;
        // SAFETY: the first page of the fresh mapping holds nothing.
        if let Err(e) = unsafe { sys::protect_none(bottom, page) } {
            // SAFETY: the mapping is ours and unused.
            unsafe { sys::unmap(bottom, len) };
            return Err(e);
        }
        let _valgrind = ValgrindStackRegistration::new(bottom, len);
        Ok(Stack {
            bottom: bottom as usize,
            len,
            _valgrind,
        })
    }

    /// Usable bytes (the mapping less its guard page).
    pub(crate) fn usable(&self) -> usize {
        self.len - sys::page_size()
    }

    /// The guard page's address range.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.bottom, self.bottom + sys::page_size())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by this value and no coroutine runs on it any more (a
        // `Stack` is only dropped after its coroutine finished or was unwound).
        unsafe { sys::unmap(self.bottom as *mut u8, self.len) };
    }
}

// SAFETY: the mapping has a guard page at its bottom and at least MIN_STACK_SIZE usable bytes;
// both addresses are page aligned, hence aligned to STACK_ALIGNMENT.
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
