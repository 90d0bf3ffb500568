//! Result rows: typed ([`Row`], from the extended protocol, binary values) and textual
//! ([`SimpleRow`], from the simple protocol).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use fallible_iterator::FallibleIterator;
use postgres_protocol::message::backend::DataRowBody;
use postgres_types::FromSql;

use crate::error::{Error, ErrorKind};
use crate::statement::Column;

mod sealed {
    pub trait Sealed {}
}

/// A column index: a position (`usize`) or a name (`&str`).
pub trait RowIndex: sealed::Sealed + fmt::Display {
    /// The position of the column among `columns`, if any.
    #[doc(hidden)]
    fn index(&self, names: &mut dyn Iterator<Item = &str>) -> Option<usize>;
}

impl sealed::Sealed for usize {}
impl RowIndex for usize {
    fn index(&self, names: &mut dyn Iterator<Item = &str>) -> Option<usize> {
        (*self < names.count()).then_some(*self)
    }
}

impl sealed::Sealed for str {}
impl RowIndex for str {
    fn index(&self, names: &mut dyn Iterator<Item = &str>) -> Option<usize> {
        for (i, n) in names.enumerate() {
            if n == self {
                return Some(i);
            }
        }
        None
    }
}

impl<T: ?Sized + RowIndex> sealed::Sealed for &T {}
impl<T: ?Sized + RowIndex> RowIndex for &T {
    fn index(&self, names: &mut dyn Iterator<Item = &str>) -> Option<usize> {
        (**self).index(names)
    }
}

/// Where each value of a data row lies in the row's body. Rows of up to `INLINE` columns (the
/// usual ones) keep them inline, so that reading a row allocates nothing beyond the rows'
/// vector (a vector per row was most of the allocator's share of a TechEmpower fortunes
/// request); wider rows keep them on the heap.
enum ValueRanges {
    Inline { len: u8, at: [(u32, u32); INLINE] },
    Heap(Box<[Option<Range<usize>>]>),
}

const INLINE: usize = 6;
/// The start of a NULL value in `ValueRanges::Inline` (a body is shorter than 4 GiB: its
/// length is an `i32` on the wire).
const NULL: u32 = u32::MAX;

impl ValueRanges {
    fn of(body: &DataRowBody, expected: usize) -> Result<ValueRanges, Error> {
        let malformed = |e| Error::with_source(ErrorKind::Protocol, "malformed data row", e);
        let count_error = |got: usize| Error::protocol(format!("a data row has {got} values for {expected} columns"));
        if expected > INLINE {
            let ranges: Vec<Option<Range<usize>>> = body.ranges().collect().map_err(malformed)?;
            if ranges.len() != expected {
                return Err(count_error(ranges.len()));
            }
            return Ok(ValueRanges::Heap(ranges.into_boxed_slice()));
        }
        let mut at = [(NULL, 0); INLINE];
        let mut got = 0;
        let mut values = body.ranges();
        while let Some(range) = values.next().map_err(malformed)? {
            if let Some(slot) = at.get_mut(got) {
                *slot = range.map_or((NULL, 0), |r| (r.start as u32, r.end as u32));
            }
            got += 1;
        }
        if got != expected {
            return Err(count_error(got));
        }
        Ok(ValueRanges::Inline { len: got as u8, at })
    }

    /// The range of value `i` (`None`: NULL). `i` is below the row's column count.
    fn get(&self, i: usize) -> Option<Range<usize>> {
        match self {
            ValueRanges::Inline { len, at } => {
                assert!(i < usize::from(*len), "value {i} of a row of {len}");
                let (start, end) = at[i];
                (start != NULL).then_some(start as usize..end as usize)
            }
            ValueRanges::Heap(ranges) => ranges[i].clone(),
        }
    }
}

/// A row of a query's result, with typed access to its columns.
///
/// ```no_run
/// # fn demo(client: &mut oc_postgres::Client) -> Result<(), oc_postgres::Error> {
/// let stmt = client.prepare("SELECT id, randomnumber FROM world WHERE id = $1")?;
/// let row = client.query_one(&stmt, &[&42i32])?;
/// let id: i32 = row.get(0);
/// let n: i32 = row.get("randomnumber");
/// let missing: Result<String, _> = row.try_get(0); // int4 is not text: an error
/// assert!(missing.is_err());
/// # let _ = (id, n); Ok(()) }
/// ```
pub struct Row {
    columns: Arc<[Column]>,
    body: DataRowBody,
    ranges: ValueRanges,
}

impl Row {
    pub(crate) fn new(columns: Arc<[Column]>, body: DataRowBody) -> Result<Row, Error> {
        let ranges = ValueRanges::of(&body, columns.len())?;
        Ok(Row { columns, body, ranges })
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The value of a column, converted to `T`.
    ///
    /// # Panics
    ///
    /// If the column does not exist, or its value cannot be converted to `T` (including a
    /// NULL read as a non-`Option` type). Use [`try_get`](Self::try_get) to handle those.
    #[track_caller]
    pub fn get<'a, I, T>(&'a self, idx: I) -> T
    where
        I: RowIndex,
        T: FromSql<'a>,
    {
        match self.try_get(&idx) {
            Ok(v) => v,
            Err(e) => panic!("error retrieving column {idx}: {e}"),
        }
    }

    /// The value of a column, converted to `T`, or an error saying why not.
    pub fn try_get<'a, I, T>(&'a self, idx: I) -> Result<T, Error>
    where
        I: RowIndex,
        T: FromSql<'a>,
    {
        let i = idx
            .index(&mut self.columns.iter().map(Column::name))
            .ok_or_else(|| Error::new(ErrorKind::Column, format!("no column {idx} in this row")))?;
        let column = &self.columns[i];
        let ty = column.type_();
        if !T::accepts(ty) {
            return Err(Error::new(
                ErrorKind::Conversion,
                format!(
                    "column `{}` has type {}, which cannot be read as {}",
                    column.name(),
                    ty,
                    std::any::type_name::<T>()
                ),
            ));
        }
        let raw = self.ranges.get(i).map(|r| &self.body.buffer()[r]);
        T::from_sql_nullable(ty, raw).map_err(|e| {
            Error::with_source(ErrorKind::Conversion, format!("cannot read column `{}` ({ty})", column.name()), e)
        })
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Row").field("columns", &self.columns).finish_non_exhaustive()
    }
}

/// A row from the simple query protocol: every value is text (or NULL).
pub struct SimpleRow {
    columns: Arc<[String]>,
    body: DataRowBody,
    ranges: ValueRanges,
}

impl SimpleRow {
    pub(crate) fn new(columns: Arc<[String]>, body: DataRowBody) -> Result<SimpleRow, Error> {
        let ranges = ValueRanges::of(&body, columns.len())?;
        Ok(SimpleRow { columns, body, ranges })
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The text of a column (`None` for NULL).
    ///
    /// # Panics
    ///
    /// If the column does not exist or is not UTF-8; [`try_get`](Self::try_get) returns an
    /// error instead.
    #[track_caller]
    pub fn get<I: RowIndex>(&self, idx: I) -> Option<&str> {
        match self.try_get(&idx) {
            Ok(v) => v,
            Err(e) => panic!("error retrieving column {idx}: {e}"),
        }
    }

    /// The text of a column (`None` for NULL), or an error if there is no such column.
    pub fn try_get<I: RowIndex>(&self, idx: I) -> Result<Option<&str>, Error> {
        let i = idx
            .index(&mut self.columns.iter().map(String::as_str))
            .ok_or_else(|| Error::new(ErrorKind::Column, format!("no column {idx} in this row")))?;
        match self.ranges.get(i) {
            None => Ok(None),
            Some(r) => std::str::from_utf8(&self.body.buffer()[r])
                .map(Some)
                .map_err(|e| Error::with_source(ErrorKind::Conversion, format!("column {idx} is not UTF-8"), e)),
        }
    }
}

impl fmt::Debug for SimpleRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_map();
        for (i, name) in self.columns.iter().enumerate() {
            d.entry(name, &self.try_get(i).ok().flatten());
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use postgres_protocol::message::backend::Message;

    use super::*;

    /// A `DataRow` message's body with these values (`None`: NULL).
    fn data_row(values: &[Option<&[u8]>]) -> DataRowBody {
        let mut body = BytesMut::new();
        body.put_i16(values.len() as i16);
        for v in values {
            match v {
                Some(v) => {
                    body.put_i32(v.len() as i32);
                    body.put_slice(v);
                }
                None => body.put_i32(-1),
            }
        }
        let mut msg = BytesMut::new();
        msg.put_u8(b'D');
        msg.put_i32(body.len() as i32 + 4);
        msg.put_slice(&body);
        match Message::parse(&mut msg) {
            Ok(Some(Message::DataRow(row))) => row,
            _ => panic!("not a data row"),
        }
    }

    fn values(body: &DataRowBody, ranges: &ValueRanges, n: usize) -> Vec<Option<Vec<u8>>> {
        (0..n).map(|i| ranges.get(i).map(|r| body.buffer()[r].to_vec())).collect()
    }

    #[test]
    fn value_ranges_inline_and_on_the_heap() {
        for n in [0, 1, 2, INLINE, INLINE + 1, 40] {
            let owned: Vec<Option<Vec<u8>>> =
                (0..n).map(|i| (i % 3 != 1).then(|| format!("value {i}").into_bytes())).collect();
            let borrowed: Vec<Option<&[u8]>> = owned.iter().map(|v| v.as_deref()).collect();
            let body = data_row(&borrowed);
            let ranges = ValueRanges::of(&body, n).unwrap();
            assert_eq!(matches!(ranges, ValueRanges::Inline { .. }), n <= INLINE);
            assert_eq!(values(&body, &ranges, n), owned, "{n} columns");
        }
        // An empty value is not NULL.
        let body = data_row(&[Some(b""), None]);
        let ranges = ValueRanges::of(&body, 2).unwrap();
        assert_eq!(values(&body, &ranges, 2), vec![Some(Vec::new()), None]);
    }

    #[test]
    fn a_row_with_the_wrong_number_of_values_is_a_protocol_error() {
        let v: &[u8] = b"x";
        for (values, expected) in [(3, 2), (1, 2), (INLINE + 1, INLINE), (INLINE, INLINE + 1), (0, 1)] {
            let body = data_row(&vec![Some(v); values]);
            let err = ValueRanges::of(&body, expected).err().expect("an error");
            assert_eq!(err.kind(), ErrorKind::Protocol, "{values} for {expected}");
            let text = err.to_string();
            assert!(text.contains(&format!("{values} values for {expected} columns")), "{text}");
        }
    }

    #[test]
    #[should_panic(expected = "value 2 of a row of 2")]
    fn a_value_past_the_row_is_a_panic() {
        let body = data_row(&[Some(b"a"), Some(b"b")]);
        let _ = ValueRanges::of(&body, 2).unwrap().get(2);
    }
}
