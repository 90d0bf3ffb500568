//! `setup-db`: the TechEmpower user, database, tables (both spellings), grants and rows, and
//! `pg_stat_statements` where the server allows it. Idempotent: running it again leaves the
//! same state (the World rows get fresh random numbers only when their count is wrong).

use oc_postgres::Client;

/// The TechEmpower user.
pub const USER: &str = "benchmarkdbuser";
/// Its password.
pub const PASSWORD: &str = "benchmarkdbpass";
/// The TechEmpower database.
pub const DATABASE: &str = "hello_world";
/// The app's default database URL.
pub const DEFAULT_DATABASE_URL: &str = "postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world";
/// The default administrator: the local `postgres` role over the Unix socket.
pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres";

/// The 12 fortunes, exactly.
pub const FORTUNES: [(i32, &str); 12] = [
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u{2014} Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u{2014} Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, "<script>alert(\"This should not be displayed in a browser alert box.\");</script>"),
    (12, "フレームワークのベンチマーク"),
];

/// What `setup-db` found and did, for the user.
#[derive(Debug, Default)]
pub struct SetupReport {
    /// One line per step.
    pub lines: Vec<String>,
    /// Whether `pg_stat_statements` can be queried now.
    pub stat_statements_ready: bool,
}

impl SetupReport {
    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
}

/// Runs the set-up as the superuser at `admin_url` (connecting to its database first, then
/// to `hello_world`), then checks that `database_url` reaches the tables.
pub fn setup(admin_url: &str, database_url: &str) -> Result<SetupReport, String> {
    let mut report = SetupReport::default();
    let mut admin =
        Client::connect(admin_url).map_err(|e| format!("cannot connect as administrator ({admin_url}): {e}"))?;

    // The user (its password set again, in case it changed) and the database.
    if exists(&mut admin, &format!("SELECT 1 FROM pg_roles WHERE rolname = '{USER}'"))? {
        run(&mut admin, &format!("ALTER ROLE {USER} WITH LOGIN PASSWORD '{PASSWORD}'"))?;
        report.say(format!("role {USER}: exists (password set)"));
    } else {
        run(&mut admin, &format!("CREATE ROLE {USER} WITH LOGIN PASSWORD '{PASSWORD}'"))?;
        report.say(format!("role {USER}: created"));
    }
    if exists(&mut admin, &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"))? {
        report.say(format!("database {DATABASE}: exists"));
    } else {
        run(&mut admin, &format!("CREATE DATABASE {DATABASE} OWNER {USER} ENCODING 'UTF8' TEMPLATE template0"))?;
        report.say(format!("database {DATABASE}: created"));
    }
    // Reading every statement's counters (the verifier) is granted to the user.
    run(&mut admin, &format!("GRANT pg_read_all_stats TO {USER}"))?;

    // pg_stat_statements needs the library preloaded; ask for it if it is not.
    let preload = single_value(&mut admin, "SELECT current_setting('shared_preload_libraries')")?;
    let preloaded = preload.split(',').any(|l| l.trim().trim_matches('"') == "pg_stat_statements");
    if preloaded {
        report.say("shared_preload_libraries: has pg_stat_statements");
    } else {
        let value = if preload.trim().is_empty() {
            "pg_stat_statements".to_owned()
        } else {
            format!("{preload},pg_stat_statements")
        };
        run(&mut admin, &format!("ALTER SYSTEM SET shared_preload_libraries = '{value}'"))?;
        report.say(format!(
            "shared_preload_libraries: was '{preload}', set to '{value}' with ALTER SYSTEM; \
             restart PostgreSQL for pg_stat_statements to work \
             (e.g. pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart)"
        ));
    }
    drop(admin);

    // The tables, in the database.
    let db_admin_url = with_database(admin_url, DATABASE)?;
    let mut db =
        Client::connect(&db_admin_url).map_err(|e| format!("cannot connect to {DATABASE} as administrator: {e}"))?;
    match run(&mut db, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements") {
        Ok(()) => report.say("extension pg_stat_statements: present"),
        Err(e) => {
            report.say(format!("extension pg_stat_statements: cannot create ({e}); is postgresql-contrib installed?"))
        }
    }
    for world in ["world", "\"World\""] {
        setup_world(&mut db, world, &mut report)?;
    }
    for fortune in ["fortune", "\"Fortune\""] {
        setup_fortune(&mut db, fortune, &mut report)?;
    }
    report.stat_statements_ready = preloaded && exists(&mut db, "SELECT 1 FROM pg_stat_statements LIMIT 1").is_ok();
    drop(db);

    // The app's own URL reaches the rows.
    let mut app = Client::connect(database_url)
        .map_err(|e| format!("cannot connect with the app's URL ({database_url}): {e}"))?;
    let worlds = single_value(&mut app, "SELECT count(*)::text FROM world")?;
    let fortunes = single_value(&mut app, "SELECT count(*)::text FROM fortune")?;
    report.say(format!("as the app: {worlds} World rows, {fortunes} Fortune rows"));
    Ok(report)
}

fn setup_world(db: &mut Client, table: &str, report: &mut SetupReport) -> Result<(), String> {
    run(
        db,
        &format!(
            "CREATE TABLE IF NOT EXISTS {table} (id integer NOT NULL, randomNumber integer NOT NULL DEFAULT 0, PRIMARY KEY (id))"
        ),
    )?;
    run(db, &format!("GRANT ALL PRIVILEGES ON {table} TO {USER}"))?;
    let good = single_value(
        db,
        &format!(
            "SELECT count(*)::text FROM {table} WHERE id BETWEEN 1 AND 10000 AND randomnumber BETWEEN 1 AND 10000"
        ),
    )?;
    let all = single_value(db, &format!("SELECT count(*)::text FROM {table}"))?;
    if good == "10000" && all == "10000" {
        report.say(format!("table {table}: 10000 rows already"));
    } else {
        run(
            db,
            &format!(
                "BEGIN; DELETE FROM {table}; INSERT INTO {table} (id, randomnumber) \
                 SELECT x, least(floor(random() * 10000 + 1), 10000) FROM generate_series(1, 10000) AS x; COMMIT"
            ),
        )?;
        report.say(format!("table {table}: filled with 10000 rows (had {all})"));
    }
    Ok(())
}

fn setup_fortune(db: &mut Client, table: &str, report: &mut SetupReport) -> Result<(), String> {
    run(
        db,
        &format!(
            "CREATE TABLE IF NOT EXISTS {table} (id integer NOT NULL, message varchar(2048) NOT NULL, PRIMARY KEY (id))"
        ),
    )?;
    run(db, &format!("GRANT ALL PRIVILEGES ON {table} TO {USER}"))?;
    let values: Vec<String> = FORTUNES.iter().map(|(id, m)| format!("({id}, {})", quote(m))).collect();
    run(
        db,
        &format!(
            "BEGIN; DELETE FROM {table} WHERE id NOT BETWEEN 1 AND 12; \
             INSERT INTO {table} (id, message) VALUES {} ON CONFLICT (id) DO UPDATE SET message = EXCLUDED.message; COMMIT",
            values.join(", ")
        ),
    )?;
    report.say(format!("table {table}: the 12 fortunes"));
    Ok(())
}

/// `s` as an SQL string literal.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `url` with its database name replaced by `database`.
pub fn with_database(url: &str, database: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| format!("not a postgres:// URL: {url}"))?;
    let (authority, query) = match rest.find('/') {
        Some(slash) => {
            let path = &rest[slash + 1..];
            (&rest[..slash], path.find('?').map(|q| &path[q..]).unwrap_or(""))
        }
        None => match rest.find('?') {
            Some(q) => (&rest[..q], &rest[q..]),
            None => (rest, ""),
        },
    };
    Ok(format!("postgres://{authority}/{database}{query}"))
}

fn run(client: &mut Client, sql: &str) -> Result<(), String> {
    client.batch_execute(sql).map_err(|e| format!("{sql}: {e}"))
}

fn exists(client: &mut Client, sql: &str) -> Result<bool, String> {
    Ok(!rows(client, sql)?.is_empty())
}

fn rows(client: &mut Client, sql: &str) -> Result<Vec<oc_postgres::Row>, String> {
    let stmt = client.prepare(sql).map_err(|e| format!("{sql}: {e}"))?;
    client.query(&stmt, &[]).map_err(|e| format!("{sql}: {e}"))
}

/// The first column (text) of the first row.
fn single_value(client: &mut Client, sql: &str) -> Result<String, String> {
    let rows = rows(client, sql)?;
    let row = rows.first().ok_or_else(|| format!("{sql}: no row"))?;
    row.try_get::<_, String>(0).map_err(|e| format!("{sql}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_in_url() {
        assert_eq!(
            with_database("postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres", "hello_world").unwrap(),
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/hello_world"
        );
        assert_eq!(with_database("postgresql://u:p@h:5432", "d").unwrap(), "postgres://u:p@h:5432/d");
        assert_eq!(with_database("postgres://u@h/x?sslmode=disable", "d").unwrap(), "postgres://u@h/d?sslmode=disable");
        assert!(with_database("mysql://h/x", "d").is_err());
    }

    #[test]
    fn literal_quoting() {
        assert_eq!(quote("aren't"), "'aren''t'");
    }
}
