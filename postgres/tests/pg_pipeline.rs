//! Pipelines: results in order, one round trip, an error in the middle.

mod support;

use oc_postgres::{ErrorKind, SqlState};

#[test]
fn results_in_order_and_an_error_in_the_middle() {
    support::on_each_backend(2, |backend| {
        let mut client = support::client();
        let table = support::unique("pg_pipe");
        client.batch_execute(&format!("CREATE TABLE {table} (id int4 PRIMARY KEY, v int4 NOT NULL)")).unwrap();
        let insert = client.prepare(&format!("INSERT INTO {table} VALUES ($1, $2)")).unwrap();
        let select = client.prepare(&format!("SELECT v FROM {table} WHERE id = $1")).unwrap();
        let echo = client.prepare("SELECT $1::int4 + 1000").unwrap();

        // In order, mixing statements; nothing is sent until run.
        let mut p = client.pipeline();
        for i in 0..50i32 {
            assert_eq!(p.execute(&insert, &[&i, &(i * 10)]), 2 * i as usize);
            assert_eq!(p.query(&echo, &[&i]), 2 * i as usize + 1);
        }
        let results = p.run().unwrap();
        assert_eq!(results.len(), 100, "{backend:?}");
        for (i, r) in results.into_iter().enumerate() {
            let rows = r.unwrap();
            if i % 2 == 1 {
                assert_eq!(rows[0].get::<_, i32>(0), (i / 2) as i32 + 1000);
            } else {
                assert!(rows.is_empty());
            }
        }
        let mut p = client.pipeline();
        for i in (0..50i32).rev() {
            p.query(&select, &[&i]);
        }
        for (k, r) in p.run().unwrap().into_iter().enumerate() {
            assert_eq!(r.unwrap()[0].get::<_, i32>(0), (49 - k as i32) * 10);
        }

        // An error in the middle: earlier entries succeeded, the failing one has its
        // SQLSTATE, later ones were skipped; with one Sync the batch is one implicit
        // transaction, so the insert before the failure is rolled back too.
        let mut p = client.pipeline();
        p.execute(&insert, &[&100i32, &1i32]);
        p.query(&echo, &[&7i32]);
        p.execute(&insert, &[&0i32, &1i32]); // duplicate key
        p.query(&echo, &[&8i32]);
        let r = p.run_counted().unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].as_ref().unwrap().1, 1);
        assert_eq!(r[1].as_ref().unwrap().0[0].get::<_, i32>(0), 1007);
        let err = r[2].as_ref().unwrap_err();
        assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err}");
        let skipped = r[3].as_ref().unwrap_err();
        assert_eq!(skipped.kind(), ErrorKind::Db);
        assert!(skipped.code().is_none());
        assert!(client.query_opt(&select, &[&100i32]).unwrap().is_none(), "the batch was rolled back");

        // A parameter that cannot be encoded: nothing is sent, the client stays usable.
        let mut p = client.pipeline();
        p.query(&echo, &[&1i32]);
        p.query(&echo, &[&"not an int"]);
        let err = p.run().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conversion);
        assert!(err.to_string().contains("statement 1"), "{err}");

        // An unprepared statement used twice in one pipeline is parsed once; a statement
        // prepared on another connection is parsed here transparently.
        let mut other = support::client();
        let foreign = other.prepare("SELECT $1::text || '!'").unwrap();
        let mut p = client.pipeline();
        p.query(&foreign, &[&"a"]);
        p.query(&foreign, &[&"b"]);
        let r = p.run().unwrap();
        assert_eq!(r[0].as_ref().unwrap()[0].get::<_, String>(0), "a!");
        assert_eq!(r[1].as_ref().unwrap()[0].get::<_, String>(0), "b!");
        assert!(client.pipeline().run().unwrap().is_empty());

        client.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    });
}

/// Groups closed by `sync`: one write still, but a failure stops only its own group.
#[test]
fn groups_fail_independently() {
    support::on_each_backend(2, |backend| {
        let mut client = support::client();
        let table = support::unique("pg_pipe_groups");
        client.batch_execute(&format!("CREATE TABLE {table} (id int4 PRIMARY KEY)")).unwrap();
        let insert = client.prepare(&format!("INSERT INTO {table} VALUES ($1)")).unwrap();
        let count = client.prepare(&format!("SELECT count(*) FROM {table}")).unwrap();
        client.execute(&insert, &[&0i32]).unwrap();

        // A statement this session has never parsed, used in several groups.
        let echo = support::client().prepare("SELECT $1::int4 * 10").unwrap();
        let mut p = client.pipeline();
        p.execute(&insert, &[&1i32]);
        p.execute(&insert, &[&0i32]); // duplicate: group 1 fails here
        p.query(&echo, &[&1i32]);
        p.sync();
        p.query(&echo, &[&2i32]);
        p.sync();
        p.sync(); // an empty group is no group
        p.execute(&insert, &[&3i32]);
        p.query(&count, &[]);
        let r = p.run_counted().unwrap();
        assert_eq!(r.len(), 6, "{backend:?}");
        assert!(r[0].is_ok());
        assert_eq!(r[1].as_ref().unwrap_err().code(), Some(&oc_postgres::SqlState::UNIQUE_VIOLATION));
        assert!(r[2].as_ref().unwrap_err().to_string().contains("not executed"));
        assert_eq!(r[3].as_ref().unwrap().0[0].get::<_, i32>(0), 20);
        assert_eq!(r[4].as_ref().unwrap().1, 1);
        // Group 1 was rolled back (its first insert too); group 3's insert is there.
        assert_eq!(r[5].as_ref().unwrap().0[0].get::<_, i64>(0), 2);
        let ids = client.simple_query(&format!("SELECT string_agg(id::text, ',' ORDER BY id) FROM {table}")).unwrap();
        assert_eq!(ids[0].get(0), Some("0,3"));

        // A statement that no longer parses (its table is gone) fails with the parse error
        // in every group that uses it; the other groups run.
        let gone = support::unique("pg_pipe_gone");
        client.batch_execute(&format!("CREATE TABLE {gone} (x int4)")).unwrap();
        let stale = support::client().prepare(&format!("SELECT x FROM {gone}")).unwrap();
        client.batch_execute(&format!("DROP TABLE {gone}")).unwrap();
        let mut p = client.pipeline();
        p.query(&stale, &[]);
        p.sync();
        p.query(&echo, &[&5i32]);
        p.sync();
        p.query(&stale, &[]);
        let r = p.run().unwrap();
        for i in [0, 2] {
            let err = r[i].as_ref().unwrap_err();
            assert_eq!(err.code(), Some(&oc_postgres::SqlState::UNDEFINED_TABLE), "{err}");
        }
        assert_eq!(r[1].as_ref().unwrap()[0].get::<_, i32>(0), 50);
        // The session is in step afterwards.
        assert_eq!(client.query_one(&echo, &[&7i32]).unwrap().get::<_, i32>(0), 70);

        client.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    });
}
