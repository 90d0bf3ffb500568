//! Differential target: the same bytes go to oc's head parser (`http/src/head.rs`) and to
//! httparse, which must agree on accept / need-more / refuse and, for a complete head, on the
//! method, target, version, every field (name and trimmed value) and where the head ends.
//!
//! Where RFC 9112 lets a recipient choose and oc chooses to refuse, the input is normalised
//! so that the difference disappears, and then both must agree exactly on the normalised
//! bytes (so a refusal for one of these reasons cannot hide a disagreement of another kind):
//!
//! 1. a bare LF (not after CR) ends a line for httparse (RFC 9112 §2.2 allows it) and is
//!    refused by oc: every bare LF becomes CR LF;
//! 2. httparse knows only HTTP/1.0 and HTTP/1.1; oc takes any HTTP/1.x as HTTP/1.1
//!    (RFC 9112 §2.3): every `HTTP/1.d` with d in 2..=9 becomes `HTTP/1.1`;
//! 3. httparse takes UTF-8 in a request target; oc takes ASCII only (RFC 3986 has no
//!    non-ASCII byte): bytes of 0x80 and above on the request line become `x`.
//!
//! On the original bytes, a disagreement is accepted only when one of these rewrites changed
//! them and it goes the way the rule says (oc refuses, for any reason: with a version 1.6 it
//! reads on and may find too many fields where httparse stopped at the version; or httparse
//! refuses an HTTP/1.x version oc takes). One difference in timing is accepted as well: on a request line cut
//! inside the version, httparse refuses a version that cannot be 1.x as soon as it sees its
//! first digit, while oc waits for the whole version; oc must then refuse once the line ends.
//!
//! What both refuse alike needs no rule: whitespace between a field name and its colon,
//! obsolete line folding, a CR not followed by LF, control characters.
#![no_main]

use oc_http::{HeadProbe, HeadRefusal};

/// The field limit given to both parsers.
const MAX_FIELDS: usize = 64;

type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// What a parser made of the bytes.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Method, target, minor version, fields, end of the head.
    Complete(Vec<u8>, Vec<u8>, u8, Fields, usize),
    Partial,
    TooManyFields,
    /// Refused for another reason; `true` when httparse named the version.
    Refused {
        version: bool,
    },
}

impl Outcome {
    /// The same outcome, up to the reason for a refusal other than too many fields (the
    /// parsers name reasons differently: httparse's `Version` covers `FTP/1.1`).
    fn agrees(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Refused { .. }, Outcome::Refused { .. }) => true,
            _ => self == other,
        }
    }
}

fn ours(data: &[u8]) -> Outcome {
    let mut probe = HeadProbe::default();
    match probe.parse(data, MAX_FIELDS) {
        Ok(true) => Outcome::Complete(
            data[probe.method()].to_vec(),
            data[probe.target()].to_vec(),
            probe.minor(),
            probe.fields().map(|(n, v)| (data[n].to_vec(), data[v].to_vec())).collect(),
            probe.end(),
        ),
        Ok(false) => Outcome::Partial,
        Err(HeadRefusal::TooManyFields) => Outcome::TooManyFields,
        Err(HeadRefusal::Bad | HeadRefusal::Version) => Outcome::Refused { version: false },
    }
}

fn theirs(data: &[u8]) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(data) {
        Ok(httparse::Status::Complete(end)) => Outcome::Complete(
            req.method.expect("a complete head has a method").as_bytes().to_vec(),
            req.path.expect("a complete head has a target").as_bytes().to_vec(),
            req.version.expect("a complete head has a version"),
            req.headers.iter().map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec())).collect(),
            end,
        ),
        Ok(httparse::Status::Partial) => Outcome::Partial,
        Err(httparse::Error::TooManyHeaders) => Outcome::TooManyFields,
        Err(e) => Outcome::Refused { version: e == httparse::Error::Version },
    }
}

/// The bytes with the three deliberate differences rewritten away (see the file's doc).
fn normalise(data: &[u8]) -> Vec<u8> {
    // 1. Bare LF to CR LF.
    let mut out = Vec::with_capacity(data.len() + 8);
    for (at, &b) in data.iter().enumerate() {
        if b == b'\n' && (at == 0 || data[at - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    // 2. HTTP/1.d (d >= 2) to HTTP/1.1.
    let mut at = 0;
    while at + 8 <= out.len() {
        if &out[at..at + 7] == b"HTTP/1." && matches!(out[at + 7], b'2'..=b'9') {
            out[at + 7] = b'1';
        }
        at += 1;
    }
    // 3. Non-ASCII bytes on the request line (after any empty lines) to `x`.
    let mut at = 0;
    while out.get(at) == Some(&b'\r') && out.get(at + 1) == Some(&b'\n') {
        at += 2;
    }
    while let Some(b) = out.get_mut(at) {
        match *b {
            b'\r' | b'\n' => break,
            0x80.. => *b = b'x',
            _ => {}
        }
        at += 1;
    }
    out
}

/// oc waits for a version httparse has already refused: the request line was cut inside it.
fn refuses_once_complete(data: &[u8]) -> bool {
    let mut whole = data.to_vec();
    whole.extend_from_slice(b"\r\n\r\n");
    matches!(ours(&whole), Outcome::Refused { .. })
}

fn check(data: &[u8]) {
    let (a, b) = (ours(data), theirs(data));
    if a.agrees(&b) {
        return;
    }
    let normal = normalise(data);
    let changed = normal != data;
    let explained = match (&a, &b) {
        (Outcome::Refused { .. } | Outcome::TooManyFields, _) => changed,
        (Outcome::Complete(_, _, minor, ..), Outcome::Refused { version: true }) => changed && *minor > 1,
        (Outcome::Partial, Outcome::Refused { version: true }) => changed || refuses_once_complete(data),
        _ => false,
    };
    assert!(explained, "{:?}\noc: {a:?}\nhttparse: {b:?}", String::from_utf8_lossy(data));
    if changed {
        let (a, b) = (ours(&normal), theirs(&normal));
        assert!(
            a.agrees(&b)
                || (matches!((&a, &b), (Outcome::Partial, Outcome::Refused { version: true }))
                    && refuses_once_complete(&normal)),
            "{:?}\nnormalised: {:?}\noc: {a:?}\nhttparse: {b:?}",
            String::from_utf8_lossy(data),
            String::from_utf8_lossy(&normal)
        );
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));
