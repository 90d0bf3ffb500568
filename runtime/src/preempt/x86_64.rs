//! The x86_64 handler and trampoline.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::ranges::Ranges;
use crate::scheduler::context;

/// Room the trampoline needs below the interrupted stack pointer: the red zone, the return
/// address, 16 saved registers, alignment, the XSAVE area, and the deepest path from there
/// into the freeze (`scheduler/freeze.rs`: a lock, a notify, futex calls). An interrupted
/// stack with less room is not preempted there (the request is taken at the next safe point).
const TRAMPOLINE_FRAME: usize = 128 + 8 + 17 * 8 + 64 + XSAVE_AREA + FREEZE_PATH;
/// Stack the path from the trampoline through the freeze may use: measured between 256 bytes
/// and 1 KiB in a debug build (`a_coroutine_preempted_close_to_its_stack_limit_is_not_reported_as_overflowing`
/// in `runtime/tests/preempt_safety.rs` aborts with 256), kept with an eightfold margin.
const FREEZE_PATH: usize = 8 * 1024;
/// Bytes reserved for XSAVE (checked against CPUID at install time).
const XSAVE_AREA: usize = 4096;

/// The state components the trampoline saves and restores (the XSAVE instruction mask, low and
/// high halves): what the OS enabled, less AMX tile state unless this process may use it.
/// Written once before the handler is installed; read by the trampoline.
static XSAVE_MASK: [AtomicU32; 2] = [AtomicU32::new(u32::MAX), AtomicU32::new(u32::MAX)];

/// AMX tile data (XSAVE component 18): 8 KiB that Linux gives only to processes that ask for
/// it (`arch_prctl(ARCH_REQ_XCOMP_PERM)`); without that permission no code of the process can
/// hold tile data.
const AMX_TILE_DATA: u64 = 1 << 18;

/// Signal preemption can be used: the CPU check passed and the handler is installed.
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The `SIGURG` handler is installed (for preemption, stuck-coroutine samples or both).
static HANDLER: AtomicBool = AtomicBool::new(false);
static FORBIDDEN: OnceLock<Ranges> = OnceLock::new();

pub(super) fn installed() -> bool {
    INSTALLED.load(Ordering::Acquire)
}

pub(super) fn install() -> std::io::Result<()> {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        if let Err(e) = check_cpu() {
            result = Err(e);
            return;
        }
        FORBIDDEN.get_or_init(forbidden_ranges);
        match install_handler() {
            Ok(()) => INSTALLED.store(true, Ordering::Release),
            Err(e) => result = Err(e),
        }
    });
    if result.is_ok() && !installed() {
        return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "signal preemption could not be installed"));
    }
    result
}

/// Whether the `SIGURG` handler is installed.
pub(super) fn handler_installed() -> bool {
    HANDLER.load(Ordering::Acquire)
}

/// Installs the `SIGURG` handler (once per process), for preemption and samples alike.
pub(super) fn install_handler() -> std::io::Result<()> {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        super::sample::prepare();
        // SAFETY: SIGURG's default action is to ignore it, and the handler is
        // async-signal-safe and ignores signals it did not ask for.
        let ok = unsafe { crate::sys::install_signal_handler(libc::SIGURG, on_signal) }.is_ok();
        if ok {
            HANDLER.store(true, Ordering::Release);
        } else {
            result = Err(std::io::Error::last_os_error());
        }
    });
    if result.is_ok() && !handler_installed() {
        return Err(std::io::Error::other("the SIGURG handler could not be installed"));
    }
    result
}

/// XSAVE must exist and be enabled by the OS, and the area for the components we save must
/// fit what we reserve.
fn check_cpu() -> std::io::Result<()> {
    let leaf1 = std::arch::x86_64::__cpuid(1);
    let xsave = leaf1.ecx & (1 << 26) != 0 && leaf1.ecx & (1 << 27) != 0;
    if !xsave {
        return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "signal preemption needs XSAVE"));
    }
    // SAFETY: OSXSAVE (checked above) means XGETBV is available and XCR0 readable.
    let enabled = unsafe { std::arch::x86_64::_xgetbv(0) };
    let mask = if amx_permitted() { enabled } else { enabled & !AMX_TILE_DATA };
    let size = xsave_size(mask);
    if size > XSAVE_AREA {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("signal preemption: this CPU's XSAVE area ({size} bytes) exceeds {XSAVE_AREA}"),
        ));
    }
    XSAVE_MASK[0].store(mask as u32, Ordering::Relaxed);
    XSAVE_MASK[1].store((mask >> 32) as u32, Ordering::Relaxed);
    Ok(())
}

/// Whether this process may use AMX tile data (Linux 5.16's `ARCH_GET_XCOMP_PERM`; an older
/// kernel that does not know it has no AMX support either).
fn amx_permitted() -> bool {
    crate::sys::xcomp_permitted().is_some_and(|permitted| permitted & AMX_TILE_DATA != 0)
}

/// The size of a standard-format XSAVE area holding the components in `mask`: the legacy
/// region and header, and each extended component at the offset CPUID gives it.
fn xsave_size(mask: u64) -> usize {
    let mut end = 512 + 64;
    for component in 2..64 {
        if mask & (1 << component) != 0 {
            let leaf = std::arch::x86_64::__cpuid_count(0xD, component);
            end = end.max(leaf.ebx as usize + leaf.eax as usize);
        }
    }
    end
}

/// Code where preemption must not happen: libc, the loader, the vDSO, the unwinder.
fn forbidden_ranges() -> Ranges {
    Ranges::of_objects(|base| {
        base.starts_with("libc.so")
            || base.starts_with("ld-linux")
            || base.starts_with("ld64.so")
            || base.starts_with("linux-vdso")
            || base.starts_with("linux-gate")
            || base.starts_with("libpthread")
            || base.starts_with("libgcc_s")
            || base.starts_with("libdl")
    })
}

/// # Safety
///
/// Called by the kernel only.
///
/// # Signal safety
///
/// Reads const-initialised thread-locals and atomics, does integer arithmetic and writes one
/// word to the interrupted stack; no allocation, no lock, no system call. A stuck-coroutine
/// sample, when asked for, walks the stack first (`sample.rs` says why that is safe).
unsafe extern "C" fn on_signal(_sig: libc::c_int, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    {
        // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
        let uc = unsafe { &*ctx.cast::<libc::ucontext_t>() };
        // A stuck-coroutine sample first, if the monitor asked this thread for one (errno
        // kept for the interrupted code, whatever the walk does).
        let errno = crate::sys::raw::errno();
        // SAFETY: the interrupted instruction, from the handler on the interrupted thread.
        unsafe {
            super::sample::on_signal(
                uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize,
                uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize,
            )
        };
        crate::sys::raw::set_errno(errno);
    }
    if !installed() {
        // Samples only: signal preemption is not available.
        return;
    }
    // The thread driving a worker, or the thread a preemptible coroutine was handed off
    // with (its worker now driven by another thread).
    let (worker, detached) = match context::signal_worker() {
        Some(w) if w.take_preemption_request() => (w, false),
        Some(_) => return,
        None => match context::signal_detached_worker() {
            Some(w) => (w, true),
            // Not ours (or a duplicate): SIGURG is otherwise ignored, as by default.
            None => return,
        },
    };
    // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
    let uc = unsafe { &mut *ctx.cast::<libc::ucontext_t>() };
    let pc = uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize;
    let Some(task) = context::signal_task() else {
        worker.shared().count_preemption_deferred();
        if !detached {
            worker.count_deferral(pc);
        }
        return;
    };
    // SAFETY: the task runs on this thread and is alive.
    let header = unsafe { task.as_ref() };
    let sp = uc.uc_mcontext.gregs[libc::REG_RSP as usize] as usize;
    let guard = header.guard.get();
    let stack_top = guard.hi + guard.stack_size;
    let safe = header.preemptible
        && !header.yielder.get().is_null()
        // A detached thread runs nothing but its coroutine (the worker's mode is its new
        // driver's); runtime code there is guarded by the no-preempt count.
        && (detached || worker.in_user_code())
        && header.preemption_allowed()
        && sp > guard.hi + TRAMPOLINE_FRAME
        && sp <= stack_top
        && !FORBIDDEN.get().is_some_and(|r| r.contains(pc));
    if !safe {
        worker.shared().count_preemption_deferred();
        if !detached {
            worker.count_deferral(pc);
        }
        if header.preemptible {
            header.preempt_pending.store(true, Ordering::Relaxed);
        }
        return;
    }
    // Push the return address below the red zone and enter the trampoline there.
    let new_sp = sp - 128 - 8;
    // SAFETY: `new_sp` lies inside the coroutine's stack (checked above), below anything the
    // interrupted code may use (the red zone is skipped).
    unsafe { (new_sp as *mut usize).write(pc) };
    uc.uc_mcontext.gregs[libc::REG_RSP as usize] = new_sp as i64;
    uc.uc_mcontext.gregs[libc::REG_RIP as usize] = oc_preempt_trampoline as *const () as i64;
}

unsafe extern "C" {
    fn oc_preempt_trampoline();
}

// On entry: [rsp] = the interrupted instruction; the 128 bytes above it are the interrupted
// code's red zone. Everything is saved, the vector state with XSAVE (the components of
// `XSAVE_MASK`) into a 64-byte aligned area whose header is zeroed first (XRSTOR requires its
// reserved bytes to be zero), and
// `ret 128` finally returns to the interrupted instruction with the stack pointer it had.
std::arch::global_asm!(
    ".globl oc_preempt_trampoline",
    ".type oc_preempt_trampoline, @function",
    "oc_preempt_trampoline:",
    "pushfq",
    "push rax",
    "push rcx",
    "push rdx",
    "push rbx",
    "push rbp",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "cld",
    "mov rbp, rsp",
    "and rsp, -64",
    "sub rsp, {area}",
    // Zero the XSAVE header (bytes 512..576).
    "xor eax, eax",
    "mov [rsp + 512], rax",
    "mov [rsp + 520], rax",
    "mov [rsp + 528], rax",
    "mov [rsp + 536], rax",
    "mov [rsp + 544], rax",
    "mov [rsp + 552], rax",
    "mov [rsp + 560], rax",
    "mov [rsp + 568], rax",
    "mov eax, dword ptr [rip + {mask}]",
    "mov edx, dword ptr [rip + {mask} + 4]",
    "xsave64 [rsp]",
    "call {point}",
    "mov eax, dword ptr [rip + {mask}]",
    "mov edx, dword ptr [rip + {mask} + 4]",
    "xrstor64 [rsp]",
    "mov rsp, rbp",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rbp",
    "pop rbx",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "popfq",
    "ret 128",
    ".size oc_preempt_trampoline, . - oc_preempt_trampoline",
    area = const XSAVE_AREA,
    mask = sym XSAVE_MASK,
    point = sym super::preempt_point,
);
