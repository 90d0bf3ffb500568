//! Linux implementation of the `sys` contract.

use std::io;
use std::ptr;
use std::sync::OnceLock;

/// The size of a memory page, read once.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        if size <= 0 { 4096 } else { size as usize }
    })
}

/// Maps `len` bytes of private anonymous memory, readable and writable, reserved lazily.
pub(crate) fn map_stack(len: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh anonymous mapping at an address of the kernel's choosing aliases nothing.
    let addr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED { Err(io::Error::last_os_error()) } else { Ok(addr.cast()) }
}

/// Makes `len` bytes at `addr` inaccessible (a guard page).
///
/// # Safety
///
/// `addr..addr + len` must lie inside a mapping owned by the caller and hold no live data.
pub(crate) unsafe fn protect_none(addr: *mut u8, len: usize) -> io::Result<()> {
    syscall!(mprotect(addr.cast(), len, libc::PROT_NONE)).map(drop)
}

/// Unmaps `len` bytes at `addr`.
///
/// # Safety
///
/// The range must be a mapping owned by the caller that nothing references any more.
pub(crate) unsafe fn unmap(addr: *mut u8, len: usize) {
    // SAFETY: forwarded from the caller. munmap of a valid owned range cannot fail in a way we
    // could act on; the result is ignored on purpose.
    unsafe { libc::munmap(addr.cast(), len) };
}

/// `madvise` advice that turns pages into guard pages without a mapping of their own
/// (Linux 6.13).
const MADV_GUARD_INSTALL: libc::c_int = 102;

/// Turns `len` bytes at `addr` into guard pages (any access faults) without splitting the
/// mapping.
///
/// Fails with `EINVAL` on kernels before 6.13.
///
/// # Safety
///
/// The range must lie in a private anonymous mapping owned by the caller and hold no live data.
pub(crate) unsafe fn install_guard(addr: *mut u8, len: usize) -> io::Result<()> {
    syscall!(madvise(addr.cast(), len, MADV_GUARD_INSTALL)).map(drop)
}

/// Gives the pages in `addr..addr + len` back to the kernel; they read as zeros afterwards.
/// Guard pages installed with `install_guard` stay.
///
/// # Safety
///
/// The range must be owned by the caller and hold no live data.
pub(crate) unsafe fn discard(addr: *mut u8, len: usize) {
    // SAFETY: forwarded from the caller; MADV_DONTNEED on private anonymous memory only zeroes it.
    unsafe { libc::madvise(addr.cast(), len, libc::MADV_DONTNEED) };
}

/// The kernel's limit on memory mappings per process (`vm.max_map_count`), read afresh.
pub(crate) fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").ok()?.trim().parse().ok()
}

/// The signature of a `SA_SIGINFO` handler.
pub(crate) type FaultHandler = unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// The handlers for `SIGSEGV` and `SIGBUS` that were installed before ours.
struct Previous([libc::sigaction; 2]);
// SAFETY: plain data, written once before our handler is installed and only read afterwards.
unsafe impl Sync for Previous {}
// SAFETY: as above.
unsafe impl Send for Previous {}
static PREVIOUS: OnceLock<Previous> = OnceLock::new();
const FAULT_SIGNALS: [libc::c_int; 2] = [libc::SIGSEGV, libc::SIGBUS];

/// Installs `handler` for `SIGSEGV` and `SIGBUS` on the alternate signal stack, once per process.
pub(crate) fn install_fault_handler(handler: FaultHandler) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sigaction is plain old data; all-zero is a valid value.
        let mut previous: [libc::sigaction; 2] = unsafe { std::mem::zeroed() };
        for (i, &sig) in FAULT_SIGNALS.iter().enumerate() {
            // SAFETY: reading the current action into a valid out-pointer.
            unsafe { libc::sigaction(sig, ptr::null(), &mut previous[i]) };
        }
        // Recorded before ours is installed, so the handler always finds it.
        let _ = PREVIOUS.set(Previous(previous));
        for &sig in &FAULT_SIGNALS {
            // SAFETY: sigaction is plain old data; we fill in every field we rely on.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            // SAFETY: sa_mask is a valid sigset_t owned by `action`; `action` is valid.
            unsafe {
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, ptr::null_mut());
            }
        }
    });
}

/// Passes a fault that is not ours to the handler installed before ours.
///
/// # Safety
///
/// Must be called only from our fault handler, with the arguments it received.
///
/// # Signal safety
///
/// Only reads `PREVIOUS` (an atomic load of a value written once before the handler was
/// installed) and calls `sigaction`, which is async-signal-safe.
pub(crate) unsafe fn forward_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let index = if sig == libc::SIGSEGV { 0 } else { 1 };
    let Some(Previous(previous)) = PREVIOUS.get() else {
        return;
    };
    let previous = &previous[index];
    let handler = previous.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again and the
        // kernel delivers the signal with its default action (a core dump).
        // SAFETY: resetting a handler is async-signal-safe; `action` is valid.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &action, ptr::null_mut());
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this signature.
        let f: FaultHandler = unsafe { std::mem::transmute::<usize, FaultHandler>(handler) };
        // SAFETY: we pass through exactly what the kernel gave us.
        unsafe { f(sig, info, ctx) };
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes the signal number only.
        let f: extern "C" fn(libc::c_int) =
            unsafe { std::mem::transmute::<usize, extern "C" fn(libc::c_int)>(handler) };
        f(sig);
    }
}

/// The faulting address of a `SIGSEGV`/`SIGBUS`.
///
/// # Safety
///
/// `info` must be the pointer the kernel passed to a fault handler.
///
/// # Signal safety
///
/// Reads one field.
pub(crate) unsafe fn fault_address(info: *mut libc::siginfo_t) -> usize {
    // SAFETY: forwarded from the caller: the kernel filled `info` for a fault signal.
    unsafe { (*info).si_addr() as usize }
}

/// Size of the alternate signal stack of every thread that drives workers.
pub(crate) const SIGNAL_STACK_SIZE: usize = 64 * 1024;

/// Gives the calling thread an alternate signal stack of `SIGNAL_STACK_SIZE` bytes if it has
/// none or a smaller one, so that the fault handler can run after a stack overflow. The stack
/// lives as long as the process.
///
/// A smaller one is replaced: std gives each thread it starts an alternate stack of about
/// `MINSIGSTKSZ` (a few KiB), and the handlers that run there on a carrier are deeper than
/// that: the preemption handler with a stuck-coroutine sample (an unwinder walk), and any
/// handler that arrives nested in it (a `SIGTERM` of signal-hook's writes to its pipe through
/// the `send` hook, which classifies the descriptor). They overflowed std's stack, a SIGSEGV.
/// std's own clean-up at thread exit only unmaps its stack (no longer in use) and disables
/// the alternate stack of an exiting thread; ours is never unmapped.
pub(crate) fn ensure_signal_stack() {
    const SIZE: usize = SIGNAL_STACK_SIZE;
    thread_local! {
        static ALT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if ALT.get() {
        return;
    }
    // SAFETY: stack_t is plain old data; sigaltstack with a null new stack only reads.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: `current` is a valid out-pointer.
    unsafe { libc::sigaltstack(ptr::null(), &mut current) };
    if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= SIZE {
        ALT.set(true);
        return;
    }
    if current.ss_flags & libc::SS_ONSTACK != 0 {
        // Running on the alternate stack (in a handler): it cannot be replaced now.
        return;
    }
    let Ok(mem) = map_stack(SIZE) else { return };
    let stack = libc::stack_t { ss_sp: mem.cast(), ss_flags: 0, ss_size: SIZE };
    // SAFETY: `stack` describes memory we own for the rest of the process (never unmapped, so
    // it outlives the thread even if the thread exits while a signal is delivered).
    if unsafe { libc::sigaltstack(&stack, ptr::null_mut()) } == 0 {
        ALT.set(true);
    }
}

/// Writes all of `bytes` to standard error, ignoring errors.
///
/// # Signal safety
///
/// Uses `write(2)` only.
pub(crate) fn write_stderr(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable buffer of the given length.
        let n = unsafe { super::raw::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Ends the process with `SIGABRT`.
///
/// # Signal safety
///
/// `abort(3)` is async-signal-safe.
pub(crate) fn abort() -> ! {
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// The lowest usable address of the calling thread's stack (above its guard), from
/// `pthread_getattr_np`.
pub(crate) fn thread_stack_limit() -> Option<usize> {
    // SAFETY: pthread_attr_t is plain data, initialised by pthread_getattr_np and destroyed
    // below; the out-pointers are valid.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = ptr::null_mut();
        let mut size: libc::size_t = 0;
        let mut guard: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_getguardsize(&attr, &mut guard);
        libc::pthread_attr_destroy(&mut attr);
        // glibc reports the main thread's stack with its rlimit size; the guard lies below.
        ok.then(|| addr as usize + guard.max(page_size()))
    }
}

/// A new eventfd, non-blocking and close-on-exec, counting from 0.
pub(crate) fn eventfd() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // eventfd has no memory-safety preconditions.
    let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The current time of `clock` (`None` if the kernel does not know the clock).
pub(crate) fn clock_now(clock: libc::clockid_t) -> Option<libc::timespec> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid out-pointer. clock_gettime is not hooked (it goes to the vDSO).
    (unsafe { libc::clock_gettime(clock, &mut now) } == 0).then_some(now)
}

/// CPU time used so far by thread `tid` of this process (its per-thread CPU clock; a system
/// call, not the vDSO). `None` if the thread is gone.
pub(crate) fn thread_cpu_time(tid: i32) -> Option<std::time::Duration> {
    // The kernel's id of a thread's CPU clock (`MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED)`),
    // the value `pthread_getcpuclockid` gives.
    let clock = ((!(tid as libc::clockid_t)) << 3) | 6;
    clock_now(clock).map(|t| std::time::Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

/// Whether thread `tid` of this process is running or waiting for a CPU (state `R` in
/// `/proc`), rather than asleep in a system call. `None` if it cannot be read.
pub(crate) fn thread_runnable(tid: i32) -> Option<bool> {
    let stat = std::fs::read(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may hold any byte.
    let end = stat.iter().rposition(|&b| b == b')')?;
    stat.get(end + 2).map(|&state| state == b'R')
}

/// Returns the free memory at the top of the C heap and in whole free pages inside it to
/// the kernel (glibc's `malloc_trim`; nothing elsewhere). For after a large, rare burst of
/// allocations that is over, such as parsing debug info for a report.
pub(crate) fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: no arguments besides the padding to keep; glibc takes its arena locks itself.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Registers `child` to run in the child of every later `fork` (`pthread_atfork`).
/// Fails only for want of memory.
pub(crate) fn at_fork_child(child: extern "C" fn()) -> io::Result<()> {
    // SAFETY: a plain function that lives as long as the process; no prepare or parent
    // handler.
    match unsafe { libc::pthread_atfork(None, None, Some(child)) } {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// The calling thread's `pthread_t`, as a number.
pub(crate) fn pthread_self() -> u64 {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() as u64 }
}

/// The calling thread's kernel thread id.
pub(crate) fn gettid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

/// Sends `sig` to the thread `thread` (a `pthread_t` from [`pthread_self`]). Returns whether
/// it was sent.
///
/// # Safety
///
/// `thread` must be a live thread of this process (a `pthread_t` of a thread that exited may
/// have been reused or freed), and `sig`'s disposition must be one the caller expects.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
pub(crate) unsafe fn pthread_kill(thread: u64, sig: libc::c_int) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe { libc::pthread_kill(thread as libc::pthread_t, sig) == 0 }
}

/// Sends `sig` to the thread of this process with kernel id `tid`, if it still exists (a
/// reused id reaches another of our threads, never another process's).
///
/// # Signal safety
///
/// Two system calls.
pub(crate) fn tgkill(tid: i32, sig: libc::c_int) {
    // SAFETY: plain integers; the signal goes to a thread of this process only.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig) };
}

/// The signature of a `SA_SIGINFO` signal handler.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
pub(crate) type SignalHandler = unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);

/// Installs `handler` for `sig` with `SA_SIGINFO | SA_ONSTACK | SA_RESTART` and an empty mask.
///
/// # Safety
///
/// `handler` must be async-signal-safe and cope with every delivery of `sig` in this process
/// (replacing the signal's disposition affects every thread).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // signal preemption is x86_64 only
pub(crate) unsafe fn install_signal_handler(sig: libc::c_int, handler: SignalHandler) -> io::Result<()> {
    // SAFETY: sigaction is plain data; all-zero is a valid value, and we fill in what we rely on.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    // SAFETY: `sa_mask` is a valid sigset_t owned by `action`.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // `action` is valid; the caller vouches for the handler.
    syscall!(sigaction(sig, &action, ptr::null_mut())).map(drop)
}

/// The x86_64 extended state components this process may use (`ARCH_GET_XCOMP_PERM`, Linux
/// 5.16), or `None` if the kernel does not know the request.
#[cfg(target_arch = "x86_64")]
pub(crate) fn xcomp_permitted() -> Option<u64> {
    const ARCH_GET_XCOMP_PERM: libc::c_long = 0x1022;
    let mut permitted: u64 = 0;
    // SAFETY: the call writes one u64 to the pointer we pass.
    let ok = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &raw mut permitted) } == 0;
    ok.then_some(permitted)
}

/// Calls `each(name, lo, hi)` for every executable loaded segment of every object the loader
/// has mapped, `name` being the object's file name without its folder ("" for the program).
///
/// Ordinary context only: `dl_iterate_phdr` takes the loader's lock.
pub(crate) fn each_executable_segment(each: &mut dyn FnMut(&str, usize, usize)) {
    unsafe extern "C" fn visit(info: *mut libc::dl_phdr_info, _size: usize, data: *mut libc::c_void) -> libc::c_int {
        // SAFETY: the loader passes a valid info for each object, and `data` is the closure
        // passed below.
        let (info, each) = unsafe { (&*info, &mut *data.cast::<&mut dyn FnMut(&str, usize, usize)>()) };
        let name = if info.dlpi_name.is_null() {
            ""
        } else {
            // SAFETY: a NUL-terminated name owned by the loader.
            unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }.to_str().unwrap_or("")
        };
        let base = name.rsplit('/').next().unwrap_or("");
        for i in 0..info.dlpi_phnum as usize {
            // SAFETY: `dlpi_phnum` headers follow `dlpi_phdr`.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_X != 0 {
                let lo = info.dlpi_addr as usize + ph.p_vaddr as usize;
                each(base, lo, lo + ph.p_memsz as usize);
            }
        }
        0
    }
    let mut each = each;
    // SAFETY: `visit` matches the expected signature, and `each` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&raw mut each).cast()) };
}
