//! The thread-local rule of `runtime/src/tls.rs`: every function that touches a thread-local
//! of oc-runtime or oc-http is defined with `tls_accessor!` (never inlined, so a coroutine
//! that resumes on another thread looks the thread-local up again there), except the few
//! named below with the reason they may be inlined; and the macro marks its functions
//! `#[inline(never)]`. A debug build inlines nothing, so what runs cannot show a broken
//! rule: the sources are read instead.

use std::path::{Path, PathBuf};

/// Functions that touch thread-locals and may be inlined: (file, function, why).
const MAY_INLINE: &[(&str, &str, &str)] = &[
    ("runtime/src/hooks/mod.rs", "active_at_entry", "the first line of a hook, before anything can suspend"),
    ("runtime/src/hooks/mod.rs", "after_fork_in_child", "the fork child handler: it suspends nothing"),
    ("runtime/src/hooks/mod.rs", "count_entry", "unit tests' count of hook entries"),
    ("runtime/src/hooks/mod.rs", "entries", "unit tests' count of hook entries"),
    ("runtime/src/scheduler/context.rs", "signal_worker", "the signal handler's: it never suspends"),
    ("runtime/src/scheduler/context.rs", "signal_detached_worker", "the signal handler's: it never suspends"),
    ("runtime/src/scheduler/context.rs", "signal_thread_worker", "the signal handler's: it never suspends"),
    ("runtime/src/scheduler/context.rs", "signal_token", "the signal handler's: it never suspends"),
    ("runtime/src/scheduler/context.rs", "signal_task", "the signal handler's: it never suspends"),
    ("runtime/src/stack/grow.rs", "current_limit", "reached on plain threads only (no current task)"),
    ("runtime/src/stack/grow.rs", "drop", "restores a plain thread's limit (no current task)"),
    ("runtime/src/stack/grow.rs", "grow", "sets a plain thread's limit (no current task)"),
    ("runtime/src/stack/overflow.rs", "set_current_guard", "plain threads' maybe_grow segments only"),
    ("runtime/src/stack/overflow.rs", "on_fault", "the fault handler: it never suspends"),
    ("runtime/src/sys/linux.rs", "ensure_signal_stack", "a carrier thread's start, outside coroutines"),
];

/// Methods of `LocalKey` that reach the value.
const ACCESS: &[&str] = &["get(", "set(", "with(", "try_with(", "replace(", "take(", "with_borrow", "with_borrow_mut("];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The keys declared in the file's `thread_local!` blocks (the `__` keys of macro templates,
/// which expand in user code, excepted).
fn keys(text: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for (at, _) in text.match_indices("thread_local!") {
        let rest = &text[at..];
        let Some(open) = rest.find(['{', '(']) else { continue };
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' | '(' => depth += 1,
                '}' | ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let block = &rest[open..end];
        for (s, _) in block.match_indices("static ") {
            let name: String = block[s + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && !name.starts_with("__") {
                keys.push(name);
            }
        }
    }
    keys
}

/// The name of the function declared on `line`, if it declares one.
fn declared_fn(line: &str) -> Option<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "fn")?;
    if words[..at].iter().any(|w| !matches!(*w, "pub" | "pub(crate)" | "pub(super)" | "unsafe" | "extern" | "\"C\"")) {
        return None;
    }
    let name: String = words.get(at + 1)?.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    Some(name)
}

/// Whether the block opened on the first line is still open on the last.
fn encloses(lines: &[&str]) -> bool {
    let mut depth = 0i32;
    let mut opened = false;
    for line in &lines[..lines.len() - 1] {
        for c in line.split("//").next().unwrap_or("").chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        if opened && depth <= 0 {
            return false;
        }
    }
    true
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Every (file, function, defined with the macro) that touches a thread-local of its file.
fn accessors(root: &Path) -> Vec<(String, String, bool)> {
    let mut files = Vec::new();
    for dir in ["runtime/src", "http/src"] {
        sources(&root.join(dir), &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        let keys = keys(&text);
        let lines: Vec<&str> = text.lines().collect();
        let rel = file.strip_prefix(root).expect("in the workspace").to_string_lossy().into_owned();
        for (n, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            let touches = keys.iter().any(|k| ACCESS.iter().any(|m| code.contains(&format!("{k}.{m}"))));
            if !touches {
                continue;
            }
            // The innermost function around the line.
            let Some((at, name)) = (0..n)
                .rev()
                .filter(|&i| indent(lines[i]) < indent(line) && encloses(&lines[i..=n]))
                .find_map(|i| declared_fn(lines[i]).map(|name| (i, name)))
            else {
                panic!("{rel}:{}: a thread-local touched outside any function", n + 1);
            };
            // Defined with the macro: only doc comments and attributes between its opening
            // and the function.
            let mut i = at;
            while i > 0 && (lines[i - 1].trim_start().starts_with("///") || lines[i - 1].trim_start().starts_with("#["))
            {
                i -= 1;
            }
            let with_macro = i > 0 && lines[i - 1].trim_end().ends_with("tls_accessor! {");
            if !found.iter().any(|(f, m, _)| *f == rel && *m == name) {
                found.push((rel.clone(), name, with_macro));
            }
        }
    }
    found
}

#[test]
fn thread_locals_are_touched_only_by_accessors_that_are_never_inlined() {
    let root = workspace();
    let found = accessors(&root);
    let mut broken = Vec::new();
    for (file, name, with_macro) in &found {
        if !with_macro && !MAY_INLINE.iter().any(|(f, n, _)| f == file && n == name) {
            broken.push(format!("{file}: fn {name}"));
        }
    }
    assert!(
        broken.is_empty(),
        "these functions touch thread-locals but are not defined with tls_accessor! (see runtime/src/tls.rs): {broken:#?}"
    );
    // The exceptions name functions that exist and touch thread-locals (a stale entry would
    // let a new function of that name through unseen).
    for (file, name, why) in MAY_INLINE {
        assert!(
            found.iter().any(|(f, n, m)| f == file && n == name && !m),
            "{file}: fn {name} ({why}) is listed as an exception but touches no thread-local outside the macro"
        );
    }
    // The scan sees the accessors: the runtime's worker, task and hook flags, oc-http's
    // buffer pools.
    let with_macro = found.iter().filter(|(_, _, m)| *m).count();
    assert!(with_macro >= 20, "only {with_macro} accessors found: {found:#?}");
}

#[test]
fn the_macro_marks_its_functions_never_inlined() {
    let text = std::fs::read_to_string(workspace().join("runtime/src/tls.rs")).expect("tls.rs");
    let start = text.find("macro_rules! tls_accessor").expect("the macro");
    let body = &text[start..];
    let body = &body[..body.find("\n}").expect("the macro's end")];
    let arms = body.matches("=>").count();
    assert!(arms >= 1);
    assert_eq!(body.matches("#[inline(never)]").count(), arms, "every arm of tls_accessor! must emit #[inline(never)]");
}
