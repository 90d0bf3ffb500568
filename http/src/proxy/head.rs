//! The heads a proxy rewrites: the request head it sends upstream (path prefix rewritten,
//! hop-by-hop fields removed, `X-Forwarded-*` set, the body's framing), and the fields of an
//! upstream's response head it passes on.

use std::borrow::Cow;
use std::io::Write;

use crate::Request;

/// Hop-by-hop fields (RFC 9110 §7.6.1), never forwarded either way, besides those a
/// `Connection` field names and every `Proxy-*` field.
const HOP_BY_HOP: [&str; 7] =
    ["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "proxy-connection"];

/// Whether a field named `name` is hop-by-hop: in the fixed list, a `Proxy-*` field, or one
/// of the `named` (the options of the message's `Connection` fields, lower-case).
pub(crate) fn hop_by_hop(name: &str, named: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || name.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("proxy-"))
        || named.iter().any(|n| name.eq_ignore_ascii_case(n))
}

/// The options of every `Connection` field among `values`, lower-case.
pub(crate) fn connection_options<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|o| String::from_utf8_lossy(o.trim_ascii()).to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .collect()
}

/// The path and query sent upstream: `strip` taken off the front at a segment boundary,
/// then `add` put before it.
pub(crate) fn rewrite_target<'t>(target: &'t str, strip: Option<&str>, add: Option<&str>) -> Cow<'t, str> {
    let mut rest = target;
    if let Some(prefix) = strip.map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty())
        && let Some(after) = target.strip_prefix(prefix)
        && (after.is_empty() || after.starts_with('/') || after.starts_with('?'))
    {
        rest = after;
    }
    let add = add.map(|p| p.trim_end_matches('/')).unwrap_or("");
    if add.is_empty() && rest.starts_with('/') {
        // The usual case (no prefix to add): a part of the target, no copy.
        return Cow::Borrowed(rest);
    }
    let mut out = String::with_capacity(add.len() + rest.len() + 1);
    out.push_str(add);
    if !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// How the body goes upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body (no framing field).
    None,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// What the request head sent upstream says besides the client's fields.
pub(crate) struct Forwarding<'a> {
    /// The path and query (rewritten).
    pub(crate) target: &'a str,
    /// The `Host` value.
    pub(crate) host: &'a str,
    /// `X-Forwarded-Proto`.
    pub(crate) proto: &'a str,
    pub(crate) body: BodyFraming,
}

/// Writes the request head for `req` into `out`.
pub(crate) fn request_head(out: &mut Vec<u8>, req: &Request, fwd: &Forwarding<'_>) {
    out.extend_from_slice(req.method().as_bytes());
    out.push(b' ');
    out.extend_from_slice(fwd.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(fwd.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    let named = connection_options(req.header_values("connection"));
    let mut forwarded_for: Vec<&[u8]> = Vec::new();
    for (name, value) in req.headers() {
        if hop_by_hop(name, &named) || managed_request_field(name) {
            if name.eq_ignore_ascii_case("x-forwarded-for") {
                forwarded_for.push(value);
            }
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    // The client's address after those the request came through.
    out.extend_from_slice(b"X-Forwarded-For: ");
    for earlier in &forwarded_for {
        out.extend_from_slice(earlier);
        out.extend_from_slice(b", ");
    }
    match req.peer_addr().map(|peer| peer.ip()) {
        Some(std::net::IpAddr::V4(ip)) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in ip.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                out.extend_from_slice(digits.format(octet).as_bytes());
            }
        }
        // Written in place (`Vec`'s `Write` cannot fail).
        Some(ip) => {
            let _ = write!(out, "{ip}");
        }
        None => out.extend_from_slice(b"unknown"),
    }
    out.extend_from_slice(b"\r\nX-Forwarded-Proto: ");
    out.extend_from_slice(fwd.proto.as_bytes());
    if let Some(host) = req.authority() {
        out.extend_from_slice(b"\r\nX-Forwarded-Host: ");
        out.extend_from_slice(host.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    match fwd.body {
        BodyFraming::None => {}
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// Request fields the proxy writes itself: `Host`, the body's `Content-Length`, `Expect`
/// (the proxy answers `100 Continue` itself), and `X-Forwarded-*`.
fn managed_request_field(name: &str) -> bool {
    ["host", "content-length", "expect", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"]
        .iter()
        .any(|m| name.eq_ignore_ascii_case(m))
}

/// Whether a response field from upstream is passed on to the client: not hop-by-hop, and
/// not one the server writes itself (`Content-Length`, `Date`).
pub(crate) fn forwarded_response_field(name: &str, named: &[String]) -> bool {
    !hop_by_hop(name, named) && !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("date")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_at_segment_boundaries_and_added() {
        let cases = [
            ("/api/users?x=1", Some("/api"), None, "/users?x=1"),
            ("/api", Some("/api"), None, "/"),
            ("/api?x", Some("/api/"), None, "/?x"),
            ("/apix/y", Some("/api"), None, "/apix/y"),
            ("/other", Some("/api"), None, "/other"),
            ("/users", None, Some("/v2/"), "/v2/users"),
            ("/api/users", Some("/api"), Some("/v2"), "/v2/users"),
            ("/", None, None, "/"),
        ];
        for (target, strip, add, want) in cases {
            assert_eq!(rewrite_target(target, strip, add), want, "{target} {strip:?} {add:?}");
        }
    }

    #[test]
    fn the_request_head_drops_hop_by_hop_fields_and_forwards_the_client() {
        let mut req = Request::new("POST", "/a")
            .with_header("Host", "front.example")
            .with_header("Connection", "keep-alive, X-Secret")
            .with_header("X-Secret", "s")
            .with_header("Keep-Alive", "timeout=5")
            .with_header("Proxy-Authorization", "basic x")
            .with_header("TE", "trailers")
            .with_header("Upgrade", "websocket")
            .with_header("X-Forwarded-For", "10.0.0.1")
            .with_header("Accept", "*/*")
            .with_header("Content-Length", "3");
        req.peer = Some("192.0.2.7:5000".parse().unwrap());
        let mut out = Vec::new();
        let fwd = Forwarding { target: "/b", host: "front.example", proto: "http", body: BodyFraming::Length(3) };
        request_head(&mut out, &req, &fwd);
        let head = String::from_utf8(out).unwrap();
        assert_eq!(
            head,
            "POST /b HTTP/1.1\r\nHost: front.example\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n\
             X-Forwarded-Proto: http\r\nX-Forwarded-Host: front.example\r\nContent-Length: 3\r\n\r\n"
        );
    }

    #[test]
    fn the_client_address_is_written_as_std_writes_it() {
        for peer in ["0.0.0.0:1", "255.255.255.255:80", "10.20.3.0:9", "[2001:db8::7]:443", "[::ffff:192.0.2.1]:5"] {
            let peer: std::net::SocketAddr = peer.parse().unwrap();
            let mut req = Request::new("GET", "/");
            req.peer = Some(peer);
            let mut out = Vec::new();
            let fwd = Forwarding { target: "/", host: "h", proto: "http", body: BodyFraming::None };
            request_head(&mut out, &req, &fwd);
            let head = String::from_utf8(out).unwrap();
            assert!(head.contains(&format!("\r\nX-Forwarded-For: {}\r\n", peer.ip())), "{head}");
        }
    }
}
