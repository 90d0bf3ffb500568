//! Where each key and value lies in the configuration's text, by path (`routes[2].root`), so
//! that an error found after parsing (a bad value, a missing file) still points at its line
//! and column.
//!
//! A small scanner of its own: serde's model forgets positions once a value is built. It
//! reads well-formed JSON; on anything else it stops, keeping what it found so far (the
//! parser reports the syntax error itself).

use std::collections::HashMap;

/// Line and column (1-based, columns in characters) of keys and values, by path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Positions {
    values: HashMap<String, (usize, usize)>,
    keys: HashMap<String, (usize, usize)>,
}

impl Positions {
    /// Scans `text`.
    pub(crate) fn scan(text: &str) -> Positions {
        let mut scanner =
            Scanner { chars: text.chars().collect(), at: 0, line: 1, column: 1, found: Positions::default() };
        scanner.skip_space();
        let _ = scanner.value(String::new());
        scanner.found
    }

    /// Where the value at `path` starts (for an object member, its value; the key's position
    /// is `key_of`).
    pub(crate) fn of(&self, path: &str) -> Option<(usize, usize)> {
        self.values.get(path).copied()
    }

    /// Where the key of the member at `path` starts.
    pub(crate) fn key_of(&self, path: &str) -> Option<(usize, usize)> {
        self.keys.get(path).copied()
    }
}

struct Scanner {
    chars: Vec<char>,
    at: usize,
    line: usize,
    column: usize,
    found: Positions,
}

/// The scan stopped at text that is not JSON.
struct Malformed;

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.bump();
        }
    }

    fn expect(&mut self, want: char) -> Result<(), Malformed> {
        if self.bump() == Some(want) { Ok(()) } else { Err(Malformed) }
    }

    /// A value at `path`; whitespace before it already skipped.
    fn value(&mut self, path: String) -> Result<(), Malformed> {
        self.found.values.insert(path.clone(), (self.line, self.column));
        match self.peek().ok_or(Malformed)? {
            '{' => self.object(&path),
            '[' => self.array(&path),
            '"' => self.string().map(drop),
            _ => {
                // A number, `true`, `false` or `null`: up to the next delimiter.
                let mut any = false;
                while let Some(c) = self.peek() {
                    if matches!(c, ',' | '}' | ']' | ' ' | '\t' | '\n' | '\r') {
                        break;
                    }
                    any = true;
                    self.bump();
                }
                if any { Ok(()) } else { Err(Malformed) }
            }
        }
    }

    fn object(&mut self, path: &str) -> Result<(), Malformed> {
        self.expect('{')?;
        self.skip_space();
        if self.peek() == Some('}') {
            self.bump();
            return Ok(());
        }
        loop {
            self.skip_space();
            let key_at = (self.line, self.column);
            let key = self.string()?;
            let member = if path.is_empty() { key } else { format!("{path}.{key}") };
            self.found.keys.insert(member.clone(), key_at);
            self.skip_space();
            self.expect(':')?;
            self.skip_space();
            self.value(member)?;
            self.skip_space();
            match self.bump() {
                Some(',') => continue,
                Some('}') => return Ok(()),
                _ => return Err(Malformed),
            }
        }
    }

    fn array(&mut self, path: &str) -> Result<(), Malformed> {
        self.expect('[')?;
        self.skip_space();
        if self.peek() == Some(']') {
            self.bump();
            return Ok(());
        }
        let mut index = 0;
        loop {
            self.skip_space();
            self.value(format!("{path}[{index}]"))?;
            index += 1;
            self.skip_space();
            match self.bump() {
                Some(',') => continue,
                Some(']') => return Ok(()),
                _ => return Err(Malformed),
            }
        }
    }

    /// A string; returns its contents (escapes other than `\"` and `\\` kept as written: keys
    /// are plain names).
    fn string(&mut self) -> Result<String, Malformed> {
        self.expect('"')?;
        let mut out = String::new();
        loop {
            match self.bump().ok_or(Malformed)? {
                '"' => return Ok(out),
                '\\' => {
                    let c = self.bump().ok_or(Malformed)?;
                    match c {
                        '"' | '\\' | '/' => out.push(c),
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_by_path() {
        let text = "{\n  \"a\": [1, {\"b\": \"x\"}],\n  \"c\": {\"d\": null}\n}";
        let p = Positions::scan(text);
        assert_eq!(p.of("a"), Some((2, 8)));
        assert_eq!(p.of("a[0]"), Some((2, 9)));
        assert_eq!(p.of("a[1]"), Some((2, 12)));
        assert_eq!(p.key_of("a[1].b"), Some((2, 13)));
        assert_eq!(p.of("a[1].b"), Some((2, 18)));
        assert_eq!(p.of("c.d"), Some((3, 14)));
        assert_eq!(p.of(""), Some((1, 1)));
    }

    #[test]
    fn malformed_text_keeps_what_came_before() {
        let p = Positions::scan("{\"a\": 1, \"b\": [,]}");
        assert_eq!(p.of("a"), Some((1, 7)));
        assert_eq!(p.of("b"), Some((1, 15)));
        assert_eq!(p.of("b[0]"), Some((1, 16)));
    }
}
