//! A configuration error a user can act on: `FILE:LINE:COLUMN: key.path: what is wrong`.

use std::fmt;
use std::path::Path;

use super::Positions;

/// What is wrong with the configuration, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    file: String,
    /// 1-based; 0 when the error has no position (the file cannot be read).
    line: usize,
    column: usize,
    /// The key's path (`routes[1].root`); empty for the file as a whole.
    path: String,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(file: &Path, line: usize, column: usize, path: &str, message: impl Into<String>) -> ConfigError {
        ConfigError { file: file.display().to_string(), line, column, path: path.to_owned(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file)?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, " {}:", self.path)?;
        }
        write!(f, " {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The path as `Positions` spells it: `a.b[0].c` (serde_path_to_error writes the root as `.`).
fn path_string(path: &serde_path_to_error::Path) -> String {
    // A key still being read shows as `?`: the path is then its object's.
    let s = path.to_string();
    let s = s.trim_end_matches(".?");
    if s == "." || s == "?" { String::new() } else { s.to_owned() }
}

/// Turns a parse error into a `ConfigError` at the offending key or value.
pub(crate) fn from_serde(
    file: &Path,
    positions: &Positions,
    e: serde_path_to_error::Error<serde_json::Error>,
) -> ConfigError {
    let mut path = path_string(e.path());
    let inner = e.inner();
    // serde_json's message ends with " at line L column C": the position is reported apart.
    let full = inner.to_string();
    let message = match full.rfind(" at line ") {
        Some(at) => full[..at].to_owned(),
        None => full,
    };
    let (mut line, mut column) = (inner.line(), inner.column());
    match inner.classify() {
        serde_json::error::Category::Data => {
            // An unknown key: the path is the object that holds it; point at the key itself.
            if let Some(key) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next()) {
                // (serde_path_to_error already names the key; older versions named its parent.)
                if !(path == key || path.ends_with(&format!(".{key}"))) {
                    path = if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
                }
                if let Some(at) = positions.key_of(&path) {
                    (line, column) = at;
                }
            } else if let Some(at) = positions.of(&path) {
                // A wrong type or value: point at where the value starts, not where it ends.
                (line, column) = at;
            }
        }
        // Broken JSON, or the file ended early: serde_json's own position.
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof | serde_json::error::Category::Io => {}
    }
    ConfigError::new(file, line, column, &path, message)
}
