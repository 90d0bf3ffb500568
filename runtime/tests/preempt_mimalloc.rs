//! Signal preemption under a `#[global_allocator]` with per-thread caches (mimalloc): a
//! preemption signal that lands in the middle of the allocator's update of its thread's free
//! lists must not let another coroutine allocate from that thread meanwhile.
//!
//! `.ci/run` also runs `preempt_safety` (the same workload on the system allocator) with
//! Debian's libjemalloc `LD_PRELOAD`ed.

mod support;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[test]
fn preemption_inside_a_per_thread_allocator_corrupts_nothing() {
    support::churn::preemption_amid_allocation();
}
