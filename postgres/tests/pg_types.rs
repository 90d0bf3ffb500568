//! Values round-trip through the server unchanged, for the common types.

mod support;

use std::fmt::Debug;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oc_postgres::{Client, ErrorKind, FromSql, ToSql, Type};

fn round_trip<T>(client: &mut Client, sql_type: &str, values: &[T])
where
    T: ToSql + Sync + for<'a> FromSql<'a> + PartialEq + Debug,
{
    let stmt = client.prepare(&format!("SELECT $1::{sql_type}, pg_typeof($1)::text")).unwrap();
    for v in values {
        let row = client.query_one(&stmt, &[v]).unwrap();
        let back: T = row.get(0);
        assert_eq!(&back, v, "{sql_type}");
        assert_eq!(row.get::<_, &str>(1), sql_type);
    }
}

#[test]
fn types_round_trip() {
    support::on_each_backend(2, |_| {
        let mut c = support::client();
        round_trip(&mut c, "boolean", &[true, false]);
        round_trip(&mut c, "smallint", &[0i16, i16::MIN, i16::MAX]);
        round_trip(&mut c, "integer", &[0i32, -1, i32::MIN, i32::MAX]);
        round_trip(&mut c, "bigint", &[0i64, i64::MIN, i64::MAX]);
        round_trip(&mut c, "real", &[0.5f32, f32::MAX, f32::INFINITY]);
        round_trip(&mut c, "double precision", &[0.1f64, -1e300, f64::NEG_INFINITY]);
        round_trip(&mut c, "text", &["".to_owned(), "héllo wörld ✓".to_owned(), "quote ' and \\ and \"".to_owned()]);
        round_trip(&mut c, "character varying", &["abc".to_owned()]);
        round_trip(&mut c, "bytea", &[vec![], vec![0u8, 1, 255, 0]]);
        round_trip(&mut c, "oid", &[0u32, u32::MAX]);
        round_trip(&mut c, "\"char\"", &[b'x' as i8]);
        round_trip(&mut c, "integer[]", &[vec![1i32, 2, 3], vec![]]);
        round_trip(&mut c, "text[]", &[vec!["a".to_owned(), "".to_owned()]]);
        round_trip(&mut c, "bigint[]", &[vec![Some(1i64), None, Some(3)]]);
        round_trip(&mut c, "integer", &[Some(5i32), None]);
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        round_trip(&mut c, "timestamp with time zone", &[t, UNIX_EPOCH]);
        let _: SystemTime = t;

        // NaN is not equal to itself: check it separately.
        let stmt = c.prepare("SELECT $1::float8").unwrap();
        assert!(c.query_one(&stmt, &[&f64::NAN]).unwrap().get::<_, f64>(0).is_nan());

        // Column types as the server reports them.
        let stmt = c.prepare("SELECT 1::int2, 2::int8, 'x'::text, now(), '{}'::jsonb, 1.5::numeric").unwrap();
        let types: Vec<&Type> = stmt.columns().iter().map(|c| c.type_()).collect();
        assert_eq!(types, [&Type::INT2, &Type::INT8, &Type::TEXT, &Type::TIMESTAMPTZ, &Type::JSONB, &Type::NUMERIC]);

        // A wrong Rust type is an error from try_get and names both types.
        let row = c.query_one(&stmt, &[]).unwrap();
        let err = row.try_get::<_, i32>(0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conversion);
        assert!(err.to_string().contains("int2") && err.to_string().contains("i32"), "{err}");
        assert_eq!(row.try_get::<_, i16>(7).unwrap_err().kind(), ErrorKind::Column);
        assert_eq!(row.try_get::<_, i16>("nope").unwrap_err().kind(), ErrorKind::Column);
        // A value out of the parameter's range is refused before sending.
        let small = c.prepare("SELECT $1::int2").unwrap();
        assert_eq!(c.query(&small, &[&70000i32]).unwrap_err().kind(), ErrorKind::Conversion);
    });
}

#[test]
fn get_panics_on_a_type_mismatch_and_try_get_does_not() {
    support::on_each_backend(1, |_| {
        let mut c = support::client();
        let stmt = c.prepare("SELECT 'text'::text").unwrap();
        let row = c.query_one(&stmt, &[]).unwrap();
        assert_eq!(row.try_get::<_, i64>(0).unwrap_err().kind(), ErrorKind::Conversion);
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| row.get::<_, i64>(0))).unwrap_err();
        let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(msg.contains("error retrieving column 0"), "{msg}");
        // The client is still fine.
        assert_eq!(c.query_one(&stmt, &[]).unwrap().get::<_, &str>(0), "text");
    });
}
