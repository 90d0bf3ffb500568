//! The metrics page: the Prometheus text format (version 0.0.4).

use std::sync::{Arc, Weak};

use oc_http::{Request, RequestBody, Response};

use super::{Reply, Serve};
use crate::state::State;

/// A metrics route.
pub(crate) struct MetricsPage {
    /// Weak: the state holds the table that holds this route.
    state: Weak<State>,
}

impl MetricsPage {
    pub(crate) fn new(state: &Arc<State>) -> MetricsPage {
        MetricsPage { state: Arc::downgrade(state) }
    }
}

impl Serve for MetricsPage {
    fn serve(&self, _req: &Request, _rest: &str, _body: &mut RequestBody<'_>) -> Reply {
        let Some(state) = self.state.upgrade() else {
            return Reply { response: Response::error(503), body_bytes: "503 Service Unavailable\n".len() as u64 };
        };
        let page = crate::metrics::render(&state.stats, &state.snapshot());
        let body_bytes = page.len() as u64;
        let response = Response::new(200)
            .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            .header("Cache-Control", "no-store")
            .body(page.into_bytes());
        Reply { response, body_bytes }
    }
}
