//! Server errors carry their SQLSTATE and fields, and leave the connection usable.

mod support;

use oc_postgres::{ErrorKind, SqlState};

#[test]
fn errors_carry_sqlstate() {
    support::on_each_backend(2, |backend| {
        let mut c = support::client();
        let table = support::unique("pg_err");

        // Undefined table: at prepare time (extended) and in a simple query.
        let err = c.prepare(&format!("SELECT * FROM {table}")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Db, "{backend:?}: {err}");
        assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE));
        assert_eq!(err.code().unwrap().code(), "42P01");
        assert!(err.to_string().contains(&table), "{err}");
        let err = c.batch_execute(&format!("DELETE FROM {table}")).unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE));

        // Unique violation, with the constraint and table named.
        c.batch_execute(&format!("CREATE TABLE {table} (id int4 PRIMARY KEY, v int4 CHECK (v >= 0))")).unwrap();
        let insert = c.prepare(&format!("INSERT INTO {table} VALUES ($1, $2)")).unwrap();
        c.execute(&insert, &[&1i32, &1i32]).unwrap();
        let err = c.execute(&insert, &[&1i32, &2i32]).unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err}");
        let db = err.as_db_error().unwrap();
        assert_eq!(db.severity(), "ERROR");
        assert_eq!(db.table(), Some(table.as_str()));
        assert_eq!(db.constraint(), Some(format!("{table}_pkey").as_str()));
        assert!(db.detail().unwrap().contains("already exists"), "{db}");

        // Check violation, syntax error (with its position), division by zero at run time.
        let err = c.execute(&insert, &[&2i32, &-1i32]).unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::CHECK_VIOLATION));
        let err = c.prepare("SELEC 1").unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR));
        assert_eq!(err.as_db_error().unwrap().position(), Some(1));
        let div = c.prepare("SELECT 1 / $1::int4").unwrap();
        assert_eq!(c.query(&div, &[&0i32]).unwrap_err().code(), Some(&SqlState::DIVISION_BY_ZERO));
        assert_eq!(c.query_one(&div, &[&1i32]).unwrap().get::<_, i32>(0), 1);

        // The simple protocol stops at the first failing statement of a batch.
        let err = c
            .batch_execute(&format!("INSERT INTO {table} VALUES (5, 5); SELECT 1/0; INSERT INTO {table} VALUES (6, 6)"))
            .unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
        let count = c.simple_query(&format!("SELECT count(*) FROM {table}")).unwrap();
        assert_eq!(count[0].get(0), Some("1"), "the failed batch was one implicit transaction");

        // An unknown SQLSTATE still compares by code.
        assert_eq!(SqlState::from_code("XX000").code(), "XX000");
        // Errors are std errors with a source chain.
        let e: Box<dyn std::error::Error> = Box::new(err);
        assert!(e.source().is_some());

        c.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    });
}

#[test]
fn unencodable_requests_are_errors_not_panics() {
    support::on_each_backend(1, |_| {
        let mut c = support::client();
        for err in [
            c.batch_execute("SELECT '\0'").unwrap_err(),
            c.prepare("SELECT 1 -- \0").unwrap_err(),
            c.simple_query("\0").unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::Conversion, "{err}");
        }
        // A parameter count past the protocol's limit of 65535.
        let many = vec![&1i32 as &(dyn oc_postgres::ToSql + Sync); 70_000];
        let stmt = c.prepare("SELECT 1").unwrap();
        assert_eq!(c.query(&stmt, &many).unwrap_err().kind(), ErrorKind::Column);
        // Still usable, same session.
        assert!(c.is_connected());
        assert_eq!(c.simple_query("SELECT 2").unwrap()[0].get(0), Some("2"));
        let err = oc_postgres::Client::connect(&format!("{}?application_name=a%00b", support::url())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    });
}
