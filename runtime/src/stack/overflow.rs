//! The fault handler that turns a hit on a coroutine's guard page into a clear message.
//!
//! Workers record the guard page of the coroutine they are about to resume in a thread-local
//! (`set_current_guard`). On `SIGSEGV`/`SIGBUS` the handler, running on the alternate signal
//! stack, compares the faulting address with that range: a hit prints which coroutine
//! overflowed and its stack size, then aborts; anything else goes to the handler that was
//! installed before ours (std's own overflow reporter, a debugger's, or the default action).

use std::cell::Cell;

use crate::sys;

/// What the fault handler needs to know about the running coroutine's stack.
#[derive(Clone, Copy)]
pub(crate) struct GuardRange {
    /// Lowest guard address; 0 when no coroutine runs on this thread.
    pub(crate) lo: usize,
    /// One past the highest guard address.
    pub(crate) hi: usize,
    /// Usable bytes of the stack.
    pub(crate) stack_size: usize,
    /// The coroutine's id.
    pub(crate) id: u64,
    /// The coroutine's name, as a pointer and a length (null when unnamed). The bytes live in
    /// the task, which outlives its run on this thread.
    pub(crate) name: (*const u8, usize),
}

impl GuardRange {
    pub(crate) const NONE: GuardRange = GuardRange { lo: 0, hi: 0, stack_size: 0, id: 0, name: (std::ptr::null(), 0) };
}

thread_local! {
    static GUARD: Cell<GuardRange> = const { Cell::new(GuardRange::NONE) };
}

/// Records the guard page of the coroutine this thread is about to run (or `NONE`).
#[inline]
pub(crate) fn set_current_guard(range: GuardRange) {
    GUARD.set(range);
}

/// Records the guard page of the coroutine this thread runs now; returns the previous one
/// (for a coroutine unwound inside another's run, see `task/cell.rs`).
pub(crate) fn replace_current_guard(range: GuardRange) -> GuardRange {
    GUARD.replace(range)
}

/// Installs the handler, once per process.
pub(crate) fn install() {
    sys::install_fault_handler(on_fault);
}

/// # Safety
///
/// Called by the kernel only, as a `SA_SIGINFO` handler.
///
/// # Signal safety
///
/// Reads a const-initialised thread-local without destructor (a plain TLS load), formats into
/// a buffer on the signal stack, and calls only `write(2)`, `sigaction(2)` and `abort(3)`. No
/// allocation, no lock.
unsafe extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: `info` comes from the kernel for a fault signal.
    let addr = unsafe { sys::fault_address(info) };
    let guard = GUARD.get();
    if guard.lo != 0 && addr >= guard.lo && addr < guard.hi {
        let mut out = Message::new();
        out.push(b"\noc-runtime: coroutine ");
        if !guard.name.0.is_null() {
            out.push(b"'");
            // SAFETY: the name points into the running task's header, alive while it runs.
            out.push(unsafe { std::slice::from_raw_parts(guard.name.0, guard.name.1) });
            out.push(b"' ");
        }
        out.push(b"(id ");
        out.number(guard.id);
        out.push(b") has overflowed its stack of ");
        out.number(guard.stack_size as u64);
        out.push(
            b" bytes\nfatal runtime error: coroutine stack overflow, aborting (raise the \
            stack size with Builder::stack_size or the task builder, or use maybe_grow)\n",
        );
        sys::write_stderr(out.as_bytes());
        sys::abort();
    }
    // SAFETY: forwarding the kernel's own arguments from our handler.
    unsafe { sys::forward_fault(sig, info, ctx) };
}

/// A fixed buffer for a message built in a signal handler.
struct Message {
    buf: [u8; 512],
    len: usize,
}

impl Message {
    fn new() -> Message {
        Message { buf: [0; 512], len: 0 }
    }

    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
    }

    fn number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}
