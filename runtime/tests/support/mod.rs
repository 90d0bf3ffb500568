//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::time::Duration;

/// A runtime with `workers` workers, for one test.
pub(crate) fn runtime(workers: usize) -> oc_runtime::Runtime {
    oc_runtime::Runtime::builder().workers(workers).name("test").build().expect("runtime starts")
}

/// Shuts `rt` down and checks that it stopped cleanly and promptly.
pub(crate) fn shutdown(rt: oc_runtime::Runtime) {
    assert!(rt.shutdown(Duration::from_secs(10)), "runtime did not shut down cleanly");
}

/// The kernel's per-process memory-mapping limit.
pub(crate) fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count").unwrap().trim().parse().unwrap()
}

/// Checks that `vm.max_map_count` allows `needed` mappings where stacks cost mappings
/// (protect guards); with guard markers (Linux 6.13+) a stack costs none of its own and the
/// limit does not apply. Tests never raise the machine's limit themselves: CI raises it for
/// its run (`.ci/run`).
///
/// # Panics
///
/// Panics with instructions if the limit is lower.
pub(crate) fn require_max_map_count(guard: oc_runtime::StackGuard, needed: usize) {
    if guard == oc_runtime::StackGuard::Marker {
        return;
    }
    let now = max_map_count();
    assert!(
        now >= needed,
        "with protect guards this test needs vm.max_map_count >= {needed} (it is {now}); run `sysctl -w vm.max_map_count={needed}` as root"
    );
}

/// A capability the machine lacks: the caller skips its check with a note, unless `var=1`
/// says the machine must have it (CI sets these: its machines have every capability the
/// suite tests), in which case this panics.
pub(crate) fn require(var: &str, what: &str) {
    assert!(
        std::env::var_os(var).is_none_or(|v| v != "1"),
        "{what} required ({var}=1) but unavailable on this machine"
    );
    eprintln!("{what} unavailable here: this check is skipped ({var}=1 makes it fail instead)");
}

pub(crate) mod churn;
pub(crate) mod cpu;
mod gate;
#[allow(unused_imports)]
pub(crate) use gate::Gate;

/// A `std::net::TcpListener` on a free loopback port with a listen backlog of `backlog`
/// (std's own is 128, which drops SYNs when hundreds of clients connect at once and costs
/// them a one-second retransmit).
pub(crate) fn std_listener(backlog: i32) -> std::net::TcpListener {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    socket.listen(backlog).unwrap();
    socket.into()
}

pub(crate) mod log;
mod refused;
#[allow(unused_imports)]
pub(crate) use refused::refused_addr;
pub(crate) mod wake;
