//! Authentication (cleartext, MD5, SCRAM-SHA-256, wrong and missing passwords) against a
//! throw-away cluster, a Unix-socket connection, and TLS against the test server.

mod support;

#[path = "support/cluster.rs"]
mod cluster;

use std::sync::Arc;

use oc_postgres::{Client, Config, ErrorKind, SqlState, SslMode};

const HBA: &str = "\
local all all trust
host all clear_user 127.0.0.1/32 password
host all md5_user 127.0.0.1/32 md5
host all scram_user 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 reject
";

#[test]
fn password_methods() {
    let cluster = Arc::new(cluster::Cluster::start(HBA));
    support::on_each_backend(2, {
        let cluster = cluster.clone();
        move |backend| {
            // The superuser logs in over the cluster's Unix socket (trust).
            let mut admin = Config::new();
            admin.host(cluster.dir.to_str().unwrap()).port(cluster.port).user("postgres").dbname("postgres");
            let mut admin = Client::connect_config(admin).unwrap();
            assert!(!admin.is_tls());
            admin
                .batch_execute(
                    "DROP ROLE IF EXISTS clear_user; DROP ROLE IF EXISTS md5_user; DROP ROLE IF EXISTS scram_user;
                     SET password_encryption = 'md5';
                     CREATE ROLE md5_user LOGIN PASSWORD 'md5 secret';
                     SET password_encryption = 'scram-sha-256';
                     CREATE ROLE scram_user LOGIN PASSWORD 'p@ss:w/rd é';
                     CREATE ROLE clear_user LOGIN PASSWORD 'clear secret';",
                )
                .unwrap();
            let stored = admin
                .simple_query(
                    "SELECT rolname, left(rolpassword, 13) FROM pg_authid WHERE rolname LIKE '%_user' ORDER BY 1",
                )
                .unwrap();
            let stored: Vec<(Option<&str>, Option<&str>)> = stored.iter().map(|r| (r.get(0), r.get(1))).collect();
            assert_eq!(stored[1].1.map(|p| &p[..3]), Some("md5"), "{stored:?}");
            assert_eq!(stored[2].1, Some("SCRAM-SHA-256"), "{stored:?}");

            let port = cluster.port;
            for (user, pass) in [
                ("clear_user", "clear%20secret"),
                ("md5_user", "md5%20secret"),
                ("scram_user", "p%40ss%3Aw%2Frd%20%C3%A9"),
            ] {
                let url = format!("postgres://{user}:{pass}@127.0.0.1:{port}/postgres");
                let mut c = Client::connect(&url).unwrap_or_else(|e| panic!("{backend:?} {user}: {e}"));
                let who = c.simple_query("SELECT current_user").unwrap();
                assert_eq!(who[0].get(0), Some(user));

                let wrong = format!("postgres://{user}:nope@127.0.0.1:{port}/postgres");
                let err = Client::connect(&wrong).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Auth, "{user}: {err}");
                assert_eq!(err.code(), Some(&SqlState::INVALID_PASSWORD), "{user}: {err}");
                assert!(err.to_string().contains("password authentication failed"), "{err}");

                let missing = format!("postgres://{user}@127.0.0.1:{port}/postgres");
                let err = Client::connect(&missing).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Auth, "{user}: {err}");
                assert!(err.to_string().contains("none is configured"), "{err}");
            }
            // A user hba rejects outright.
            let err = Client::connect(&format!("postgres://postgres@127.0.0.1:{port}/postgres")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
        }
    });
}

#[test]
fn unix_socket_of_the_test_server() {
    // The local `postgres` role over /var/run/postgresql, as an admin tool would connect.
    if !std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() {
        panic!("the test server's Unix socket /var/run/postgresql/.s.PGSQL.5432 is missing");
    }
    support::on_each_backend(2, |_| {
        let mut c = Client::connect("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres").unwrap();
        let rows = c.simple_query("SELECT inet_client_addr() IS NULL").unwrap();
        assert_eq!(rows[0].get(0), Some("t"), "a Unix-socket session has no client address");
        let stmt = c.prepare("SELECT $1::int8 + 1").unwrap();
        assert_eq!(c.query_one(&stmt, &[&41i64]).unwrap().get::<_, i64>(0), 42);
    });
}

fn server_has_ssl() -> bool {
    let mut c = support::client();
    c.simple_query("SHOW ssl").unwrap()[0].get(0) == Some("on")
}

#[test]
fn tls_modes() {
    let ssl = server_has_ssl();
    support::on_each_backend(2, move |backend| {
        let base = support::url();
        let sep = if base.contains('?') { '&' } else { '?' };
        if ssl {
            let mut c = Client::connect(&format!("{base}{sep}sslmode=require")).unwrap();
            assert!(c.is_tls(), "{backend:?}");
            let rows = c.simple_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").unwrap();
            assert_eq!(rows[0].get(0), Some("t"), "the server sees TLS");
            let stmt = c.prepare("SELECT repeat('x', $1)").unwrap();
            let big: String = c.query_one(&stmt, &[&100_000i32]).unwrap().get(0);
            assert_eq!(big.len(), 100_000);
            // A statement time-out over TLS: cancelled, and the TLS session stays usable.
            let pid: i32 = c.simple_query("SELECT pg_backend_pid()").unwrap()[0].get(0).unwrap().parse().unwrap();
            let sleep = c.prepare("SELECT pg_sleep(30)").unwrap();
            c.set_statement_timeout(Some(std::time::Duration::from_millis(300)));
            assert_eq!(c.query(&sleep, &[]).unwrap_err().kind(), ErrorKind::Timeout);
            c.set_statement_timeout(None);
            assert!(c.is_tls());
            let again: i32 = c.simple_query("SELECT pg_backend_pid()").unwrap()[0].get(0).unwrap().parse().unwrap();
            assert_eq!(again, pid, "the TLS session was kept");
            let c = Client::connect(&format!("{base}{sep}sslmode=prefer")).unwrap();
            assert!(c.is_tls());
            // verify-full against a root that did not sign the server's certificate fails
            // the handshake (the chain is really checked).
            let pem = std::env::temp_dir().join(support::unique("oc-pg-root")).with_extension("pem");
            std::fs::write(&pem, FOREIGN_ROOT).unwrap();
            let err =
                Client::connect(&format!("{base}{sep}sslmode=verify-full&sslrootcert={}", pem.display())).unwrap_err();
            let _ = std::fs::remove_file(&pem);
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            assert!(err.to_string().contains("certificate"), "{err}");
        } else {
            let err = Client::connect(&format!("{base}{sep}sslmode=require")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
            let c = Client::connect(&format!("{base}{sep}sslmode=prefer")).unwrap();
            assert!(!c.is_tls());
        }
        let c = Client::connect(&format!("{base}{sep}sslmode=disable")).unwrap();
        assert!(!c.is_tls());
        let mut config: Config = base.parse().unwrap();
        config.ssl_mode(SslMode::VerifyFull);
        let err = Client::connect_config(config).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "verify-full without roots: {err}");
    });
}

/// A self-signed CA certificate that signed nothing the test server uses.
const FOREIGN_ROOT: &str = include_str!("support/foreign-root.pem");
