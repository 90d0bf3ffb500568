//! Routes: the table built from the configuration, how a request finds its route (host, then
//! the longest path prefix), and the one oc-http handler that does it, counts it and logs it.
//!
//! # Matching
//!
//! A route matches when its host (if it names one) is the request's host, compared without
//! the port and ignoring case (`*.example.com` matches any name under `example.com`), and its
//! path is a prefix of the request's path in whole segments (`/api` matches `/api` and
//! `/api/v1`, not `/apis`). Of the routes that match, the one with the longest path wins; on a
//! tie a route that names a host wins over one that does not; then the earlier one.
//!
//! # Reload
//!
//! The table is immutable. A reload builds a new one and swaps it in (`State::table`): a
//! request holds the table it started with until it is answered, so nothing in flight
//! changes under it, and the old table (its proxy pools too) goes when its last request ends.

mod fixed;
mod health;
mod metrics_page;
mod proxy;
mod redirect;
mod static_site;

use std::sync::Arc;
use std::time::Instant;

use oc_http::proxy::ProxyStats;
use oc_http::{Request, RequestBody, Response, StreamHandler};

use crate::config::{Config, ConfigError, Loaded, RouteKind};
use crate::metrics::RouteStats;
use crate::state::State;

pub(crate) use redirect::HttpsRedirect;

/// An answer and the size of its body, as far as the route knows it.
pub(crate) struct Reply {
    pub(crate) response: Response,
    /// Bytes of the body that will be sent (0 for `HEAD`, 304 and the like).
    pub(crate) body_bytes: u64,
}

/// What a route does with the requests it matches.
pub(crate) trait Serve: Send + Sync {
    /// Answers `req`; `rest` is the request's path after the route's prefix (`/` or empty
    /// when they are equal). Only a proxy route reads `body`; the others leave it, and a body
    /// left unread closes the connection after the response.
    fn serve(&self, req: &Request, rest: &str, body: &mut RequestBody<'_>) -> Reply;

    /// The proxy's counters, for a proxy route.
    fn proxy_stats(&self) -> Option<ProxyStats> {
        None
    }
}

/// How a route matches the request's host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.example.com`: the suffix `.example.com`.
    Suffix(String),
}

impl HostMatch {
    fn parse(host: &str) -> HostMatch {
        let host = host.to_ascii_lowercase();
        match host.strip_prefix('*') {
            Some(suffix) => HostMatch::Suffix(suffix.to_owned()),
            None => HostMatch::Exact(host),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            HostMatch::Exact(h) => h.eq_ignore_ascii_case(host),
            HostMatch::Suffix(s) => {
                host.len() > s.len() && host.as_bytes()[host.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            }
        }
    }
}

/// One route of the table.
pub(crate) struct Route {
    pub(crate) name: String,
    host: Option<HostMatch>,
    /// Without a trailing `/`, except the root's `/`.
    prefix: String,
    serve: Box<dyn Serve>,
    pub(crate) stats: Arc<RouteStats>,
}

impl Route {
    /// The proxy's counters, for a proxy route.
    pub(crate) fn proxy_stats(&self) -> Option<ProxyStats> {
        self.serve.proxy_stats()
    }

    /// The route's kind, host and prefix, for the start-up summary.
    pub(crate) fn describe(&self) -> String {
        let host = match &self.host {
            Some(HostMatch::Exact(h)) => h.clone(),
            Some(HostMatch::Suffix(s)) => format!("*{s}"),
            None => "*".to_owned(),
        };
        format!("{:<24} host {host:<20} path {}", self.name, self.prefix)
    }
}

/// The routes of one configuration, in matching order.
pub(crate) struct Table {
    routes: Vec<Route>,
    /// Counts requests no route matched.
    unmatched: Arc<RouteStats>,
    /// Whether some route names a host (else the request's host is not looked up).
    by_host: bool,
    pub(crate) access_log: bool,
}

impl Table {
    /// A table with no route (every request is 404), before the first configuration.
    pub(crate) fn empty(stats: &crate::metrics::StatsRegistry) -> Table {
        Table { routes: Vec::new(), unmatched: stats.route("unmatched"), by_host: false, access_log: false }
    }

    /// Builds the routes of `loaded` (already checked).
    pub(crate) fn build(loaded: &Loaded, state: &Arc<State>) -> Result<Table, ConfigError> {
        let config: &Config = &loaded.config;
        let mut routes = Vec::with_capacity(config.routes.len());
        for (i, r) in config.routes.iter().enumerate() {
            let at = format!("routes[{i}]");
            let serve: Box<dyn Serve> = match r.kind {
                RouteKind::Static => Box::new(static_site::StaticSite::new(r)),
                RouteKind::Fixed => Box::new(fixed::Fixed::new(r)),
                RouteKind::Redirect => Box::new(redirect::Redirect::new(r)),
                RouteKind::Proxy => Box::new(proxy::Proxy::new(r).map_err(|e| loaded.error_at(&at, e))?),
                RouteKind::Health => Box::new(health::Health::new(r, state)),
                RouteKind::Metrics => Box::new(metrics_page::MetricsPage::new(state)),
            };
            let name = crate::config::route_name(r);
            routes.push(Route {
                stats: state.stats.route(&name),
                name,
                host: r.host.as_deref().map(HostMatch::parse),
                prefix: crate::config::normalized_prefix(&r.path),
                serve,
            });
        }
        // Longest prefix first; on a tie, a route with a host first; then file order (the
        // sort is stable).
        routes.sort_by_key(|r| (std::cmp::Reverse(r.prefix.len()), r.host.is_none()));
        Ok(Table {
            by_host: routes.iter().any(|r| r.host.is_some()),
            routes,
            unmatched: state.stats.route("unmatched"),
            access_log: config.logging.access_log,
        })
    }

    /// The routes, in matching order.
    pub(crate) fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for `host` and `path`, and the rest of the path after its prefix.
    fn find<'a, 'p>(&'a self, host: Option<&str>, path: &'p str) -> Option<(&'a Route, &'p str)> {
        self.routes.iter().find_map(|route| {
            if let Some(want) = &route.host
                && !host.is_some_and(|h| want.matches(h))
            {
                return None;
            }
            let rest = strip_prefix(path, &route.prefix)?;
            Some((route, rest))
        })
    }
}

/// `path` after `prefix`, if `prefix` is a prefix of it in whole segments.
fn strip_prefix<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    if prefix == "/" {
        return path.starts_with('/').then_some(path);
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The host of an authority (`example.com:8080` → `example.com`, `[::1]:80` → `[::1]`).
pub(crate) fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority.find(']').map_or(authority, |end| &authority[..=end]);
    }
    authority.rsplit_once(':').map_or(authority, |(host, _)| host)
}

/// Approximate bytes of a request as received: request line, fields, and `body`.
fn request_bytes(req: &Request, body: u64) -> u64 {
    let head: usize = req.headers().map(|(n, v)| n.len() + v.len() + 4).sum();
    (req.method().len() + req.target().len() + 12 + head + 2) as u64 + body
}

/// The oc-http handler of the served routes: a streaming one, so that a proxy route can pass
/// a request's body on as it arrives (oc-http still hands it every request whose body came
/// whole with its head, from memory, as it would to a plain handler).
pub(crate) struct Dispatch {
    pub(crate) state: Arc<State>,
}

impl StreamHandler for Dispatch {
    fn call(&self, req: &Request, body: &mut RequestBody<'_>) -> Response {
        let started = Instant::now();
        let table = self.state.table.load_full();
        let host = if table.by_host { req.authority().map(host_of) } else { None };
        let (reply, stats) = match table.find(host, req.path()) {
            Some((route, rest)) => (route.serve.serve(req, rest, body), &route.stats),
            None => {
                let response = Response::error(404);
                (Reply { response, body_bytes: "404 Not Found\n".len() as u64 }, &table.unmatched)
            }
        };
        let status = reply.response.status_code();
        let body_bytes = if req.method() == "HEAD" { 0 } else { reply.body_bytes };
        // The body's bytes: what the route read of a streamed one, else the buffered one's.
        let body_in = body.bytes_read().max(req.body().len() as u64);
        stats.record(status, started.elapsed(), request_bytes(req, body_in), body_bytes);
        if table.access_log {
            let entry = crate::access_log::Entry {
                peer: req.peer_addr(),
                method: req.method(),
                target: req.target(),
                version: req.version(),
                status,
                bytes: body_bytes,
            };
            crate::access_log::AccessLog::get().record(started, &entry);
        }
        reply.response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert_eq!(strip_prefix("/api", "/api"), Some(""));
        assert_eq!(strip_prefix("/api/v1", "/api"), Some("/v1"));
        assert_eq!(strip_prefix("/apis", "/api"), None);
        assert_eq!(strip_prefix("/x", "/"), Some("/x"));
    }

    #[test]
    fn hosts_match_without_port_and_case() {
        assert_eq!(host_of("Example.com:8080"), "Example.com");
        assert_eq!(host_of("[::1]:80"), "[::1]");
        assert_eq!(host_of("a.b"), "a.b");
        assert!(HostMatch::parse("example.COM").matches("EXAMPLE.com"));
        let wild = HostMatch::parse("*.example.com");
        assert!(wild.matches("a.example.com") && wild.matches("x.y.Example.com"));
        assert!(!wild.matches("example.com") && !wild.matches("aexample.com"));
    }
}
