//! Static sites: oc-http's `StaticFiles` (validators, conditional requests, ranges, index
//! files, no escape from the root, no dotfiles) mounted at the route's prefix, with content
//! types by extension from the configuration and an optional directory listing (off by
//! default).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use oc_http::{Handler, Request, RequestBody, Response, StaticFiles};

use super::{Reply, Serve};
use crate::config::RouteConfig;

/// Request fields `StaticFiles` reads, copied when the route's prefix is cut off the path.
const CONDITIONAL: [&str; 6] =
    ["range", "if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"];

/// A static route.
pub(crate) struct StaticSite {
    files: StaticFiles,
    /// The root, resolved.
    root: PathBuf,
    index: String,
    listing: bool,
    dotfiles: bool,
    content_types: HashMap<String, String>,
}

impl StaticSite {
    pub(crate) fn new(r: &RouteConfig) -> StaticSite {
        let root = r.root.clone().unwrap_or_default();
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let index = r.index.clone().unwrap_or_else(|| "index.html".to_owned());
        let dotfiles = r.dotfiles.unwrap_or(false);
        StaticSite {
            files: StaticFiles::new(&root).index(index.clone()).dotfiles(dotfiles),
            root,
            index,
            listing: r.listing.unwrap_or(false),
            dotfiles,
            content_types: r
                .content_types
                .iter()
                .flatten()
                .map(|(ext, ty)| (ext.to_ascii_lowercase(), ty.clone()))
                .collect(),
        }
    }

    /// The configured content type for what `rest` names (a directory: its index file).
    fn content_type(&self, rest: &str) -> Option<&str> {
        if self.content_types.is_empty() {
            return None;
        }
        let last = rest.rsplit('/').next().unwrap_or("");
        let name = if last.is_empty() { self.index.as_str() } else { last };
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        self.content_types.get(&ext).map(String::as_str)
    }

    /// The directory under the root that `rest` names, if listing is on and it exists.
    fn listable_dir(&self, rest: &str) -> Option<PathBuf> {
        let wanted = percent_decode(rest)?;
        let mut path = self.root.clone();
        for c in Path::new(&wanted).components() {
            match c {
                Component::Normal(part) if !self.dotfiles && part.as_encoded_bytes().first() == Some(&b'.') => {
                    return None;
                }
                Component::Normal(part) => path.push(part),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => return None,
            }
        }
        let real = std::fs::canonicalize(&path).ok()?;
        (real.starts_with(&self.root) && real.is_dir()).then_some(real)
    }

    /// An HTML listing of `dir`, whose URL path is `shown`.
    fn listing_page(&self, dir: &Path, shown: &str) -> Option<String> {
        let mut names: Vec<(String, bool)> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                if !self.dotfiles && name.starts_with('.') {
                    return None;
                }
                Some((name, e.file_type().ok()?.is_dir()))
            })
            .collect();
        names.sort();
        let title = html_escape(shown);
        let mut page = format!("<!doctype html>\n<title>Index of {title}</title>\n<h1>Index of {title}</h1>\n<ul>\n");
        for (name, is_dir) in names {
            let slash = if is_dir { "/" } else { "" };
            let _ = writeln!(page, "<li><a href=\"{0}{slash}\">{0}{slash}</a></li>", html_escape(&name));
        }
        page.push_str("</ul>\n");
        Some(page)
    }
}

/// The body length of a response `StaticFiles` made: from its validators (the `ETag` starts
/// with the file's length in hex, `Content-Range` gives a part's bounds) or, for an error, its
/// plain-text body.
fn static_body_bytes(resp: &Response) -> u64 {
    match resp.status_code() {
        200 => resp
            .header_value("ETag")
            .and_then(|tag| tag.trim_matches('"').split('-').next().and_then(|len| u64::from_str_radix(len, 16).ok()))
            .unwrap_or(0),
        206 => resp
            .header_value("Content-Range")
            .and_then(|r| {
                r.strip_prefix("bytes ")?.split('/').next()?.split_once('-').map(|(a, b)| (a.parse(), b.parse()))
            })
            .and_then(|(a, b): (Result<u64, _>, Result<u64, _>)| Some(b.ok()? + 1 - a.ok()?))
            .unwrap_or(0),
        304 => 0,
        400 => "400 Bad Request\n".len() as u64,
        404 => "404 Not Found\n".len() as u64,
        412 => "412 Precondition Failed\n".len() as u64,
        416 => "416 Range Not Satisfiable\n".len() as u64,
        500 => "500 Internal Server Error\n".len() as u64,
        _ => 0,
    }
}

impl Serve for StaticSite {
    fn serve(&self, req: &Request, rest: &str, _body: &mut RequestBody<'_>) -> Reply {
        // Mounted at `/`: the request itself (its path is the file's). Elsewhere: a request for
        // the rest of the path, with the fields that make it conditional or partial.
        let mut response = if req.path() == rest {
            self.files.call(req)
        } else {
            let target = if rest.is_empty() { "/" } else { rest };
            let mut sub = Request::new(req.method(), target);
            for name in CONDITIONAL {
                if let Some(value) = req.header(name) {
                    sub = sub.with_header(name, value);
                }
            }
            self.files.call(&sub)
        };
        let status = response.status_code();
        if status == 404
            && self.listing
            && let Some(dir) = self.listable_dir(rest)
            && !dir.join(&self.index).is_file()
            && let Some(page) = self.listing_page(&dir, req.path())
        {
            let body_bytes = page.len() as u64;
            return Reply { response: Response::html(page), body_bytes };
        }
        if matches!(status, 200 | 206 | 304)
            && let Some(ty) = self.content_type(rest)
        {
            response = response.header("Content-Type", ty.to_owned());
        }
        let body_bytes = static_body_bytes(&response);
        Reply { response, body_bytes }
    }
}

/// `%XX` decoded (`None` if the result is not UTF-8 or holds a NUL).
fn percent_decode(s: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(s).decode_utf8().ok()?;
    (!decoded.contains('\0')).then(|| decoded.into_owned())
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("/a%20b").as_deref(), Some("/a b"));
        assert_eq!(percent_decode("/%2e%2e/x").as_deref(), Some("/../x"));
        assert_eq!(percent_decode("/a%00"), None);
        assert_eq!(percent_decode("/50%").as_deref(), Some("/50%"));
    }

    #[test]
    fn body_lengths_from_validators() {
        let r = Response::new(200).header("ETag", "\"400-17a\"");
        assert_eq!(static_body_bytes(&r), 1024);
        let r = Response::new(206).header("Content-Range", "bytes 10-19/1024");
        assert_eq!(static_body_bytes(&r), 10);
        assert_eq!(static_body_bytes(&Response::error(404)), 14);
    }
}
