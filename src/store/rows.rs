//! Multi-row INSERTs: one statement for many rows, so that a group of messages
//! costs a handful of round trips instead of several per message.

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::{Backend, StoreError};

/// One bound value. Only the types that the `Any` driver carries on both backends.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Int(i64),
    MaybeInt(Option<i64>),
    MaybeFloat(Option<f64>),
    Bytes(&'a [u8]),
}

/// Bound parameters per statement, at most: below SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMETERS: usize = 16_000;

/// Runs `head VALUES (…), (…) tail` over `rows` (all of one width), in as few
/// statements as the parameter limit allows. Returns the rows of any `RETURNING`.
pub(super) async fn insert(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    head: &'static str,
    tail: &'static str,
    rows: &[Vec<Value<'_>>],
) -> Result<Vec<AnyRow>, StoreError> {
    let Some(width) = rows.first().map(Vec::len) else { return Ok(Vec::new()) };
    let per_statement = (MAX_PARAMETERS / width.max(1)).max(1);
    let mut returned = Vec::new();
    for chunk in rows.chunks(per_statement) {
        let sql = statement(backend, head, tail, width, chunk.len());
        // Only numbered placeholders are formatted into the statement; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for value in chunk.iter().flatten() {
            query = match *value {
                // PostgreSQL's text columns cannot hold NUL; the raw bytes column keeps the original.
                Value::Text(v) if v.contains('\0') => query.bind(v.replace('\0', "\u{FFFD}")),
                Value::Text(v) => query.bind(v),
                Value::MaybeText(Some(v)) if v.contains('\0') => query.bind(Some(v.replace('\0', "\u{FFFD}"))),
                Value::MaybeText(v) => query.bind(v),
                Value::Int(v) => query.bind(v),
                Value::MaybeInt(v) => query.bind(v),
                Value::MaybeFloat(v) => query.bind(v),
                Value::Bytes(v) => query.bind(v),
            };
        }
        if tail.contains("RETURNING") {
            returned.extend(query.fetch_all(&mut **tx).await?);
        } else {
            query.execute(&mut **tx).await?;
        }
    }
    Ok(returned)
}

/// SQLite gets anonymous `?` placeholders: with numbered ones, binding looks each
/// name up in a list, which makes a statement of thousands of parameters quadratic.
fn statement(backend: Backend, head: &str, tail: &str, width: usize, rows: usize) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * width * 5);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * width + column + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_across_rows() {
        use super::{Backend, statement};
        assert_eq!(
            statement(Backend::Postgres, "INSERT INTO t (a, b)", " RETURNING a", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING a"
        );
        assert_eq!(statement(Backend::Sqlite, "INSERT INTO t (a)", "", 1, 2), "INSERT INTO t (a) VALUES (?), (?)");
    }
}
