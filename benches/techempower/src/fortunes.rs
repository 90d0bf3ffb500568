//! The fortunes page: the rows plus one added at request time, sorted by message, rendered by
//! a small template that HTML-escapes each field straight into the response buffer.

use std::borrow::Cow;

/// The fortune every request adds before sorting.
pub const ADDED_MESSAGE: &str = "Additional fortune added at request time.";

/// One Fortune row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fortune<'a> {
    /// Its id (0 for the one added at request time).
    pub id: i32,
    /// Its message, unescaped.
    pub message: Cow<'a, str>,
}

/// Adds the request-time fortune, sorts by message (byte order, as the reference does) and
/// renders the page into `out`.
///
/// ```
/// use oc_techempower::fortunes::{Fortune, render_page};
/// let mut out = Vec::new();
/// render_page(vec![Fortune { id: 1, message: "<b>&".into() }], &mut out);
/// let page = String::from_utf8(out).unwrap();
/// assert!(page.contains("<tr><td>1</td><td>&lt;b&gt;&amp;</td></tr>"));
/// // Sorted by message: "<b>&" comes before "Additional ...".
/// assert!(page.find("&lt;b").unwrap() < page.find("Additional").unwrap());
/// ```
pub fn render_page(mut fortunes: Vec<Fortune<'_>>, out: &mut Vec<u8>) {
    fortunes.push(Fortune { id: 0, message: Cow::Borrowed(ADDED_MESSAGE) });
    fortunes.sort_unstable_by(|a, b| a.message.cmp(&b.message));
    render(&fortunes, out);
}

/// The template: a fixed head and tail around one row per fortune.
pub fn render(fortunes: &[Fortune<'_>], out: &mut Vec<u8>) {
    out.reserve(256 + fortunes.iter().map(|f| f.message.len() + 32).sum::<usize>());
    out.extend_from_slice(
        b"<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>",
    );
    let mut digits = [0u8; 11];
    for f in fortunes {
        out.extend_from_slice(b"<tr><td>");
        out.extend_from_slice(format_i32(f.id, &mut digits));
        out.extend_from_slice(b"</td><td>");
        escape_into(&f.message, out);
        out.extend_from_slice(b"</td></tr>");
    }
    out.extend_from_slice(b"</table></body></html>");
}

/// Writes `text` HTML-escaped (`&`, `<`, `>`, `"`, `'`) into `out`, copying runs of plain
/// bytes whole.
pub fn escape_into(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let entity: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&#39;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        out.extend_from_slice(entity);
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
}

/// `n` in decimal, in `buf`.
fn format_i32(n: i32, buf: &mut [u8; 11]) -> &[u8] {
    let mut at = buf.len();
    let negative = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape_into(r#"<script>alert("x & 'y'");</script>"#, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "&lt;script&gt;alert(&quot;x &amp; &#39;y&#39;&quot;);&lt;/script&gt;"
        );
        let mut out = Vec::new();
        escape_into("フレームワーク — plain", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "フレームワーク — plain");
    }

    #[test]
    fn numbers() {
        let mut buf = [0u8; 11];
        assert_eq!(format_i32(0, &mut buf), b"0");
        assert_eq!(format_i32(12, &mut buf), b"12");
        assert_eq!(format_i32(i32::MIN, &mut buf), b"-2147483648");
        assert_eq!(format_i32(i32::MAX, &mut buf), b"2147483647");
    }

    #[test]
    fn sorted_with_the_added_row() {
        let rows = vec![
            Fortune { id: 2, message: "b".into() },
            Fortune { id: 1, message: "B".into() },
            Fortune { id: 3, message: "Additional".into() },
        ];
        let mut out = Vec::new();
        render_page(rows, &mut out);
        let page = String::from_utf8(out).unwrap();
        let order: Vec<usize> = ["<td>3</td>", "<td>0</td>", "<td>1</td>", "<td>2</td>"]
            .iter()
            .map(|cell| page.find(cell).unwrap_or_else(|| panic!("{cell} missing")))
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{page}");
        assert!(page.starts_with("<!DOCTYPE html><html><head><title>Fortunes</title>"));
        assert!(page.ends_with("</table></body></html>"));
    }
}
