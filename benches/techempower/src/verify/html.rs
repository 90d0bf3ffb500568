//! The fortunes page compared as the toolset does: parsed into tags and text, whitespace
//! between tags ignored, character references decoded, tag names compared case-insensitively
//! (attributes ignored).

use crate::fortunes::ADDED_MESSAGE;
use crate::setup::FORTUNES;

/// One piece of a parsed page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// `<!doctype ...>`, lowercased.
    Doctype(String),
    /// `<name ...>`.
    Start(String),
    /// `</name>`.
    End(String),
    /// Text between tags, references decoded (never only whitespace).
    Text(String),
}

/// Parses `html` into tokens; `Err` says where it stops making sense.
pub fn tokens(html: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut rest = html;
    while !rest.is_empty() {
        if let Some(tag) = rest.strip_prefix('<') {
            let end = tag.find('>').ok_or_else(|| format!("unclosed tag at {:?}", clip(rest)))?;
            let inner = &tag[..end];
            rest = &tag[end + 1..];
            if let Some(doctype) = inner.strip_prefix('!') {
                out.push(Token::Doctype(doctype.trim().to_ascii_lowercase()));
            } else if let Some(name) = inner.strip_prefix('/') {
                out.push(Token::End(name.trim().to_ascii_lowercase()));
            } else {
                let name = inner.split(|c: char| c.is_ascii_whitespace() || c == '/').next().unwrap_or("");
                if name.is_empty() {
                    return Err(format!("empty tag at {:?}", clip(rest)));
                }
                out.push(Token::Start(name.to_ascii_lowercase()));
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..end];
            rest = &rest[end..];
            if !text.trim().is_empty() {
                out.push(Token::Text(decode(text)?));
            }
        }
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Decodes character references (named ones the page may use, decimal and hexadecimal).
pub fn decode(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').filter(|&s| s <= 10).ok_or_else(|| format!("unescaped '&' in {:?}", clip(text)))?;
        let name = &after[..semi];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).ok_or_else(|| format!("unknown character reference &{name};"))?
            }
        };
        out.push(c);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The page the toolset expects: the 12 fortunes and the added one, sorted by message.
pub fn expected_page() -> String {
    let mut rows: Vec<(i32, &str)> = FORTUNES.to_vec();
    rows.push((0, ADDED_MESSAGE));
    rows.sort_by(|a, b| a.1.cmp(b.1));
    let mut page = String::from(
        "<!doctype html><html><head><title>Fortunes</title></head><body><table>\n<tr><th>id</th><th>message</th></tr>\n",
    );
    for (id, message) in rows {
        let mut escaped = Vec::new();
        crate::fortunes::escape_into(message, &mut escaped);
        page.push_str(&format!("<tr><td>{id}</td><td>{}</td></tr>\n", String::from_utf8(escaped).expect("UTF-8")));
    }
    page.push_str("</table></body></html>");
    page
}

/// Compares a page with the expected one; `Err` describes the first difference.
pub fn compare(page: &str) -> Result<(), String> {
    let want = tokens(&expected_page()).expect("the expected page parses");
    let got = tokens(page)?;
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        if w != g {
            return Err(format!("token {i}: expected {w:?}, found {g:?}"));
        }
    }
    if got.len() != want.len() {
        return Err(format!("{} tokens, expected {}", got.len(), want.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_of_spec() {
        let page = expected_page();
        let ids: Vec<i32> =
            page.split("<tr><td>").skip(1).map(|row| row.split('<').next().unwrap().parse().unwrap()).collect();
        assert_eq!(ids, [11, 4, 5, 2, 8, 0, 3, 7, 10, 6, 9, 1, 12]);
    }

    #[test]
    fn equivalent_spellings_pass() {
        let page = expected_page()
            .replace("&quot;", "&#34;")
            .replace("&lt;script", "&#x3c;script")
            .replace("<table>", "<TABLE>\n   ")
            .replace("<!doctype html>", "<!DOCTYPE html>");
        compare(&page).unwrap();
    }

    #[test]
    fn differences_fail() {
        let page = expected_page();
        assert!(compare(&page.replace("&lt;script&gt;", "<script>")).is_err(), "unescaped <");
        assert!(compare(&page.replace("<td>11</td>", "<td>12</td>")).is_err(), "wrong id");
        assert!(compare(&page.replace("Knuth", "Knut")).is_err(), "wrong text");
        assert!(compare(&page.replace("\u{2014}", "-")).is_err(), "lost em dash");
        assert!(compare(&page.replace("</table>", "")).is_err(), "missing tag");
        assert!(page.contains("aren&#x27;t"));
        assert!(compare(&page.replace("aren&#x27;t", "aren't & ")).is_err(), "bare &");
        let swapped = page.replacen("<tr><td>11</td>", "<tr><td>XX</td>", 1);
        assert!(compare(&swapped).is_err());
    }
}
