//! Health checks: liveness (`200` while the process serves) and readiness (`200`, then `503`
//! from the moment a shutdown starts, so that a balancer stops sending new requests before the
//! listeners close).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use oc_http::{Request, RequestBody, Response};

use super::{Reply, Serve};
use crate::config::{HealthCheck, RouteConfig};
use crate::state::State;

/// A health route.
pub(crate) struct Health {
    check: HealthCheck,
    /// Weak: the state holds the table that holds this route.
    state: Weak<State>,
}

impl Health {
    pub(crate) fn new(r: &RouteConfig, state: &Arc<State>) -> Health {
        Health { check: r.check.unwrap_or(HealthCheck::Live), state: Arc::downgrade(state) }
    }
}

impl Serve for Health {
    fn serve(&self, _req: &Request, _rest: &str, _body: &mut RequestBody<'_>) -> Reply {
        let ready = self.state.upgrade().is_some_and(|s| s.ready.load(Ordering::Acquire));
        let (status, body): (u16, &'static [u8]) = match self.check {
            HealthCheck::Live => (200, b"ok\n"),
            HealthCheck::Ready if ready => (200, b"ready\n"),
            HealthCheck::Ready => (503, b"shutting down\n"),
        };
        let response = Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header("Cache-Control", "no-store")
            .static_body(body);
        Reply { response, body_bytes: body.len() as u64 }
    }
}
