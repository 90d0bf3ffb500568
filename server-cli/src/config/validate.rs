//! The checks the types cannot make: values in range, the keys each route kind takes, files
//! and directories that must exist. Each failure points at its key.

use std::collections::HashSet;
use std::net::{SocketAddr, ToSocketAddrs};

use super::{ConfigError, Loaded, RouteConfig, RouteKind};

/// Checks everything that can be checked without binding a socket.
pub(crate) fn check(loaded: &Loaded) -> Result<(), ConfigError> {
    let c = &loaded.config;
    let err = |path: &str, msg: String| loaded.error_at(path, msg);

    if c.listeners.is_empty() {
        return Err(err("listeners", "at least one listener is needed".into()));
    }
    for (i, l) in c.listeners.iter().enumerate() {
        let at = format!("listeners[{i}]");
        if l.address.parse::<SocketAddr>().is_err() {
            return Err(err(&format!("{at}.address"), format!("{:?} is not IP:PORT", l.address)));
        }
        if l.redirect_to_https_port == Some(0) {
            return Err(err(&format!("{at}.redirect_to_https_port"), "the HTTPS port cannot be 0".into()));
        }
        if let Some(tls) = &l.tls {
            if l.redirect_to_https_port.is_some() {
                return Err(err(
                    &format!("{at}.redirect_to_https_port"),
                    "a listener that redirects to HTTPS speaks plain HTTP: remove `tls` or this key".into(),
                ));
            }
            for (key, file) in [("cert", &tls.cert), ("key", &tls.key)] {
                if let Err(e) = std::fs::File::open(file) {
                    return Err(err(&format!("{at}.tls.{key}"), format!("cannot read {}: {e}", file.display())));
                }
            }
            if let Err(e) = oc_http::TlsConfig::from_pem_files(&tls.cert, &tls.key) {
                return Err(err(&format!("{at}.tls"), e.to_string()));
            }
        }
    }

    let r = &c.runtime;
    if r.workers == Some(0) {
        return Err(err("runtime.workers", "must be at least 1".into()));
    }
    if let Some(size) = r.stack_size
        && !(16 * 1024..=256 * 1024 * 1024).contains(&size)
    {
        return Err(err("runtime.stack_size", format!("{size} is out of range (16384 to 268435456 bytes)")));
    }

    let h = &c.http;
    for (key, value) in [
        ("max_request_line", h.max_request_line),
        ("max_head", h.max_head),
        ("max_headers", h.max_headers),
        ("max_connections", h.max_connections),
    ] {
        if value == Some(0) {
            return Err(err(&format!("http.{key}"), "must be at least 1".into()));
        }
    }
    for (key, value) in [
        ("header_timeout_ms", h.header_timeout_ms),
        ("idle_timeout_ms", h.idle_timeout_ms),
        ("body_timeout_ms", h.body_timeout_ms),
        ("write_timeout_ms", h.write_timeout_ms),
    ] {
        if value == Some(0) {
            return Err(err(&format!("http.{key}"), "must be at least 1 ms".into()));
        }
    }

    if let Err(e) = crate::logging::filter(&c.logging.level) {
        return Err(err("logging.level", format!("{:?} is not a log filter: {e}", c.logging.level)));
    }

    let mut names = HashSet::new();
    let mut places = HashSet::new();
    for (i, route) in c.routes.iter().enumerate() {
        let at = format!("routes[{i}]");
        check_route(loaded, &at, route)?;
        if !names.insert(route_name(route)) {
            return Err(err(
                &format!("{at}.name"),
                format!("another route is named {:?}: give each a distinct `name`", route_name(route)),
            ));
        }
        if !places.insert((route.host.as_deref().map(str::to_ascii_lowercase), normalized_prefix(&route.path))) {
            return Err(err(
                &format!("{at}.path"),
                format!("an earlier route has the same host and path {:?}", route.path),
            ));
        }
    }
    Ok(())
}

/// The label of a route in metrics and logs.
pub(crate) fn route_name(route: &RouteConfig) -> String {
    match &route.name {
        Some(name) => name.clone(),
        None => match &route.host {
            Some(host) => format!("{} {}{}", route.kind.name(), host, route.path),
            None => format!("{} {}", route.kind.name(), route.path),
        },
    }
}

/// A prefix without its trailing `/` (but `/` itself).
pub(crate) fn normalized_prefix(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() { "/".to_owned() } else { trimmed.to_owned() }
}

/// The keys each kind takes (beyond `kind`, `name`, `host`, `path`).
fn allowed(kind: RouteKind) -> &'static [&'static str] {
    match kind {
        RouteKind::Static => &["root", "index", "listing", "dotfiles", "content_types"],
        RouteKind::Fixed => &["status", "headers", "body"],
        RouteKind::Redirect => &["status", "to", "append_path"],
        RouteKind::Proxy => &[
            "upstreams",
            "connect_timeout_ms",
            "read_timeout_ms",
            "write_timeout_ms",
            "fail_timeout_ms",
            "pool_size",
            "pool_idle_timeout_ms",
            "strip_prefix",
            "add_prefix",
            "preserve_host",
        ],
        RouteKind::Health => &["check"],
        RouteKind::Metrics => &[],
    }
}

fn check_route(loaded: &Loaded, at: &str, r: &RouteConfig) -> Result<(), ConfigError> {
    let err = |key: &str, msg: String| loaded.error_at(&format!("{at}.{key}"), msg);
    let set = [
        ("root", r.root.is_some()),
        ("index", r.index.is_some()),
        ("listing", r.listing.is_some()),
        ("dotfiles", r.dotfiles.is_some()),
        ("content_types", r.content_types.is_some()),
        ("status", r.status.is_some()),
        ("headers", r.headers.is_some()),
        ("body", r.body.is_some()),
        ("to", r.to.is_some()),
        ("append_path", r.append_path.is_some()),
        ("upstreams", r.upstreams.is_some()),
        ("connect_timeout_ms", r.connect_timeout_ms.is_some()),
        ("read_timeout_ms", r.read_timeout_ms.is_some()),
        ("write_timeout_ms", r.write_timeout_ms.is_some()),
        ("fail_timeout_ms", r.fail_timeout_ms.is_some()),
        ("pool_size", r.pool_size.is_some()),
        ("pool_idle_timeout_ms", r.pool_idle_timeout_ms.is_some()),
        ("strip_prefix", r.strip_prefix.is_some()),
        ("add_prefix", r.add_prefix.is_some()),
        ("preserve_host", r.preserve_host.is_some()),
        ("check", r.check.is_some()),
    ];
    for (key, present) in set {
        if present && !allowed(r.kind).contains(&key) {
            return Err(
                loaded.key_error_at(&format!("{at}.{key}"), format!("a {} route does not take `{key}`", r.kind.name()))
            );
        }
    }
    if !r.path.starts_with('/') {
        return Err(err("path", format!("{:?} must start with /", r.path)));
    }
    if let Some(host) = &r.host {
        let bare = host.strip_prefix("*.").unwrap_or(host);
        if bare.is_empty() || bare.contains(['/', ' ', '*', ':']) {
            return Err(err("host", format!("{host:?} is not a host name (`example.com` or `*.example.com`)")));
        }
    }
    match r.kind {
        RouteKind::Static => {
            let Some(root) = &r.root else {
                return Err(loaded.error_at(at, "a static route needs `root`"));
            };
            match std::fs::metadata(root) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(err("root", format!("{} is not a directory", root.display()))),
                Err(e) => return Err(err("root", format!("{}: {e}", root.display()))),
            }
            if let Some(index) = &r.index
                && (index.is_empty() || index.contains('/'))
            {
                return Err(err("index", format!("{index:?} is not a file name")));
            }
            for (ext, ty) in r.content_types.iter().flatten() {
                if ext.is_empty() || ext.contains('.') || !valid_value(ty) {
                    return Err(err(
                        "content_types",
                        format!("{ext:?}: {ty:?} is not an extension and a content type"),
                    ));
                }
            }
        }
        RouteKind::Fixed => {
            let status = r.status.unwrap_or(200);
            if !(200..=599).contains(&status) {
                return Err(err("status", format!("{status} is not a final status (200 to 599)")));
            }
            for (name, value) in r.headers.iter().flatten() {
                if !valid_name(name) || !valid_value(value) {
                    return Err(err("headers", format!("{name:?}: {value:?} is not a valid header field")));
                }
            }
        }
        RouteKind::Redirect => {
            let status = r.status.unwrap_or(302);
            if ![301, 302, 303, 307, 308].contains(&status) {
                return Err(err("status", format!("{status} is not a redirect status (301, 302, 303, 307, 308)")));
            }
            match &r.to {
                None => return Err(loaded.error_at(at, "a redirect route needs `to`")),
                Some(to) if to.is_empty() || !valid_value(to) => {
                    return Err(err("to", format!("{to:?} is not a URL")));
                }
                Some(_) => {}
            }
        }
        RouteKind::Proxy => {
            let Some(upstreams) = &r.upstreams else {
                return Err(loaded.error_at(at, "a proxy route needs `upstreams`"));
            };
            if upstreams.is_empty() {
                return Err(err("upstreams", "at least one upstream is needed".into()));
            }
            for (j, u) in upstreams.iter().enumerate() {
                if resolve(u).is_none() {
                    return Err(err(&format!("upstreams[{j}]"), format!("{u:?} is not HOST:PORT that resolves")));
                }
            }
            for (key, value) in [
                ("connect_timeout_ms", r.connect_timeout_ms),
                ("read_timeout_ms", r.read_timeout_ms),
                ("write_timeout_ms", r.write_timeout_ms),
                ("fail_timeout_ms", r.fail_timeout_ms),
                ("pool_idle_timeout_ms", r.pool_idle_timeout_ms),
            ] {
                if value == Some(0) {
                    return Err(err(key, "must be at least 1 ms".into()));
                }
            }
            if let Some(prefix) = &r.add_prefix
                && (!prefix.starts_with('/') || !valid_value(prefix))
            {
                return Err(err("add_prefix", format!("{prefix:?} must be a path starting with /")));
            }
        }
        RouteKind::Health => {
            if r.check.is_none() {
                return Err(loaded.error_at(at, "a health route needs `check`: \"live\" or \"ready\""));
            }
        }
        RouteKind::Metrics => {}
    }
    Ok(())
}

/// The first address `host:port` resolves to.
pub(crate) fn resolve(upstream: &str) -> Option<SocketAddr> {
    upstream.to_socket_addrs().ok()?.next()
}

/// An HTTP token (RFC 9110 §5.6.2).
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A field value without control characters.
fn valid_value(value: &str) -> bool {
    !value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f)
}
