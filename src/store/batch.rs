//! Multi-row statements: many rows in one round trip to the database.
//!
//! Every statement costs a round trip (for SQLite, a hand-off to sqlx's
//! worker thread and back, which on a busy machine can wait for a time
//! slice), and at thousands of calls a second those hand-offs, not SQLite,
//! are what limits the writers and stretches the time a call waits for its
//! write. So the writers fold a batch of changes into a few statements with
//! many rows each ([`Rows`]), and on SQLite send all of a batch's
//! statements, with its `BEGIN` and `COMMIT`, as one multi-statement query
//! ([`Batch`]) whose anonymous `?` parameters sqlx binds in order across the
//! statements. PostgreSQL's extended protocol takes one statement per
//! query, so there each runs on its own, in chunks whose sizes are powers
//! of two so that sqlx's prepared-statement cache keeps hitting.

use std::fmt::Write as _;

use sqlx::{AnyConnection, AnyPool};

use super::{Backend, Result};

/// The most rows in one statement (keeps bound parameters well under
/// SQLite's and PostgreSQL's limits).
const MAX_ROWS: usize = 128;

/// The most arguments in one SQLite query, kept under
/// `SQLITE_MAX_VARIABLE_NUMBER` (32,766 in the bundled build) so that no
/// statement of it can pass that limit.
const MAX_SQLITE_PARAMS: usize = 30_000;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_owned()))
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::Text(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_owned))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}

/// One statement shape and the rows collected for it.
///
/// `row` is the text of one row with `#1`, `#2`, ... standing for that
/// row's parameters (a parameter may appear more than once); the SQL is
/// `head`, the rows joined by commas, then `tail`.
pub(crate) struct Rows {
    head: &'static str,
    /// The row's text cut at its parameters: text, then which parameter.
    pieces: Vec<(&'static str, usize)>,
    end: &'static str,
    tail: &'static str,
    width: usize,
    args: Vec<Arg>,
}

impl Rows {
    pub(crate) fn new(head: &'static str, row: &'static str, tail: &'static str) -> Rows {
        let mut pieces = Vec::new();
        let mut rest = row;
        while let Some(i) = rest.find('#') {
            let digits = rest[i + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let n: usize = rest[i + 1..i + 1 + digits].parse().expect("a parameter number after #");
            pieces.push((&rest[..i], n));
            rest = &rest[i + 1 + digits..];
        }
        let width = pieces.iter().map(|p| p.1).max().expect("a row has parameters");
        Rows { head, pieces, end: rest, tail, width, args: Vec::new() }
    }

    pub(crate) fn push<const N: usize>(&mut self, args: [Arg; N]) {
        debug_assert_eq!(N, self.width, "row width of {}", self.head);
        self.args.extend(args);
    }

    pub(crate) fn len(&self) -> usize {
        self.args.len() / self.width
    }

    /// Appends the SQL for rows `start..start + rows` to `sql` and their
    /// arguments to `args`, in the order the parameters appear.
    ///
    /// SQLite gets anonymous `?` parameters, each bound in turn (a repeated
    /// parameter is bound again): SQLite looks numbered parameters up by
    /// name in a list, which for a thousand parameters costs more than the
    /// inserts themselves. PostgreSQL gets `$N`, numbered after the
    /// arguments already in `args`.
    fn write<'a>(&'a self, backend: Backend, start: usize, rows: usize, sql: &mut String, args: &mut Vec<&'a Arg>) {
        sql.push_str(self.head);
        let offset = args.len();
        for r in start..start + rows {
            if r > start {
                sql.push_str(", ");
            }
            let row = &self.args[r * self.width..(r + 1) * self.width];
            for &(text, n) in &self.pieces {
                sql.push_str(text);
                match backend {
                    Backend::Sqlite => {
                        sql.push('?');
                        args.push(&row[n - 1]);
                    }
                    Backend::Postgres => {
                        let _ = write!(sql, "${}", offset + (r - start) * self.width + n);
                    }
                }
            }
            if backend == Backend::Postgres {
                args.extend(row);
            }
            sql.push_str(self.end);
        }
        sql.push_str(self.tail);
    }

    /// The statements covering every row collected, in order: chunks of at
    /// most `MAX_ROWS` rows, each a power of two.
    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let total = self.len();
        let mut done = 0;
        std::iter::from_fn(move || {
            if done == total {
                return None;
            }
            let left = (total - done).min(MAX_ROWS);
            let rows = 1 << (usize::BITS - 1 - left.leading_zeros());
            done += rows;
            Some((done - rows, rows))
        })
    }
}

/// The statements of one write, run in order inside a transaction.
#[derive(Default)]
pub(crate) struct Batch {
    statements: Vec<Rows>,
}

impl Batch {
    pub(crate) fn push(&mut self, rows: Rows) {
        if rows.len() > 0 {
            self.statements.push(rows);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.statements.is_empty()
    }

    /// The batch as queries: on PostgreSQL one per statement chunk, on
    /// SQLite as few as the parameter limit allows.
    fn queries(&self, backend: Backend) -> Vec<(String, Vec<&Arg>)> {
        let mut queries = Vec::new();
        let (mut sql, mut args) = (String::new(), Vec::new());
        for rows in &self.statements {
            for (start, n) in rows.chunks() {
                let needed = n * rows.pieces.len();
                if !sql.is_empty() && (backend == Backend::Postgres || args.len() + needed > MAX_SQLITE_PARAMS) {
                    queries.push((std::mem::take(&mut sql), std::mem::take(&mut args)));
                }
                if !sql.is_empty() {
                    sql.push_str(";\n");
                }
                rows.write(backend, start, n, &mut sql, &mut args);
            }
        }
        if !sql.is_empty() {
            queries.push((sql, args));
        }
        queries
    }

    /// Runs the batch as one transaction on PostgreSQL.
    pub(crate) async fn commit_postgres(self, pool: &AnyPool) -> Result<()> {
        let queries = self.queries(Backend::Postgres);
        if queries.is_empty() {
            return Ok(());
        }
        let mut tx = pool.begin().await?;
        for (sql, args) in queries {
            run(&mut *tx, Backend::Postgres, sql, args).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs the statements inside a transaction the caller has open (see
    /// `Store::write_tx`), for writes that depend on a conditional update.
    pub(crate) async fn run_in(self, conn: &mut AnyConnection, backend: Backend) -> Result<()> {
        for (sql, args) in self.queries(backend) {
            run(&mut *conn, backend, sql, args).await?;
        }
        Ok(())
    }

    /// Runs the batch as one transaction on SQLite's write connection, which
    /// the caller holds. The transaction travels with the statements
    /// (`BEGIN IMMEDIATE; ...; COMMIT` in one query), so a batch costs one
    /// hand-off to sqlx's worker instead of three or more. If anything
    /// fails the transaction is rolled back; the second value is false when
    /// even that failed and the connection must not be used again.
    pub(crate) async fn commit_sqlite(self, conn: &mut AnyConnection) -> (Result<()>, bool) {
        let mut queries = self.queries(Backend::Sqlite);
        if queries.is_empty() {
            return (Ok(()), true);
        }
        queries[0].0.insert_str(0, "BEGIN IMMEDIATE;\n");
        queries.last_mut().expect("not empty").0.push_str(";\nCOMMIT");
        for (sql, args) in queries {
            if let Err(e) = run(&mut *conn, Backend::Sqlite, sql, args).await {
                let usable = sqlx::query("ROLLBACK").execute(&mut *conn).await.is_ok();
                return (Err(e), usable);
            }
        }
        (Ok(()), true)
    }
}

async fn run<'c, E>(conn: E, backend: Backend, sql: String, args: Vec<&Arg>) -> Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    // A SQLite batch's text is seldom seen twice: caching it would only
    // push the single statements other queries use out of the cache.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(backend == Backend::Postgres);
    for arg in args {
        q = match arg {
            Arg::Text(v) => q.bind(v.clone()),
            Arg::Int(v) => q.bind(*v),
        };
    }
    q.execute(conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_number_their_parameters_in_sequence() {
        let mut r = Rows::new("INSERT INTO t (a, b) VALUES ", "(#1, (SELECT #2 + #1))", "");
        assert_eq!(r.width, 2);
        r.push([Arg::from(1), Arg::from("x")]);
        r.push([Arg::from(2), Arg::from("y")]);
        assert_eq!(r.len(), 2);
        let (mut sql, mut args) = (String::new(), Vec::new());
        r.write(Backend::Postgres, 0, 2, &mut sql, &mut args);
        assert_eq!(sql, "INSERT INTO t (a, b) VALUES ($1, (SELECT $2 + $1)), ($3, (SELECT $4 + $3))");
        assert_eq!(args.len(), 4);
        sql.clear();
        r.write(Backend::Postgres, 1, 1, &mut sql, &mut args);
        assert_eq!(sql, "INSERT INTO t (a, b) VALUES ($5, (SELECT $6 + $5))");
        let (mut sql, mut args) = (String::new(), Vec::new());
        r.write(Backend::Sqlite, 0, 2, &mut sql, &mut args);
        assert_eq!(sql, "INSERT INTO t (a, b) VALUES (?, (SELECT ? + ?)), (?, (SELECT ? + ?))");
        let bound: Vec<Arg> = args.into_iter().cloned().collect();
        let (one, x, two, y) = (Arg::from(1), Arg::from("x"), Arg::from(2), Arg::from("y"));
        assert_eq!(bound, [one.clone(), x.clone(), one, two.clone(), y.clone(), two]);
    }

    #[test]
    fn chunks_are_powers_of_two_up_to_the_limit() {
        let mut r = Rows::new("INSERT INTO t (a) VALUES ", "(#1)", "");
        for i in 0..(MAX_ROWS + 11) {
            r.push([Arg::from(i as i64)]);
        }
        let sizes: Vec<usize> = r.chunks().map(|(_, n)| n).collect();
        assert_eq!(sizes, [MAX_ROWS, 8, 2, 1]);
        let starts: Vec<usize> = r.chunks().map(|(s, _)| s).collect();
        assert_eq!(starts, [0, MAX_ROWS, MAX_ROWS + 8, MAX_ROWS + 10]);
    }
}
