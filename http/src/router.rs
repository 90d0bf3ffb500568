//! Routing: methods, path parameters (`/users/:id`), wildcards (`/static/*path`, or `/*`
//! to match any rest of the path without capturing it), and the `404`/`405` answers (with
//! `Allow`) when nothing matches, and `501` for unknown methods.

use std::sync::Arc;

use crate::request::eq_exact;
use crate::{Request, RequestBody, Response};

/// What handles a request: any `Fn(&Request) -> Response` that may be called from many
/// coroutines at once. It may block (on a database, a file, another service).
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, req: &Request) -> Response;
}

impl<F> Handler for F
where
    F: Fn(&Request) -> Response + Send + Sync + 'static,
{
    fn call(&self, req: &Request) -> Response {
        self(req)
    }
}

/// What handles a request whose body it takes as a stream (`Router::streaming`): any
/// `Fn(&Request, &mut RequestBody<'_>) -> Response` that may be called from many coroutines
/// at once. The body is read from `RequestBody` (`req.body()` holds it too when it came whole
/// with the head, and is empty otherwise).
pub trait StreamHandler: Send + Sync + 'static {
    /// Answers one request, reading as much of its body as it needs.
    fn call(&self, req: &Request, body: &mut RequestBody<'_>) -> Response;
}

impl<F> StreamHandler for F
where
    F: Fn(&Request, &mut RequestBody<'_>) -> Response + Send + Sync + 'static,
{
    fn call(&self, req: &Request, body: &mut RequestBody<'_>) -> Response {
        self(req, body)
    }
}

/// A streaming route's handler called for a request whose body was received whole (small
/// enough to arrive with its head, or dispatched by hand): the body is read from memory.
struct FromMemory(Arc<dyn StreamHandler>);

impl Handler for FromMemory {
    fn call(&self, req: &Request) -> Response {
        self.0.call(req, &mut RequestBody::from_slice(req.body()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Static(String),
    Param(String),
    Rest(String),
}

struct Route {
    method: Option<String>,
    segments: Vec<Segment>,
    /// For a pattern of static segments only: the one canonical path it matches (`/a/b`),
    /// compared whole instead of segment by segment.
    exact: Option<Box<str>>,
    handler: Arc<dyn Handler>,
    /// A streaming route's handler (`handler` then calls it with the body in memory).
    streamed: Option<Arc<dyn StreamHandler>>,
}

/// Which route answers a request, or why none does.
enum Choice<'r> {
    Route(&'r Route, Vec<(String, String)>),
    /// `OPTIONS *` (no route answers it): the methods routes have.
    Options(Vec<&'r str>),
    NotImplemented,
    NotFound,
    /// Routes match the path but not the method: these methods.
    NotAllowed(Vec<&'r str>),
}

/// Whether `path` has no empty segment (no `//`, no trailing `/` but the root's), so that
/// a static route matches it exactly when the strings are equal.
fn canonical(path: &str) -> bool {
    let b = path.as_bytes();
    (b.len() <= 1 || b[b.len() - 1] != b'/') && !b.windows(2).any(|w| w == b"//")
}

/// Maps method and path to handlers.
///
/// A pattern is made of segments: a literal (`users`), a parameter (`:id`, one segment), or
/// a wildcard as the last segment (`*path`, the rest of the path, joined by `/` and
/// percent-decoded, read with `req.param("path")`; a bare `*` matches any rest without
/// capturing it, at no cost per request). Routes are tried in the order they were added.
///
/// ```
/// use oc_http::{Request, Response, Router};
/// let router = Router::new()
///     .get("/users/:id", |req: &Request| Response::text(format!("user {}", req.param("id").unwrap())))
///     .post("/users", |_req: &Request| Response::new(201));
/// let resp = router.dispatch(&mut Request::new("GET", "/users/7"));
/// assert_eq!(resp.status_code(), 200);
/// assert_eq!(router.dispatch(&mut Request::new("DELETE", "/users")).header_value("Allow"), Some("POST"));
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    /// Whether a route takes its body as a stream.
    streams: bool,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("routes", &self.routes.len()).finish()
    }
}

fn parse_pattern(pattern: &str) -> Vec<Segment> {
    pattern
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if let Some(name) = s.strip_prefix(':') {
                Segment::Param(name.to_owned())
            } else if let Some(name) = s.strip_prefix('*') {
                Segment::Rest(name.to_owned())
            } else {
                Segment::Static(s.to_owned())
            }
        })
        .collect()
}

/// A path parameter percent-decoded (the string itself when it has no escape).
fn decoded(value: String) -> String {
    match crate::request::percent_decode(&value, false) {
        std::borrow::Cow::Owned(decoded) => decoded,
        std::borrow::Cow::Borrowed(_) => value,
    }
}

/// Matches `path` against `segments`; returns the parameters on success.
fn matches(segments: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let mut parts = path.split('/').filter(|s| !s.is_empty());
    let mut params = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        match seg {
            // An unnamed wildcard (`/*`) takes the rest of the path as it is: nothing to
            // copy or decode (a handler that wants it reads `req.path()`).
            Segment::Rest(name) if name.is_empty() => {
                return (i == segments.len() - 1).then_some(params);
            }
            Segment::Rest(name) => {
                let mut rest = String::with_capacity(path.len());
                for part in parts.by_ref() {
                    if !rest.is_empty() {
                        rest.push('/');
                    }
                    rest.push_str(part);
                }
                params.push((name.clone(), decoded(rest)));
                return (i == segments.len() - 1).then_some(params);
            }
            Segment::Static(s) => {
                if parts.next()? != s {
                    return None;
                }
            }
            Segment::Param(name) => {
                let part = parts.next()?;
                params.push((name.clone(), decoded(part.to_owned())));
            }
        }
    }
    parts.next().is_none().then_some(params)
}

impl Router {
    /// An empty router (everything is `404`).
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route for `method` (any method when `None`).
    pub fn route(self, method: Option<&str>, pattern: &str, handler: impl Handler) -> Router {
        self.add(method, pattern, Arc::new(handler), None)
    }

    /// Adds a route for `method` (any method when `None`) whose handler takes the request's
    /// body as a stream (`RequestBody`) instead of whole: for bodies of any size (an upload,
    /// a proxied request), read in bounded memory as they arrive. `Limits::max_body` does not
    /// apply to them; `Limits::max_streamed_body`, `body_timeout` and `min_body_rate` do.
    ///
    /// ```
    /// use std::io::Read;
    /// use oc_http::{Request, RequestBody, Response, Router};
    /// let router = Router::new().streaming(Some("PUT"), "/upload/:name", |req: &Request, body: &mut RequestBody<'_>| {
    ///     let n = std::io::copy(body, &mut std::io::sink()).unwrap_or(0);
    ///     Response::text(format!("{}: {n} bytes", req.param("name").unwrap()))
    /// });
    /// let resp = router.dispatch(&mut Request::new("PUT", "/upload/a").with_body("abc"));
    /// assert_eq!(resp.status_code(), 200);
    /// ```
    pub fn streaming(self, method: Option<&str>, pattern: &str, handler: impl StreamHandler) -> Router {
        let streamed: Arc<dyn StreamHandler> = Arc::new(handler);
        self.add(method, pattern, Arc::new(FromMemory(streamed.clone())), Some(streamed))
    }

    fn add(
        mut self,
        method: Option<&str>,
        pattern: &str,
        handler: Arc<dyn Handler>,
        streamed: Option<Arc<dyn StreamHandler>>,
    ) -> Router {
        self.streams |= streamed.is_some();
        let segments = parse_pattern(pattern);
        let exact = segments
            .iter()
            .map(|s| match s {
                Segment::Static(s) => Some(s.as_str()),
                _ => None,
            })
            .collect::<Option<Vec<&str>>>()
            .map(|parts| format!("/{}", parts.join("/")).into_boxed_str());
        self.routes.push(Route { method: method.map(|m| m.to_ascii_uppercase()), segments, exact, handler, streamed });
        self
    }

    /// Whether some route takes its body as a stream.
    pub(crate) fn streams(&self) -> bool {
        self.streams
    }

    /// The streaming handler that answers `req` (its path parameters filled in), if the
    /// route that answers it is a streaming one.
    pub(crate) fn streamed(&self, req: &mut Request) -> Option<Arc<dyn StreamHandler>> {
        match self.choose(req) {
            Choice::Route(route, params) => {
                let handler = route.streamed.clone()?;
                req.params = params;
                Some(handler)
            }
            _ => None,
        }
    }

    /// Adds a `GET` route (which also answers `HEAD`).
    pub fn get(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Some("GET"), pattern, handler)
    }

    /// Adds a `POST` route.
    pub fn post(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Some("POST"), pattern, handler)
    }

    /// Adds a `PUT` route.
    pub fn put(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Some("PUT"), pattern, handler)
    }

    /// Adds a `DELETE` route.
    pub fn delete(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(Some("DELETE"), pattern, handler)
    }

    /// Adds a route for every method.
    pub fn any(self, pattern: &str, handler: impl Handler) -> Router {
        self.route(None, pattern, handler)
    }

    /// Finds the handler for `req`, fills in its path parameters and calls it; `404` when no
    /// route matches the path, `405` with `Allow` when routes match the path but not the
    /// method, `501` for a method neither HTTP defines nor any route names (unless a route
    /// for every method matches).
    #[inline]
    pub fn dispatch(&self, req: &mut Request) -> Response {
        // The usual case first: a leading static route whose path and method both match
        // (nothing to collect, no parameters). Anything else goes the general way, which
        // looks at the routes in the same order and so answers the same.
        let (path, method) = (req.path().as_bytes(), req.method().as_bytes());
        for route in &self.routes {
            let Some(exact) = &route.exact else {
                break;
            };
            if eq_exact(exact.as_bytes(), path) {
                if route.method.as_ref().is_none_or(|m| eq_exact(m.as_bytes(), method)) {
                    req.params.clear();
                    return route.handler.call(req);
                }
                break;
            }
        }
        self.dispatch_in_order(req)
    }

    /// Whether `method` is one HTTP defines (RFC 9110 §9, with PATCH, RFC 5789) or one a
    /// route names.
    fn recognises(&self, method: &str) -> bool {
        const DEFINED: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
        DEFINED.contains(&method) || self.routes.iter().any(|r| r.method.as_deref() == Some(method))
    }

    /// `dispatch`, route by route (kept out of line: the fast path above stays small).
    #[inline(never)]
    fn dispatch_in_order(&self, req: &mut Request) -> Response {
        match self.choose(req) {
            Choice::Route(route, params) => {
                req.params = params;
                route.handler.call(req)
            }
            Choice::Options(methods) => Response::new(200).header("Allow", methods.join(", ")),
            Choice::NotImplemented => Response::error(501),
            Choice::NotFound => Response::error(404),
            Choice::NotAllowed(allowed) => Response::error(405).header("Allow", allowed.join(", ")),
        }
    }

    /// The route that answers `req`, with its path parameters, or why none does.
    fn choose(&self, req: &Request) -> Choice<'_> {
        // `OPTIONS *` asks about the server as a whole (RFC 9110 §9.3.7): the methods it has
        // routes for, unless the application answers OPTIONS itself.
        if req.path() == "*" && !self.routes.iter().any(|r| r.method.as_deref() == Some("OPTIONS")) {
            let mut methods: Vec<&str> = Vec::new();
            for m in self.routes.iter().filter_map(|r| r.method.as_deref()).chain(["HEAD", "OPTIONS"]) {
                if !methods.contains(&m) && (m != "HEAD" || methods.contains(&"GET")) {
                    methods.push(m);
                }
            }
            return Choice::Options(methods);
        }
        let mut allowed: Vec<&str> = Vec::new();
        let head = req.is_head();
        let mut head_fallback: Option<(&Route, Vec<(String, String)>)> = None;
        let path = req.path();
        let method = req.method();
        // Whether the path has no empty segment: decided at the first static route that is
        // not equal to it, then reused.
        let mut is_canonical = None;
        for route in &self.routes {
            let found = match &route.exact {
                // The canonical path a static route matches: equal strings match.
                Some(exact) if eq_exact(exact.as_bytes(), path.as_bytes()) => Some(Vec::new()),
                // Another canonical path cannot match it.
                Some(_) if *is_canonical.get_or_insert_with(|| canonical(path)) => None,
                _ => matches(&route.segments, path),
            };
            let Some(params) = found else {
                continue;
            };
            match &route.method {
                None => return Choice::Route(route, params),
                Some(m) if eq_exact(m.as_bytes(), method.as_bytes()) => return Choice::Route(route, params),
                Some(m) => {
                    if head && m == "GET" && head_fallback.is_none() {
                        head_fallback = Some((route, params));
                    }
                    if !allowed.contains(&m.as_str()) {
                        allowed.push(m);
                    }
                }
            }
        }
        if let Some((route, params)) = head_fallback {
            return Choice::Route(route, params);
        }
        // A method neither HTTP defines nor any route names is one this server does not
        // implement: 501 (RFC 9110 §9.1), wherever it is sent.
        if !self.recognises(method) {
            return Choice::NotImplemented;
        }
        if allowed.is_empty() {
            return Choice::NotFound;
        }
        if allowed.contains(&"GET") && !allowed.contains(&"HEAD") {
            allowed.push("HEAD");
        }
        Choice::NotAllowed(allowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(router: &Router, method: &str, target: &str) -> (u16, String) {
        let resp = router.dispatch(&mut Request::new(method, target));
        let body = match &resp.body {
            crate::response::Body::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        (resp.status, body)
    }

    #[test]
    fn static_routes_match_the_same_paths_as_segment_matching() {
        let router = Router::new()
            .get("/", |_: &Request| Response::text("root"))
            .get("/a/b", |_: &Request| Response::text("ab"))
            .get("/a/:x", |r: &Request| Response::text(format!("a {}", r.param("x").unwrap())))
            .get("plain", |_: &Request| Response::text("plain"));
        for (target, want) in [
            ("/", (200, "root")),
            ("//", (200, "root")),
            ("/a/b", (200, "ab")),
            ("/a/b/", (200, "ab")),
            ("//a//b", (200, "ab")),
            ("/a/b?x=1", (200, "ab")),
            ("/a/c", (200, "a c")),
            ("/a/b%20", (200, "a b ")),
            ("/plain", (200, "plain")),
            ("/plain/", (200, "plain")),
            ("/a", (404, "404 Not Found\n")),
            ("/a/b/c", (404, "404 Not Found\n")),
        ] {
            let (status, body) = route_of(&router, "GET", target);
            assert_eq!((status, body.as_str()), want, "{target}");
        }
        assert_eq!(route_of(&router, "POST", "/a/b").0, 405);
    }

    #[test]
    fn the_static_fast_path_answers_as_the_routes_in_order_do() {
        let router = Router::new()
            .post("/a", |_: &Request| Response::text("post a"))
            .get("/b", |r: &Request| Response::text(format!("b {}", r.params.len())))
            .get("/:x", |r: &Request| Response::text(format!("x {}", r.param("x").unwrap())));
        assert_eq!(route_of(&router, "POST", "/a"), (200, "post a".into()));
        // The static route has another method: a later parameter route answers.
        assert_eq!(route_of(&router, "GET", "/a"), (200, "x a".into()));
        assert_eq!(route_of(&router, "HEAD", "/b").0, 200);
        assert_eq!(route_of(&router, "DELETE", "/b"), (405, "405 Method Not Allowed\n".into()));
        let options = router.dispatch(&mut Request::new("OPTIONS", "*"));
        assert_eq!((options.status, options.header_value("Allow")), (200, Some("POST, GET, HEAD, OPTIONS")));
        // Parameters of an earlier request on the same `Request` are gone.
        let mut req = Request::new("GET", "/b");
        req.params = vec![("x".into(), "z".into())];
        let resp = router.dispatch(&mut req);
        assert!(matches!(&resp.body, crate::response::Body::Bytes(b) if b == b"b 0"));
    }

    #[test]
    fn methods_nothing_recognises_are_not_implemented() {
        let router = Router::new()
            .get("/a", |_: &Request| Response::text("a"))
            .route(Some("PURGE"), "/p", |_: &Request| Response::text("purged"))
            .any("/any", |r: &Request| Response::text(r.method().to_owned()));
        // Unknown to HTTP and to every route: 501, on a known path or not.
        assert_eq!(route_of(&router, "BREW", "/a").0, 501);
        assert_eq!(route_of(&router, "BREW", "/nowhere").0, 501);
        // Methods are case-sensitive: `get` is not `GET`.
        assert_eq!(route_of(&router, "get", "/a").0, 501);
        // Defined by HTTP but not routed here: 405 on a known path, 404 elsewhere.
        assert_eq!(route_of(&router, "PATCH", "/a").0, 405);
        assert_eq!(route_of(&router, "PATCH", "/nowhere").0, 404);
        // Named by a route: recognised everywhere.
        assert_eq!(route_of(&router, "PURGE", "/p"), (200, "purged".into()));
        assert_eq!(route_of(&router, "PURGE", "/a").0, 405);
        // A route for every method takes any method.
        assert_eq!(route_of(&router, "BREW", "/any"), (200, "BREW".into()));
    }

    #[test]
    fn a_bare_wildcard_matches_any_rest_and_captures_nothing() {
        let router = Router::new()
            .get("/files/*path", |req: &Request| Response::text(format!("file {}", req.param("path").unwrap())))
            .get("/*", |req: &Request| Response::text(format!("any {} {:?}", req.path(), req.param(""))));
        for (path, want) in [
            ("/", "any / None"),
            ("/a", "any /a None"),
            ("/a//b/", "any /a//b/ None"),
            ("/a%20b", "any /a%20b None"),
            ("/files/x%20y//z", "file x y/z"),
        ] {
            assert_eq!(route_of(&router, "GET", path), (200, want.to_owned()), "{path}");
        }
        // Only as the last segment, as a named wildcard.
        let router = Router::new().get("/*/x", |_: &Request| Response::text("x"));
        assert_eq!(route_of(&router, "GET", "/a/x").0, 404);
        // A HEAD answered by the GET route.
        let router = Router::new().get("/*", |_: &Request| Response::text("get"));
        assert_eq!(route_of(&router, "HEAD", "/q").0, 200);
    }

    #[test]
    fn canonical_paths() {
        assert!(canonical("/") && canonical("/a") && canonical("/a/b"));
        assert!(!canonical("//") && !canonical("/a/") && !canonical("/a//b") && !canonical("/a/b/"));
    }
}
