//! Every thread that drives workers has an alternate signal stack of 64 KiB, not the few KiB
//! std gives the threads it starts: the preemption handler (with a stuck-coroutine sample)
//! runs there, and a process signal delivered to the same thread at that moment runs nested on
//! top of it (oc-server's SIGTERM handler writes to a pipe through the `send` hook). On std's
//! stack that overflowed, a SIGSEGV.

use std::time::Duration;

fn alternate_stack() -> (bool, usize) {
    // SAFETY: stack_t is plain old data; a null new stack only reads the current one.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: `current` is a valid out-pointer.
    assert_eq!(unsafe { libc::sigaltstack(std::ptr::null(), &mut current) }, 0);
    (current.ss_flags & libc::SS_DISABLE == 0, current.ss_size)
}

#[test]
fn threads_driving_workers_have_a_64_kib_alternate_signal_stack() {
    let rt = oc_runtime::Runtime::builder().workers(2).build().unwrap();
    let seen = rt.block_on(|| {
        // Coroutines on both workers (some stolen), each reading its thread's stack.
        let handles: Vec<_> = (0..64)
            .map(|_| {
                oc_runtime::spawn(|| {
                    oc_runtime::sleep(Duration::from_millis(1));
                    alternate_stack()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    });
    for (enabled, size) in seen {
        assert!(enabled, "a worker thread has no alternate signal stack");
        assert!(size >= 64 * 1024, "a worker thread's alternate signal stack is {size} bytes");
    }
    drop(rt);
}
