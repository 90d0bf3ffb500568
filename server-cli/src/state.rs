//! What every request and the main thread share: the route table, the statistics, readiness,
//! and the running servers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use crate::metrics::{Snapshot, StatsRegistry};
use crate::routes::Table;

/// The server's shared state.
pub(crate) struct State {
    /// The routes in force (swapped on reload).
    pub(crate) table: ArcSwap<Table>,
    pub(crate) stats: StatsRegistry,
    /// Cleared when a shutdown starts: `/readyz` answers 503 from then on.
    pub(crate) ready: AtomicBool,
    pub(crate) reloads_ok: AtomicU64,
    pub(crate) reloads_failed: AtomicU64,
    /// The servers, once listening (for the open-connection count).
    pub(crate) servers: OnceLock<Vec<oc_http::ServerHandle>>,
}

impl State {
    /// A state with an empty route table.
    pub(crate) fn new() -> Arc<State> {
        let stats = StatsRegistry::default();
        Arc::new(State {
            table: ArcSwap::from_pointee(Table::empty(&stats)),
            stats,
            ready: AtomicBool::new(true),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            servers: OnceLock::new(),
        })
    }

    /// The figures of the metrics page other than the routes'.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let table = self.table.load_full();
        Snapshot {
            open_connections: self.servers.get().map_or(0, |s| s.iter().map(|s| s.connections()).sum()),
            ready: self.ready.load(Ordering::Acquire),
            reloads_ok: self.reloads_ok.load(Ordering::Relaxed),
            reloads_failed: self.reloads_failed.load(Ordering::Relaxed),
            access_log_dropped: crate::access_log::AccessLog::dropped_if_started(),
            proxies: table.routes().iter().filter_map(|r| r.proxy_stats().map(|p| (r.name.clone(), p))).collect(),
            runtime: oc_runtime::current_metrics(),
        }
    }
}
