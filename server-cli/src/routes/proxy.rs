//! Reverse proxy routes: oc-http's `ReverseProxy` configured from the route's keys.

use oc_http::Request;

use super::{Reply, Serve};
use crate::config::RouteConfig;

/// A proxy route.
pub(crate) struct Proxy {}

impl Proxy {
    pub(crate) fn new(_r: &RouteConfig) -> Result<Proxy, String> {
        Err("reverse proxy routes are not available in this build".to_owned())
    }
}

impl Serve for Proxy {
    fn serve(&self, _req: &Request, _rest: &str) -> Reply {
        unreachable!("never built")
    }
}
