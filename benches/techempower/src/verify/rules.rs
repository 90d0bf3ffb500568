//! The rules every response and each test's body must meet (SPEC.md: headers, content
//! types, JSON shapes, query clamping).

use serde_json::Value;

use super::client::Reply;
use crate::world::WORLD_ROWS;

/// The kind of body a test answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `application/json`.
    Json,
    /// `text/plain`.
    Plain,
    /// `text/html; charset=utf-8`.
    Html,
}

/// Whether `value` matches `^<mime>(; ?charset=(UTF|utf)-8)?$` (the charset mandatory when
/// `charset_required`).
pub fn content_type_matches(value: &str, mime: &str, charset_required: bool) -> bool {
    let Some(rest) = value.strip_prefix(mime) else { return false };
    if rest.is_empty() {
        return !charset_required;
    }
    let Some(rest) = rest.strip_prefix(';') else { return false };
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    matches!(rest, "charset=UTF-8" | "charset=utf-8")
}

/// Whether `date` has the HTTP-date form `%a, %d %b %Y %H:%M:%S GMT`.
pub fn is_http_date(date: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| date.get(r).and_then(|s| s.parse::<u32>().ok()).unwrap_or(99);
    b.len() == 29
        && DAYS.contains(&&date[..3])
        && &date[3..5] == ", "
        && digits(5..7)
        && (1..=31).contains(&num(5..7))
        && b[7] == b' '
        && date.get(8..11).is_some_and(|m| MONTHS.contains(&m))
        && b[11] == b' '
        && digits(12..16)
        && b[16] == b' '
        && digits(17..19)
        && num(17..19) < 24
        && b[19] == b':'
        && digits(20..22)
        && num(20..22) < 60
        && b[22] == b':'
        && digits(23..25)
        && num(23..25) < 61
        && &date[25..] == " GMT"
}

/// The problems of a reply's status and headers for a body of `kind`.
pub fn check_head(reply: &Reply, kind: Kind) -> Vec<String> {
    let mut problems = Vec::new();
    if reply.status != 200 {
        problems.push(format!("status {} (expected 200): {}", reply.status, clip(&reply.text())));
    }
    for name in ["Server", "Date", "Content-Type"] {
        if reply.header(name).is_none() {
            problems.push(format!("required header missing: {name}"));
        }
    }
    if reply.header("Content-Length").is_none() && reply.header("Transfer-Encoding").is_none() {
        problems.push("neither Content-Length nor Transfer-Encoding".into());
    }
    if let Some(encoding) = reply.header("Content-Encoding").filter(|e| !e.eq_ignore_ascii_case("identity")) {
        problems.push(format!("Content-Encoding {encoding} (no compression allowed)"));
    }
    if let Some(date) = reply.header("Date").filter(|d| !is_http_date(d)) {
        problems.push(format!("Date {date:?} is not of the form 'Sat, 05 Dec 2026 00:20:00 GMT'"));
    }
    if let Some(ct) = reply.header("Content-Type") {
        let ok = match kind {
            Kind::Json => content_type_matches(ct, "application/json", false),
            Kind::Plain => content_type_matches(ct, "text/plain", false),
            Kind::Html => content_type_matches(ct, "text/html", true),
        };
        if !ok {
            let want = match kind {
                Kind::Json => "^application/json(; ?charset=(UTF|utf)-8)?$",
                Kind::Plain => "^text/plain(; ?charset=(UTF|utf)-8)?$",
                Kind::Html => "^text/html; ?charset=(UTF|utf)-8$",
            };
            problems.push(format!("Content-Type {ct:?} does not match {want}"));
        }
    }
    problems
}

/// The problems of a `{"message":"Hello, World!"}` body.
pub fn check_hello(body: &[u8]) -> Vec<String> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return vec![format!("invalid JSON ({e}): {}", clip(&String::from_utf8_lossy(body)))],
    };
    let Some(object) = value.as_object() else { return vec![format!("not a JSON object: {value}")] };
    let mut problems = Vec::new();
    match object.get("message") {
        Some(Value::String(m)) if m == "Hello, World!" => {}
        Some(m) => problems.push(format!("message is {m}, expected \"Hello, World!\"")),
        None => problems.push("no key 'message'".into()),
    }
    if object.len() > 1 {
        problems.push(format!("extra keys in {value}"));
    }
    problems
}

/// The problems of one World object `{"id":N,"randomNumber":M}` (both `1..=10000`).
pub fn check_world(value: &Value) -> Vec<String> {
    let Some(object) = value.as_object() else {
        return vec![format!("expected a JSON object, found {}", clip(&value.to_string()))];
    };
    let mut problems = Vec::new();
    for key in ["id", "randomNumber"] {
        match object.get(key).and_then(Value::as_i64) {
            Some(n) if (1..=i64::from(WORLD_ROWS)).contains(&n) => {}
            Some(n) => problems.push(format!("{key} {n} is outside 1..=10000")),
            None => problems.push(format!("key {key:?} missing or not an integer in {value}")),
        }
    }
    if object.len() > 2 {
        problems.push(format!("extra keys in {value}"));
    }
    problems
}

/// The problems of a JSON array of `expected` World objects (at most five bad objects are
/// described).
pub fn check_world_list(body: &[u8], expected: usize) -> Vec<String> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return vec![format!("invalid JSON ({e}): {}", clip(&String::from_utf8_lossy(body)))],
    };
    let Some(items) = value.as_array() else {
        let mut problems = vec!["top-level JSON is not an array".to_owned()];
        problems.extend(check_world(&value));
        return problems;
    };
    let mut problems = Vec::new();
    if items.len() != expected {
        problems.push(format!("{} items, expected {expected}", items.len()));
    }
    problems.extend(items.iter().flat_map(check_world).take(5));
    problems
}

/// The first 120 characters of `s`.
pub fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(120).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The `(id, randomNumber)` pairs of a World list body.
pub fn world_pairs(body: &[u8]) -> Vec<(i64, i64)> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    value
        .as_array()
        .map(|items| {
            items.iter().filter_map(|w| Some((w.get("id")?.as_i64()?, w.get("randomNumber")?.as_i64()?))).collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(content_type_matches("application/json", "application/json", false));
        assert!(content_type_matches("application/json; charset=UTF-8", "application/json", false));
        assert!(content_type_matches("application/json;charset=utf-8", "application/json", false));
        assert!(!content_type_matches("application/json; charset=latin1", "application/json", false));
        assert!(!content_type_matches("application/jsonx", "application/json", false));
        assert!(!content_type_matches("text/html", "text/html", true));
        assert!(content_type_matches("text/html; charset=utf-8", "text/html", true));
        assert!(!content_type_matches("text/html;  charset=utf-8", "text/html", true));
    }

    #[test]
    fn dates() {
        assert!(is_http_date("Sat, 05 Dec 2026 00:20:00 GMT"));
        assert!(!is_http_date("Sat, 5 Dec 2026 00:20:00 GMT"));
        assert!(!is_http_date("Sat, 05 Dec 2026 00:20:00 UTC"));
        assert!(!is_http_date("Xyz, 05 Dec 2026 00:20:00 GMT"));
        assert!(!is_http_date("Sat, 05 Dex 2026 00:20:00 GMT"));
        assert!(!is_http_date("Sat, 05 Dec 2026 25:20:00 GMT"));
        assert!(!is_http_date("Sat, 05 Dec 2026 00:20:00 GMTé"));
    }

    #[test]
    fn bodies() {
        assert!(check_hello(br#"{"message":"Hello, World!"}"#).is_empty());
        assert!(!check_hello(br#"{"message":"Hello World"}"#).is_empty());
        assert!(!check_hello(br#"{"message":"Hello, World!","x":1}"#).is_empty());
        assert!(!check_hello(b"Hello, World!").is_empty());
        assert!(check_world_list(br#"[{"id":1,"randomNumber":10000}]"#, 1).is_empty());
        assert!(!check_world_list(br#"{"id":1,"randomNumber":2}"#, 1).is_empty(), "object, not array");
        assert!(!check_world_list(br#"[{"id":1,"randomNumber":2}]"#, 2).is_empty(), "length");
        assert!(!check_world_list(br#"[{"id":0,"randomNumber":2}]"#, 1).is_empty(), "range");
        assert!(!check_world_list(br#"[{"id":"1","randomNumber":2}]"#, 1).is_empty(), "string id");
        assert!(!check_world_list(br#"[{"id":1,"randomnumber":2}]"#, 1).is_empty(), "key spelling");
    }
}
