//! Transactions: commit, rollback, rollback on drop, savepoints, a failed statement inside,
//! and a connection lost inside one.

mod support;

use oc_postgres::{Client, ErrorKind};

fn count(c: &mut Client, table: &str) -> i64 {
    let stmt = c.prepare(&format!("SELECT count(*) FROM {table}")).unwrap();
    c.query_one(&stmt, &[]).unwrap().get(0)
}

#[test]
fn commit_rollback_and_savepoints() {
    support::on_each_backend(2, |_| {
        let mut c = support::client();
        let table = support::unique("pg_tx");
        c.batch_execute(&format!("CREATE TABLE {table} (id int4 PRIMARY KEY)")).unwrap();
        let insert = c.prepare(&format!("INSERT INTO {table} VALUES ($1)")).unwrap();

        let mut tx = c.transaction().unwrap();
        tx.execute(&insert, &[&1i32]).unwrap();
        tx.commit().unwrap();
        assert_eq!(count(&mut c, &table), 1);

        let mut tx = c.transaction().unwrap();
        tx.execute(&insert, &[&2i32]).unwrap();
        tx.rollback().unwrap();
        assert_eq!(count(&mut c, &table), 1);

        {
            let mut tx = c.transaction().unwrap();
            tx.execute(&insert, &[&3i32]).unwrap();
            // dropped: rolled back
        }
        assert_eq!(count(&mut c, &table), 1);

        // A savepoint inside: its rollback keeps the outer work.
        let mut tx = c.transaction().unwrap();
        tx.execute(&insert, &[&4i32]).unwrap();
        {
            let mut sp = tx.transaction().unwrap();
            sp.execute(&insert, &[&5i32]).unwrap();
            sp.rollback().unwrap();
        }
        {
            let mut sp = tx.transaction().unwrap();
            // A failure inside a savepoint, rolled back on drop, leaves the outer usable.
            assert_eq!(sp.execute(&insert, &[&4i32]).unwrap_err().kind(), ErrorKind::Db);
        }
        let mut sp = tx.transaction().unwrap();
        sp.execute(&insert, &[&6i32]).unwrap();
        sp.commit().unwrap();
        tx.commit().unwrap();
        let ids = c.simple_query(&format!("SELECT string_agg(id::text, ',' ORDER BY id) FROM {table}")).unwrap();
        assert_eq!(ids[0].get(0), Some("1,4,6"));

        // A failed statement aborts the transaction: commit says so, and nothing stays.
        let mut tx = c.transaction().unwrap();
        tx.execute(&insert, &[&7i32]).unwrap();
        assert_eq!(tx.execute(&insert, &[&1i32]).unwrap_err().kind(), ErrorKind::Db);
        let err = tx.commit().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Db, "{err}");
        assert!(err.to_string().contains("rolled back"), "{err}");
        assert_eq!(count(&mut c, &table), 3);

        c.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    });
}

#[test]
fn connection_lost_inside_a_transaction() {
    support::on_each_backend(2, |_| {
        let mut c = support::client();
        let table = support::unique("pg_txlost");
        c.batch_execute(&format!("CREATE TABLE {table} (id int4)")).unwrap();
        let pid: i32 = {
            let s = c.prepare("SELECT pg_backend_pid()").unwrap();
            c.query_one(&s, &[]).unwrap().get(0)
        };
        let insert = c.prepare(&format!("INSERT INTO {table} VALUES ($1)")).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.execute(&insert, &[&1i32]).unwrap();
        support::client().batch_execute(&format!("SELECT pg_terminate_backend({pid})")).unwrap();
        // The statement after the kill fails; the one after that must not silently run on a
        // new connection outside the transaction.
        assert!(tx.execute(&insert, &[&2i32]).unwrap_err().is_closed());
        let err = tx.execute(&insert, &[&3i32]).unwrap_err();
        assert!(err.is_closed(), "{err}");
        assert!(err.to_string().contains("transaction"), "{err}");
        let err = tx.commit().unwrap_err();
        assert!(err.is_closed(), "{err}");
        // After the transaction the client reconnects, and nothing was inserted.
        assert_eq!(count(&mut c, &table), 0);
        c.batch_execute(&format!("DROP TABLE {table}")).unwrap();
    });
}
