//! Redirects: to a fixed target, with the request's path (after the route's prefix) and query
//! appended or not; and the listener-wide redirect of plain HTTP to HTTPS.

use oc_http::{Handler, Request, RequestBody, Response};

use super::{Reply, Serve};
use crate::config::RouteConfig;

/// A redirect route.
pub(crate) struct Redirect {
    status: u16,
    to: String,
    append_path: bool,
}

impl Redirect {
    pub(crate) fn new(r: &RouteConfig) -> Redirect {
        Redirect {
            status: r.status.unwrap_or(302),
            to: r.to.clone().unwrap_or_default(),
            append_path: r.append_path.unwrap_or(false),
        }
    }
}

/// `Location` for `to` with `rest` and the query appended.
fn appended(to: &str, rest: &str, query: Option<&str>) -> String {
    let mut location = String::with_capacity(to.len() + rest.len() + 16);
    location.push_str(to);
    if location.ends_with('/') && rest.starts_with('/') {
        location.push_str(&rest[1..]);
    } else {
        location.push_str(rest);
    }
    if let Some(q) = query {
        location.push('?');
        location.push_str(q);
    }
    location
}

fn redirect(status: u16, location: String) -> Reply {
    let body = format!("Redirecting to {location}\n");
    let body_bytes = body.len() as u64;
    let response = Response::new(status)
        .header("Location", location)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(body.into_bytes());
    Reply { response, body_bytes }
}

impl Serve for Redirect {
    fn serve(&self, req: &Request, rest: &str, _body: &mut RequestBody<'_>) -> Reply {
        let location = if self.append_path { appended(&self.to, rest, req.query()) } else { self.to.clone() };
        redirect(self.status, location)
    }
}

/// The handler of a listener that sends every request to HTTPS on `port` (308: the method
/// and body are kept).
pub(crate) struct HttpsRedirect {
    pub(crate) port: u16,
}

impl Handler for HttpsRedirect {
    fn call(&self, req: &Request) -> Response {
        let Some(host) = req.authority().map(super::host_of).filter(|h| !h.is_empty()) else {
            return Response::error(400);
        };
        let port = if self.port == 443 { String::new() } else { format!(":{}", self.port) };
        let target = if req.target().starts_with('/') { req.target() } else { req.path() };
        redirect(308, format!("https://{host}{port}{target}")).response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_are_appended_once() {
        assert_eq!(appended("https://b.example/", "/x/y", Some("q=1")), "https://b.example/x/y?q=1");
        assert_eq!(appended("https://b.example/new", "/x", None), "https://b.example/new/x");
        assert_eq!(appended("https://b.example/new", "", None), "https://b.example/new");
    }

    #[test]
    fn https_redirect_keeps_host_and_target() {
        let h = HttpsRedirect { port: 8443 };
        let resp = h.call(&Request::new("GET", "/a?b=1").with_header("Host", "site.example:8080"));
        assert_eq!(resp.status_code(), 308);
        assert_eq!(resp.header_value("Location"), Some("https://site.example:8443/a?b=1"));
        let resp = HttpsRedirect { port: 443 }.call(&Request::new("GET", "/").with_header("Host", "s.example"));
        assert_eq!(resp.header_value("Location"), Some("https://s.example/"));
        assert_eq!(h.call(&Request::new("GET", "/")).status_code(), 400);
    }
}
