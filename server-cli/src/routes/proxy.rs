//! Reverse proxy routes: oc-http's `ReverseProxy` (round-robin, keep-alive pools, passive
//! health, `X-Forwarded-*`, streamed bodies, 502/504) configured from the route's keys.

use std::time::Duration;

use oc_http::proxy::{ProxyConfig, ProxyStats, ReverseProxy};
use oc_http::{Request, RequestBody, StreamHandler};

use super::{Reply, Serve};
use crate::config::RouteConfig;

/// A proxy route.
pub(crate) struct Proxy {
    proxy: ReverseProxy,
}

impl Proxy {
    /// Makes the proxy (resolving the upstreams' names); an error says which failed.
    pub(crate) fn new(r: &RouteConfig) -> Result<Proxy, String> {
        let mut config = ProxyConfig::new(r.upstreams.iter().flatten().cloned());
        let ms = Duration::from_millis;
        if let Some(v) = r.connect_timeout_ms {
            config.connect_timeout = ms(v);
        }
        if let Some(v) = r.read_timeout_ms {
            config.read_timeout = ms(v);
        }
        if let Some(v) = r.write_timeout_ms {
            config.write_timeout = ms(v);
        }
        if let Some(v) = r.fail_timeout_ms {
            config.fail_timeout = ms(v);
        }
        if let Some(v) = r.pool_size {
            config.max_idle = v;
        }
        if let Some(v) = r.pool_idle_timeout_ms {
            config.idle_timeout = ms(v);
        }
        if r.strip_prefix == Some(true) {
            config.strip_prefix = Some(crate::config::normalized_prefix(&r.path));
        }
        if let Some(prefix) = &r.add_prefix {
            config.add_prefix = Some(prefix.clone());
        }
        if let Some(keep) = r.preserve_host {
            config.preserve_host = keep;
        }
        let proxy = ReverseProxy::new(config).map_err(|e| format!("cannot set up the proxy: {e}"))?;
        Ok(Proxy { proxy })
    }
}

impl Serve for Proxy {
    fn serve(&self, req: &Request, _rest: &str, body: &mut RequestBody<'_>) -> Reply {
        // The body's length as the upstream announced it (a chunked body's is not known
        // here, and counts 0).
        let response = self.proxy.call(req, body);
        let body_bytes = response.body_len().unwrap_or(0);
        Reply { response, body_bytes }
    }

    fn proxy_stats(&self) -> Option<ProxyStats> {
        Some(self.proxy.stats())
    }
}
