//! Connect, simple and extended queries, the statement cache, and typed rows.

mod support;

use oc_postgres::{ErrorKind, SqlState, Type};

#[test]
fn simple_and_extended_queries() {
    support::on_each_backend(2, |backend| {
        let mut client = support::client();
        let table = support::unique("pg_query");
        client.batch_execute(&format!("CREATE TABLE {table} (id int4 PRIMARY KEY, name text, score float8)")).unwrap();

        let insert = client.prepare(&format!("INSERT INTO {table} VALUES ($1, $2, $3)")).unwrap();
        assert_eq!(insert.params(), &[Type::INT4, Type::TEXT, Type::FLOAT8]);
        for i in 0..5i32 {
            let name = format!("n{i}");
            assert_eq!(client.execute(&insert, &[&i, &name, &(f64::from(i) / 2.0)]).unwrap(), 1);
        }
        // NULL through Option.
        assert_eq!(client.execute(&insert, &[&99i32, &None::<&str>, &None::<f64>]).unwrap(), 1);

        let select = client.prepare(&format!("SELECT id, name, score FROM {table} WHERE id < $1 ORDER BY id")).unwrap();
        assert_eq!(select.columns().len(), 3);
        assert_eq!(select.columns()[1].name(), "name");
        let rows = client.query(&select, &[&3i32]).unwrap();
        assert_eq!(rows.len(), 3, "{backend:?}");
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.get::<_, i32>(0), i as i32);
            assert_eq!(row.get::<_, &str>("name"), format!("n{i}"));
            assert_eq!(row.get::<_, f64>(2), i as f64 / 2.0);
        }

        // SQL text where a statement goes: prepared once, then taken from the cache.
        let text = format!("SELECT name FROM {table} WHERE id = $1");
        assert_eq!(client.query_one(text.as_str(), &[&2i32]).unwrap().get::<_, String>(0), "n2");
        assert_eq!(client.query_opt(&text, &[&77i32]).unwrap().map(|r| r.get::<_, String>(0)), None);
        assert_eq!(client.query(&text, &[&4i32]).unwrap().len(), 1);
        assert_eq!(
            client.execute(&format!("UPDATE {table} SET score = $1 WHERE id = $2"), &[&9.5f64, &12345i32]).unwrap(),
            0
        );
        let err = client.query("SELECT * FROM no_such_table_here", &[]).unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::UNDEFINED_TABLE), "{err}");

        let by_null = client.prepare(&format!("SELECT name, score FROM {table} WHERE id = 99")).unwrap();
        let null_row = client.query_one(&by_null, &[]).unwrap();
        assert_eq!(null_row.get::<_, Option<String>>(0), None);
        assert_eq!(null_row.try_get::<_, String>(0).unwrap_err().kind(), ErrorKind::Conversion);

        // The cache returns the same statement for the same text.
        let again = client.prepare(&format!("SELECT id, name, score FROM {table} WHERE id < $1 ORDER BY id")).unwrap();
        assert_eq!(format!("{again:?}"), format!("{select:?}"));

        // Simple protocol: text values, several statements.
        let rows =
            client.simple_query(&format!("SELECT id::text, name FROM {table} WHERE id = 1; SELECT 'x' AS y")).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get(0), Some("1"));
        assert_eq!(rows[0].get("name"), Some("n1"));
        assert_eq!(rows[1].get("y"), Some("x"));
        assert_eq!(rows[1].try_get("nope").unwrap_err().kind(), ErrorKind::Column);

        // query_one with zero or many rows.
        let none = client.query_one(&select, &[&0i32]).unwrap_err();
        assert_eq!(none.kind(), ErrorKind::RowCount);
        let many = client.query_one(&select, &[&10i32]).unwrap_err();
        assert_eq!(many.kind(), ErrorKind::RowCount);
        assert!(client.query_opt(&select, &[&0i32]).unwrap().is_none());

        // A wrong parameter count or type is refused before anything is sent, and the
        // connection stays usable.
        assert_eq!(client.query(&select, &[]).unwrap_err().kind(), ErrorKind::Column);
        assert_eq!(client.query(&select, &[&"three"]).unwrap_err().kind(), ErrorKind::Conversion);
        assert_eq!(client.query(&select, &[&2i32]).unwrap().len(), 2);

        client.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    });
}

#[test]
fn statement_cache_is_bounded() {
    support::on_each_backend(2, |_| {
        let mut client = support::client();
        client.set_statement_cache_capacity(2);
        let count = |c: &mut oc_postgres::Client| -> String {
            c.simple_query("SELECT count(*) FROM pg_prepared_statements").unwrap()[0].get(0).unwrap().to_owned()
        };
        let first = client.prepare("SELECT 1::int4").unwrap();
        client.prepare("SELECT 2::int4").unwrap();
        assert_eq!(count(&mut client), "2");
        client.prepare("SELECT 3::int4").unwrap();
        assert_eq!(count(&mut client), "2", "the oldest was closed on the server");
        // The evicted statement still works: it is parsed again.
        assert_eq!(client.query_one(&first, &[]).unwrap().get::<_, i32>(0), 1);
        // And the cache returns a new statement for its text.
        let one = client.prepare("SELECT 1::int4").unwrap();
        assert_eq!(client.query_one(&one, &[]).unwrap().get::<_, i32>(0), 1);
        let three = client.prepare("SELECT 3::int4").unwrap();
        assert_eq!(client.query_one(&three, &[]).unwrap().get::<_, i32>(0), 3);
    });
}
