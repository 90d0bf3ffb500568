//! Bad configurations: each class of mistake gives one line, `FILE:LINE:COLUMN: key: what`,
//! and exit code 2, before anything is served. And the command line's other modes.

mod support;

use std::process::Command;

use support::{TempDir, binary};

/// Runs the binary on a configuration file holding `text`; returns (exit code, stderr).
fn run_on(dir: &TempDir, text: &str, extra: &[&str]) -> (i32, String, std::path::PathBuf) {
    let path = dir.write("bad.json", text);
    let out = Command::new(binary()).arg("--config").arg(&path).args(extra).env_remove("RUST_LOG").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned(), path)
}

/// `LINE:COLUMN` (1-based) of the first `needle` in `text`.
fn position_of(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the text"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    format!("{line}:{column}")
}

/// Checks a failure: exit 2 and a first stderr line `FILE:LINE:COLUMN: ` + `want`, where
/// LINE:COLUMN is where `at` (the offending key or value) starts in `text`.
fn assert_fails(text: &str, at: &str, want: &str) {
    assert_fails_at(text, &position_of(text, at), want);
}

/// Checks a failure at `LINE:COLUMN` `position`.
fn assert_fails_at(text: &str, position: &str, want: &str) {
    let dir = TempDir::new("config");
    let (code, stderr, path) = run_on(&dir, text, &["--check"]);
    assert_eq!(code, 2, "{stderr}");
    let first = stderr.lines().next().unwrap_or("");
    let expected = format!("{}:{position}: {want}", path.display());
    assert!(first.starts_with(&expected), "got:  {first}\nwant: {expected}");
}

#[test]
fn unknown_keys_wrong_types_bad_values_and_broken_json() {
    // An unknown key, at the key.
    assert_fails(
        "{\n  \"listeners\": [{\"address\": \"127.0.0.1:0\"}],\n  \"routes\": [],\n  \"logging\": {\"levle\": \"info\"}\n}",
        "\"levle\"",
        "logging.levle: unknown field `levle`",
    );
    // A wrong type, at the value.
    assert_fails(
        "{\"listeners\": [{\"address\": \"127.0.0.1:0\"}],\n\"routes\": [\n  {\"kind\": \"fixed\", \"status\": \"200\"}\n]}",
        "\"200\"",
        "routes[0].status: invalid type: string \"200\", expected u16",
    );
    // An unknown route kind.
    assert_fails(
        "{\"listeners\": [{\"address\": \"127.0.0.1:0\"}],\n\"routes\": [{\"kind\": \"ftp\"}]}",
        "\"ftp\"",
        "routes[0].kind: unknown variant `ftp`",
    );
    // Bad values.
    assert_fails(
        "{\"listeners\": [{\"address\": \"localhost\"}], \"routes\": []}",
        "\"localhost\"",
        "listeners[0].address: \"localhost\" is not IP:PORT",
    );
    assert_fails(
        "{\"listeners\": [{\"address\": \"127.0.0.1:0\"}],\n\"routes\": [{\"kind\": \"redirect\", \"to\": \"/x\", \"status\": 200}]}",
        "200}",
        "routes[0].status: 200 is not a redirect status",
    );
    assert_fails(
        "{\"listeners\": [{\"address\": \"127.0.0.1:0\"}],\n\"routes\": [{\"kind\": \"fixed\", \"root\": \"/tmp\"}]}",
        "\"root\"",
        "routes[0].root: a fixed route does not take `root`",
    );
    assert_fails(
        "{\"listeners\": [{\"address\": \"127.0.0.1:0\"}], \"logging\": {\"level\": \"info,=[\"},\n\"routes\": []}",
        "\"info,=[\"",
        "logging.level: \"info,=[\" is not a log filter",
    );
    assert_fails(
        "{\"listeners\": [{\"address\": \"127.0.0.1:0\"}],\n\"routes\": [{\"kind\": \"proxy\", \"upstreams\": []}]}",
        "[]}",
        "routes[0].upstreams: at least one upstream is needed",
    );
    // A missing key, at the object that lacks it.
    assert_fails("{\"listeners\": [{\"address\": \"127.0.0.1:0\"}]}", "{\"listeners\"", "missing field `routes`");
    // Broken JSON: serde_json's position.
    assert_fails(
        "{\"listeners\": [{\"address\": \"127.0.0.1:0\",}], \"routes\": []}",
        "}]",
        "listeners[0]: trailing comma",
    );
    // The file ends early: the position is its last character.
    assert_fails_at("{\"listeners\": [], \"routes\": [] ", "1:31", "EOF while parsing an object");
}

/// An `OC_IO_BACKEND` the runtime does not know, with the configuration's `auto` deferring to
/// it: exit 2 with one line that names the variable, before anything is served.
#[test]
fn a_bad_oc_io_backend_is_refused_with_its_name() {
    let dir = TempDir::new("backend-env");
    let path = dir.write("oc-server.json", "{\"listeners\": [{\"address\": \"127.0.0.1:0\"}], \"routes\": []}");
    let out = Command::new(binary())
        .arg("--config")
        .arg(&path)
        .env_remove("RUST_LOG")
        .env("OC_IO_BACKEND", "kqueue")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("OC_IO_BACKEND=\"kqueue\": expected auto, uring or epoll"), "{stderr}");
}

#[test]
fn missing_files_and_taken_ports_name_their_key_and_value() {
    let dir = TempDir::new("files");
    // A static root that does not exist.
    let (code, stderr, path) = run_on(
        &dir,
        "{\"listeners\": [{\"address\": \"127.0.0.1:0\"}],\n\"routes\": [{\"kind\": \"static\", \"root\": \"/nonexistent/www\"}]}",
        &[],
    );
    assert_eq!(code, 2);
    let want = format!("{}:2:39: routes[0].root: /nonexistent/www: No such file or directory", path.display());
    assert!(stderr.starts_with(&want), "{stderr}");

    // A missing certificate, and a key file that holds no key.
    let cert = dir.write("cert.pem", "not a certificate");
    let (code, stderr, _) = run_on(
        &dir,
        &format!(
            "{{\"listeners\": [{{\"address\": \"127.0.0.1:0\", \"tls\": {{\"cert\": \"{}/missing.pem\", \"key\": \"{}\"}}}}], \"routes\": []}}",
            dir.path().display(),
            cert.display()
        ),
        &[],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("listeners[0].tls.cert: cannot read ") && stderr.contains("missing.pem"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    let (code, stderr, _) = run_on(
        &dir,
        &format!(
            "{{\"listeners\": [{{\"address\": \"127.0.0.1:0\", \"tls\": {{\"cert\": \"{0}\", \"key\": \"{0}\"}}}}], \"routes\": []}}",
            cert.display()
        ),
        &[],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("listeners[0].tls: ") && stderr.contains("cert.pem"), "{stderr}");

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let text = format!("{{\"listeners\": [{{\"address\": \"127.0.0.1:{port}\"}}], \"routes\": []}}");
    let (code, stderr, path) = run_on(&dir, &text, &[]);
    assert_eq!(code, 2, "{stderr}");
    let want = format!(
        "{}:{}: listeners[0].address: cannot listen on 127.0.0.1:{port}: ",
        path.display(),
        position_of(&text, "\"127.0.0.1:")
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&want) && stderr.contains("already in use"), "{stderr}");
}

#[test]
fn check_print_default_version_and_flags() {
    let dir = TempDir::new("cli");
    let site = dir.path().join("www");
    std::fs::create_dir_all(&site).unwrap();
    let text = format!(
        "{{\"listeners\": [{{\"address\": \"127.0.0.1:0\"}}], \"routes\": [{{\"kind\": \"static\", \"root\": \"{}\"}}, {{\"kind\": \"metrics\", \"path\": \"/metrics\"}}]}}",
        site.display()
    );
    let path = dir.write("ok.json", &text);
    let out =
        Command::new(binary()).arg("--check").arg("--config").arg(&path).arg("--workers").arg("3").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with(&format!("{}: ok\n", path.display())), "{stdout}");
    assert!(stdout.contains("3 workers") && stdout.contains("listener 127.0.0.1:0 (http)"), "{stdout}");
    assert!(stdout.contains("route metrics /metrics") && stdout.contains("route static /"), "{stdout}");

    let out = Command::new(binary()).arg("--print-default-config").output().unwrap();
    assert!(out.status.success());
    let default: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(default["listeners"][0]["address"], "127.0.0.1:8080");
    assert_eq!(out.stdout, std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/oc-server.json")).unwrap());

    let out = Command::new(binary()).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("oc-server {}", env!("CARGO_PKG_VERSION")));

    // Bad flags are usage errors (2), as are bad log filters.
    let out = Command::new(binary()).arg("--workers").arg("0").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(binary()).arg("--config").arg(&path).arg("--log-level").arg("=[").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("--log-level: \"=[\" is not a log filter"));
    // A missing file.
    let out = Command::new(binary()).arg("--config").arg(dir.path().join("nope.json")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.json: cannot read the configuration"));
}

#[test]
fn the_default_configuration_serves_the_docs_from_the_repository_root() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(binary()).arg("--check").current_dir(root).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("config/oc-server.json: ok"), "{stdout}");
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(stdout.contains(&format!("path {path}\n")), "{stdout}");
    }
    assert!(std::path::Path::new(root).join("docs/index.html").is_file());
}

#[test]
fn every_example_configuration_checks() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = TempDir::new("examples");
    let cert = dir.write("cert.pem", key.cert.pem());
    let pkey = dir.write("key.pem", key.key_pair.serialize_pem());
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        // The TLS example names files a user makes: point it at a test certificate.
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("config/tls/cert.pem", cert.to_str().unwrap())
            .replace("config/tls/key.pem", pkey.to_str().unwrap());
        let copy = dir.write(path.file_name().unwrap().to_str().unwrap(), &text);
        let out = Command::new(binary()).arg("--check").arg("--config").arg(&copy).current_dir(root).output().unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 5, "the default and four examples: {checked}");
}
