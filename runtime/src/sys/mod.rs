//! Operating-system calls, and nothing else.
//!
//! Every other module reaches the kernel through this one. Each backend must define:
//!
//! - `page_size()`: the size of a memory page;
//! - `map_stack(len)` / `unmap(addr, len)` / `protect_none(addr, len)`: anonymous memory for
//!   coroutine stacks;
//! - `max_map_count()`: the kernel's limit on memory mappings per process, if it has one;
//! - `install_fault_handler(handler)`: a `SIGSEGV`/`SIGBUS` handler that runs on an
//!   alternate signal stack, remembering the handler it replaced;
//! - `ensure_signal_stack()`: an alternate signal stack on the calling thread;
//! - `write_stderr(bytes)` and `abort()`: async-signal-safe output and exit.

/// Calls a libc function and turns a `-1` result into `io::Error::last_os_error()`.
macro_rules! syscall {
    ($fn: ident ( $($arg: expr),* $(,)? )) => {{
        // SAFETY: the caller passes arguments that satisfy the libc function's contract;
        // each use site documents why.
        let res = unsafe { libc::$fn($($arg, )*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) mod raw;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!("oc-runtime supports Linux only (x86_64 and aarch64)");
