//! Fixed responses: a status, header fields and a body, the same for every request.
//!
//! The body and fields are kept as `'static` data, interned by value: a response is sent
//! without copying them, and reloading the same configuration again and again keeps one copy.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use oc_http::{Request, RequestBody, Response};

use super::{Reply, Serve};
use crate::config::RouteConfig;

/// A fixed response.
pub(crate) struct Fixed {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static [u8],
}

/// One `'static` copy of each distinct string.
fn intern(s: &str) -> &'static str {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = seen.get(s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    seen.insert(leaked);
    leaked
}

impl Fixed {
    pub(crate) fn new(r: &RouteConfig) -> Fixed {
        let mut headers: Vec<(&'static str, &'static str)> =
            r.headers.iter().flatten().map(|(n, v)| (intern(n), intern(v))).collect();
        let body = intern(r.body.as_deref().unwrap_or(""));
        if !body.is_empty() && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
            headers.insert(0, ("Content-Type", "text/plain; charset=utf-8"));
        }
        Fixed { status: r.status.unwrap_or(200), headers, body: body.as_bytes() }
    }
}

impl Serve for Fixed {
    fn serve(&self, _req: &Request, _rest: &str, _body: &mut RequestBody<'_>) -> Reply {
        let mut response = Response::new(self.status);
        for (name, value) in &self.headers {
            response = response.header(*name, *value);
        }
        let sends_body = !matches!(self.status, 204 | 205 | 304);
        Reply {
            response: response.static_body(self.body),
            body_bytes: if sends_body { self.body.len() as u64 } else { 0 },
        }
    }
}
