//! What the hooks know about each descriptor, indexed by descriptor number.
//!
//! # State
//!
//! A two-level table of `Entry`: chunks of 4,096 entries allocated on first use and never
//! freed (a process that once had descriptor 100,000 keeps a few hundred KiB of table).
//! Entries are plain atomics: a flags word and the two socket time-outs.
//!
//! # Invariants
//!
//! - `KNOWN` set means the other flags describe the descriptor: set by the `socket`/`accept`
//!   hooks, copied by `dup*`, or learnt once with `fstat`/`fcntl` the first time a coroutine
//!   uses a descriptor the hooks did not see created. Never on the hot path after that.
//! - `close` clears the entry before the descriptor is closed.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};

use crate::sys::raw;

const CHUNK: usize = 4096;
const CHUNKS: usize = 1024;

pub(crate) const KNOWN: u32 = 1;
pub(crate) const SOCKET: u32 = 1 << 1;
/// A connection-oriented socket (partial sends continue).
pub(crate) const STREAM: u32 = 1 << 2;
/// The application's view: it asked for `O_NONBLOCK`.
pub(crate) const NONBLOCK: u32 = 1 << 3;
/// A regular file or block device: readiness does not apply.
pub(crate) const FILE: u32 = 1 << 4;

#[derive(Default)]
pub(crate) struct Entry {
    flags: AtomicU32,
    /// `SO_RCVTIMEO` in microseconds; 0 means none.
    rcv_us: AtomicU64,
    /// `SO_SNDTIMEO` in microseconds; 0 means none.
    snd_us: AtomicU64,
}

struct Chunk([Entry; CHUNK]);

static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

/// The entry of `fd`, allocating its chunk on first use; `None` for a negative or huge fd.
#[inline]
pub(crate) fn entry(fd: libc::c_int) -> Option<&'static Entry> {
    super::count_entry();
    let fd = usize::try_from(fd).ok()?;
    let (hi, lo) = (fd / CHUNK, fd % CHUNK);
    let slot = TABLE.get(hi)?;
    let mut chunk = slot.load(Ordering::Acquire);
    if chunk.is_null() {
        chunk = allocate(slot);
    }
    // SAFETY: chunks are never freed once published.
    Some(unsafe { &(*chunk).0[lo] })
}

#[cold]
fn allocate(slot: &AtomicPtr<Chunk>) -> *mut Chunk {
    let chunk;
    {
        // Allocated zeroed on the heap (all-zero atomics are valid entries), never built on
        // the stack: a chunk is ~96 KiB and hooks run on small coroutine stacks.
        let layout = std::alloc::Layout::new::<Chunk>();
        // SAFETY: the layout has a non-zero size.
        let fresh = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<Chunk>();
        if fresh.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        match slot.compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => chunk = fresh,
            Err(existing) => {
                // SAFETY: `fresh` was allocated above with this layout and never shared.
                unsafe { std::alloc::dealloc(fresh.cast(), layout) };
                chunk = existing;
            }
        }
    }
    chunk
}

impl Entry {
    pub(crate) fn flags(&self) -> u32 {
        self.flags.load(Ordering::Acquire)
    }

    pub(crate) fn set(&self, flags: u32) {
        self.flags.store(flags | KNOWN, Ordering::Release);
        self.rcv_us.store(0, Ordering::Relaxed);
        self.snd_us.store(0, Ordering::Relaxed);
    }

    pub(crate) fn clear(&self) {
        self.flags.store(0, Ordering::Release);
        self.rcv_us.store(0, Ordering::Relaxed);
        self.snd_us.store(0, Ordering::Relaxed);
    }

    pub(crate) fn copy_from(&self, other: &Entry) {
        self.rcv_us.store(other.rcv_us.load(Ordering::Relaxed), Ordering::Relaxed);
        self.snd_us.store(other.snd_us.load(Ordering::Relaxed), Ordering::Relaxed);
        self.flags.store(other.flags(), Ordering::Release);
    }

    pub(crate) fn set_nonblocking(&self, on: bool) {
        if on {
            self.flags.fetch_or(NONBLOCK, Ordering::AcqRel);
        } else {
            self.flags.fetch_and(!NONBLOCK, Ordering::AcqRel);
        }
    }

    pub(crate) fn set_timeout(&self, send: bool, us: u64) {
        if send { &self.snd_us } else { &self.rcv_us }.store(us, Ordering::Relaxed);
    }

    /// The receive (`false`) or send (`true`) time-out.
    pub(crate) fn timeout(&self, send: bool) -> Option<std::time::Duration> {
        let us = if send { &self.snd_us } else { &self.rcv_us }.load(Ordering::Relaxed);
        (us != 0).then(|| std::time::Duration::from_micros(us))
    }

    /// The flags, learning them from the kernel the first time.
    #[inline]
    pub(crate) fn classify(&self, fd: libc::c_int) -> u32 {
        let flags = self.flags();
        if flags & KNOWN != 0 { flags } else { self.learn(fd) }
    }

    #[cold]
    #[inline(never)]
    fn learn(&self, fd: libc::c_int) -> u32 {
        let Ok(mode) = raw::file_mode(fd) else {
            // Not a descriptor (EBADF): leave it unknown; the real call reports the error.
            return 0;
        };
        let mut flags = KNOWN;
        match mode & libc::S_IFMT {
            libc::S_IFSOCK => {
                flags |= SOCKET;
                let mut ty: libc::c_int = 0;
                let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
                // SAFETY: valid out-pointers for an int option.
                let ok =
                    unsafe { raw::getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, (&raw mut ty).cast(), &mut len) };
                if ok == 0 && ty == libc::SOCK_STREAM {
                    flags |= STREAM;
                }
                for (send, name) in [(false, libc::SO_RCVTIMEO), (true, libc::SO_SNDTIMEO)] {
                    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
                    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
                    // SAFETY: valid out-pointers for a timeval option.
                    if unsafe { raw::getsockopt(fd, libc::SOL_SOCKET, name, (&raw mut tv).cast(), &mut len) } == 0 {
                        self.set_timeout(send, timeval_us(&tv));
                    }
                }
            }
            libc::S_IFREG | libc::S_IFBLK => flags |= FILE,
            _ => {}
        }
        // SAFETY: F_GETFL takes no argument.
        let fl = unsafe { raw::fcntl(fd, libc::F_GETFL, 0) };
        if fl >= 0 && fl & libc::O_NONBLOCK != 0 {
            flags |= NONBLOCK;
        }
        self.flags.store(flags, Ordering::Release);
        flags
    }
}

/// A `timeval` as microseconds (0 for zero or negative: no time-out).
pub(crate) fn timeval_us(tv: &libc::timeval) -> u64 {
    if tv.tv_sec < 0 || tv.tv_usec < 0 {
        return 0;
    }
    (tv.tv_sec as u64).saturating_mul(1_000_000).saturating_add(tv.tv_usec as u64)
}
