//! The grammar of a host and port (RFC 9112 §3.2, RFC 3986 §3.2.2-§3.2.3), as a `Host` value
//! and the authority of an absolute-form target hold them: `uri-host [ ":" port ]`, where the
//! host is an IP literal in brackets or a reg-name (an IPv4 address is one), and the port is
//! digits, perhaps none.

/// The bytes of a reg-name besides percent-encodings: unreserved characters and
/// sub-delimiters (RFC 3986 §2.2-§2.3).
static REG_NAME: [bool; 256] = {
    const OTHERS: &[u8] = b"-._~!$&'()*+,;=";
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < OTHERS.len() {
        t[OTHERS[i] as usize] = true;
        i += 1;
    }
    t
};

/// The length of the host in `value` if `value` is `uri-host [ ":" port ]`; `None` if it is
/// not. The host may be empty (an empty reg-name), as the grammar allows.
#[inline]
pub(crate) fn host_len(value: &[u8]) -> Option<usize> {
    let host = if value.first() == Some(&b'[') {
        let close = value.iter().position(|&b| b == b']')?;
        if !ip_literal(&value[1..close]) {
            return None;
        }
        close + 1
    } else {
        let mut at = 0;
        while let Some(&b) = value.get(at) {
            if REG_NAME[b as usize] {
                at += 1;
            } else if b == b'%' && value.get(at + 1..at + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                at += 3;
            } else {
                break;
            }
        }
        at
    };
    match &value[host..] {
        [] => Some(host),
        [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => Some(host),
        _ => None,
    }
}

/// Whether `inner`, what lies between the brackets of an IP literal, is an IPv6 address or
/// an IPvFuture (`v` 1*HEXDIG `.` 1*( unreserved / sub-delims / `:` )).
fn ip_literal(inner: &[u8]) -> bool {
    match inner {
        [b'v' | b'V', rest @ ..] => {
            let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            match &rest[digits..] {
                [b'.', tail @ ..] => {
                    digits > 0 && !tail.is_empty() && tail.iter().all(|&b| REG_NAME[b as usize] || b == b':')
                }
                _ => false,
            }
        }
        _ => std::str::from_utf8(inner).is_ok_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::host_len;

    #[test]
    fn hosts_and_ports() {
        for (value, host) in [
            ("example.com", 11),
            ("example.com:8080", 11),
            ("example.com:", 11),
            ("", 0),
            (":80", 0),
            ("[::1]:80", 5),
            ("[::1]", 5),
            ("[2001:db8::ff00:42:8329]", 24),
            ("[::ffff:192.0.2.1]:443", 18),
            ("[v1.fe80::a+en1]", 16),
            ("127.0.0.1", 9),
            ("a%41b", 5),
            ("xn--bcher-kva.example", 21),
            ("sub!$&'()*+,;=delims~_", 22),
        ] {
            assert_eq!(host_len(value.as_bytes()), Some(host), "{value}");
        }
        for value in [
            "a:b",
            "a:1:2",
            "a:80x",
            "[::1",
            "a]b[",
            "[::1]x",
            "[::1]:x",
            "[]",
            "[1.2.3.4]",
            "[::1%25eth0]",
            "[v.x]",
            "[v1.]",
            "[vx.y]",
            "a b",
            "exa/mple@x",
            "user@host",
            "x?y",
            "a#b",
            "\"q\"",
            "a%4",
            "a%zz",
            "a%",
        ] {
            assert_eq!(host_len(value.as_bytes()), None, "{value}");
        }
    }
}
