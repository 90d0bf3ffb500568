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

fn ranges(body: &DataRowBody, expected: usize) -> Result<Vec<Option<Range<usize>>>, Error> {
    let ranges: Vec<Option<Range<usize>>> =
        body.ranges().collect().map_err(|e| Error::with_source(ErrorKind::Protocol, "malformed data row", e))?;
    if ranges.len() != expected {
        return Err(Error::protocol(format!("a data row has {} values for {expected} columns", ranges.len())));
    }
    Ok(ranges)
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
    ranges: Vec<Option<Range<usize>>>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[Column]>, body: DataRowBody) -> Result<Row, Error> {
        let ranges = ranges(&body, columns.len())?;
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
        let raw = self.ranges[i].clone().map(|r| &self.body.buffer()[r]);
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
    ranges: Vec<Option<Range<usize>>>,
}

impl SimpleRow {
    pub(crate) fn new(columns: Arc<[String]>, body: DataRowBody) -> Result<SimpleRow, Error> {
        let ranges = ranges(&body, columns.len())?;
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
        match self.ranges[i].clone() {
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
