//! Persistence: the only module that knows SQL.
//!
//! One set of queries runs on SQLite (the embedded default) and PostgreSQL
//! through sqlx's `Any` driver; each database has its own migrations folder
//! because their DDL differs. Timestamps are stored as milliseconds since
//! the epoch (BIGINT) so both databases compare them the same way.
//!
//! The seam for live state: the dispatcher's [`Record`](crate::rules::dispatch::Record)s
//! are applied in order by [`Store::apply`], and [`Store::live_tasks`]
//! gives back what a restart must reload. A Redis-backed live state plugs in
//! at the same two points.

mod apply;
mod batch;
mod calls;
mod cars;
mod cases;
mod config_changes;
mod customers;
mod departments;
mod drivers;
mod events;
pub mod files;
mod floor;
mod followup;
mod history;
mod inns;
mod merchant_lists;
mod placed_calls;
mod recurring;
mod registrations;
mod reports;
mod scheduled;
mod shift_swaps;
mod shifts;
mod simulations;
mod tasks;
mod trips;
mod users;
mod violations;
mod warranties;

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;

use jiff::Timestamp;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, Row, SqlStr};

pub use self::calls::{CallOutcome, CallRecord, CallWrite, CtiEvent, MissedCall, MissedCaller};
pub use self::cars::{CarOrder, NewCarOrder};
pub use self::cases::{CaseEvent, CaseFilter, CaseRecord, CaseStepWrite, NewCase, SatisfactionAnswer};
pub use self::config_changes::{ChangeSource, ConfigChangeRecord, NewConfigChange, ReloadRequest, ReloadStatus};
pub use self::customers::{Customer, CustomerChange, CustomerProfile, OpenCase, PastCall, PastRegistration};
pub use self::departments::{Department, DepartmentWrite, MembershipRefusal};
pub use self::drivers::{Driver, NewDriver};
pub use self::events::{EventRecord, EventWrite, OrderWrite};
pub use self::followup::{BacklogEntry, CheckpointCallback};
pub use self::history::OrderEvent;
pub use self::inns::{Inn, InnOrder, NewInnOrder, ReminderWrite};
pub use self::merchant_lists::ConfirmedLists;
pub use self::placed_calls::{CallStep, NewPlacedCall, OpenCall, PlacedCall, PlacedEnd};
pub use self::recurring::{NewRecurringWork, RecurringWork};
pub use self::registrations::NewRegistration;
pub use self::shift_swaps::{Decision, NewSwap, Swap};
pub use self::shifts::ScheduleSpec;
pub use self::simulations::{SimulationRecord, SimulationStatus};
pub use self::tasks::{Attempt, AttemptsSoFar, JournalPosition, TaskEvent, TaskFilter, TaskRecord};
pub use self::trips::{DriverBooking, DriverCall, NewTrip, Trip, TripRefusal};
pub use self::users::{AccountChange, NewUser, User, UserPatch};
pub use self::violations::{NewViolation, Violation};
pub use self::warranties::{NewWarranty, WarrantyRecord};
use crate::rules::dispatch::TaskDraft;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("stored value is not valid: {0}")]
    Corrupt(String),
    /// A step on a trip or car order that its current state does not
    /// allow; the transaction rolled back.
    #[error("{0}")]
    Refused(#[from] trips::TripRefusal),
    /// A department's member who does not exist or belongs elsewhere; the
    /// transaction rolled back.
    #[error("{0}")]
    Membership(#[from] departments::MembershipRefusal),
}

/// A write refused by a unique index becomes `Conflict(what)`.
pub(crate) fn conflict_if_taken<T>(result: Result<T>, what: &'static str) -> Result<T> {
    match result {
        Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => {
            // A table with two unique columns: the index named in the message
            // (SQLite names the column, PostgreSQL the index) tells which.
            if e.message().contains("work_number") || e.constraint().is_some_and(|c| c.contains("work_number")) {
                return Err(StoreError::Conflict("work_number"));
            }
            Err(StoreError::Conflict(what))
        }
        other => other,
    }
}

impl StoreError {
    /// Splits a refusal (an answer for the user) from a failure.
    pub(crate) fn refusal<T>(self) -> Result<std::result::Result<T, trips::TripRefusal>> {
        match self {
            StoreError::Refused(r) => Ok(Err(r)),
            other => Err(other),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite's one write connection, taken from the pool on first use and
    /// kept. SQLite has one writer at a time; a second one spins in its busy
    /// handler, sleeping for milliseconds, so writers take turns on this
    /// lock instead. Keeping the same connection also keeps its page cache:
    /// a connection that did not make the last commit must drop its cache
    /// and read the pages again. Unused for PostgreSQL.
    sqlite_writer: std::sync::Arc<tokio::sync::Mutex<Option<PoolConnection<Any>>>>,
}

/// Copies SQLite's write-ahead log into the database ten times a second,
/// until the pool closes. Left to SQLite, the checkpoint runs inside
/// whichever commit crosses 1,000 pages and makes it wait for a disk flush:
/// under load that stalls every writer, and with them the calls waiting on
/// a write. A passive checkpoint on its own connection lets writers go on,
/// but its flush still slows the writer's own file writes for as long as it
/// lasts, so checkpoints are kept small: measured with `sip_load` at 1,000
/// calls/s, checkpoints once a second put INVITE→302 at p99 7-8 ms (max
/// 20-28 ms), every 100 ms at p99 3.4-4.0 ms (max 4-6 ms). (The last
/// connection to close also checkpoints.)
async fn checkpoint_in_background(pool: AnyPool) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "SQLite checkpoint failed; will retry");
        }
    }
}

impl Store {
    /// Connects to `url`, creating the SQLite file (and its folder) if needed.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        if backend == Backend::Sqlite
            && let Some(path) = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p))
        {
            // The folder 0700 and the file 0600 from the start: the database
            // holds password hashes and every customer's history.
            let io = |e| StoreError::Database(sqlx::Error::Io(e));
            if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
                files::private_dir(dir).map_err(io)?;
            }
            match files::private_file(Path::new(path)) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(io(e)),
                _ => {}
            }
        }
        let max = if backend == Backend::Sqlite { 4 } else { 10 };
        let sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            // A SQLite connection is a file handle in this process: it cannot
            // drop the way a network connection can, so no ping on every
            // checkout (each would be one more hand-off to sqlx's worker).
            .test_before_acquire(!sqlite)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // In WAL mode NORMAL still survives a crash of the process; only
                        // a power cut can lose the last commits. Without it every commit
                        // waits for a disk flush, which caps calls at a few hundred a second.
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                        // Checkpoints (copying the WAL into the database, with a disk
                        // flush) run in the background, not inside a writer's commit:
                        // see `checkpoint_in_background`.
                        sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut *conn).await?;
                        // A burst of writes may grow the log; once it has been
                        // copied into the database the file is cut back to this.
                        sqlx::query("PRAGMA journal_size_limit = 67108864").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets REST reads run while the writer commits.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
            tokio::spawn(checkpoint_in_background(pool.clone()));
        }
        Ok(Store { pool, backend, sqlite_writer: Default::default() })
    }

    /// Commits a batch in one transaction: on SQLite on the one write
    /// connection, in turn; on PostgreSQL on any pooled connection.
    pub(crate) async fn commit(&self, batch: batch::Batch) -> Result<()> {
        match self.backend {
            Backend::Postgres => batch.commit_postgres(&self.pool).await,
            Backend::Sqlite => {
                let mut writer = self.sqlite_writer.lock().await;
                let conn = self.kept_writer(&mut writer).await?;
                let (result, usable) = batch.commit_sqlite(conn).await;
                if !usable {
                    // Left mid-transaction: closed, never reused.
                    drop(writer.take().map(PoolConnection::detach));
                }
                result
            }
        }
    }

    async fn kept_writer<'a>(&self, slot: &'a mut Option<PoolConnection<Any>>) -> Result<&'a mut PoolConnection<Any>> {
        if slot.is_none() {
            *slot = Some(self.pool.acquire().await?);
        }
        Ok(slot.as_mut().expect("just set"))
    }

    /// Runs `work` in one transaction: on SQLite on the kept write
    /// connection, in turn with the batches; rolled back if it fails.
    pub(crate) async fn write_tx<T: Send>(
        &self,
        work: impl for<'c> FnOnce(&'c mut sqlx::AnyConnection) -> futures_util::future::BoxFuture<'c, Result<T>> + Send,
    ) -> Result<T> {
        match self.backend {
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                let value = work(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
            Backend::Sqlite => {
                let mut writer = self.sqlite_writer.lock().await;
                let conn = self.kept_writer(&mut writer).await?;
                let mut tx = sqlx::Connection::begin(&mut **conn).await?;
                let value = work(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations; safe to run on every start and from several nodes.
    pub async fn migrate(&self) -> Result<()> {
        let files: [(&str, &str, &str); 29] = [
            (
                "init",
                include_str!("migrations/sqlite/0001_init.sql"),
                include_str!("migrations/postgres/0001_init.sql"),
            ),
            (
                "missed_calls",
                include_str!("migrations/sqlite/0002_missed_calls.sql"),
                include_str!("migrations/postgres/0002_missed_calls.sql"),
            ),
            (
                "call_records",
                include_str!("migrations/sqlite/0003_call_records.sql"),
                include_str!("migrations/postgres/0003_call_records.sql"),
            ),
            (
                "missed_followup",
                include_str!("migrations/sqlite/0004_missed_followup.sql"),
                include_str!("migrations/postgres/0004_missed_followup.sql"),
            ),
            (
                "scheduled_tasks",
                include_str!("migrations/sqlite/0005_scheduled_tasks.sql"),
                include_str!("migrations/postgres/0005_scheduled_tasks.sql"),
            ),
            (
                "registrations",
                include_str!("migrations/sqlite/0006_registrations.sql"),
                include_str!("migrations/postgres/0006_registrations.sql"),
            ),
            (
                "events_ended",
                include_str!("migrations/sqlite/0007_events_ended.sql"),
                include_str!("migrations/postgres/0007_events_ended.sql"),
            ),
            (
                "shifts",
                include_str!("migrations/sqlite/0008_shifts.sql"),
                include_str!("migrations/postgres/0008_shifts.sql"),
            ),
            (
                "cases",
                include_str!("migrations/sqlite/0009_cases.sql"),
                include_str!("migrations/postgres/0009_cases.sql"),
            ),
            (
                "live_journal",
                include_str!("migrations/sqlite/0010_live_journal.sql"),
                include_str!("migrations/postgres/0010_live_journal.sql"),
            ),
            (
                "drivers",
                include_str!("migrations/sqlite/0011_drivers.sql"),
                include_str!("migrations/postgres/0011_drivers.sql"),
            ),
            (
                "car_orders",
                include_str!("migrations/sqlite/0012_car_orders.sql"),
                include_str!("migrations/postgres/0012_car_orders.sql"),
            ),
            (
                "car_trips",
                include_str!("migrations/sqlite/0013_car_trips.sql"),
                include_str!("migrations/postgres/0013_car_trips.sql"),
            ),
            (
                "inns",
                include_str!("migrations/sqlite/0014_inns.sql"),
                include_str!("migrations/postgres/0014_inns.sql"),
            ),
            (
                "accounts",
                include_str!("migrations/sqlite/0015_accounts.sql"),
                include_str!("migrations/postgres/0015_accounts.sql"),
            ),
            (
                "missed_reported_at",
                include_str!("migrations/sqlite/0016_missed_reported_at.sql"),
                include_str!("migrations/postgres/0016_missed_reported_at.sql"),
            ),
            (
                "work_numbers",
                include_str!("migrations/sqlite/0017_work_numbers.sql"),
                include_str!("migrations/postgres/0017_work_numbers.sql"),
            ),
            (
                "departments",
                include_str!("migrations/sqlite/0018_departments.sql"),
                include_str!("migrations/postgres/0018_departments.sql"),
            ),
            (
                "violations",
                include_str!("migrations/sqlite/0019_violations.sql"),
                include_str!("migrations/postgres/0019_violations.sql"),
            ),
            (
                "merchant_lists",
                include_str!("migrations/sqlite/0020_merchant_lists.sql"),
                include_str!("migrations/postgres/0020_merchant_lists.sql"),
            ),
            (
                "shift_swaps",
                include_str!("migrations/sqlite/0021_shift_swaps.sql"),
                include_str!("migrations/postgres/0021_shift_swaps.sql"),
            ),
            (
                "recurring_work",
                include_str!("migrations/sqlite/0022_recurring_work.sql"),
                include_str!("migrations/postgres/0022_recurring_work.sql"),
            ),
            (
                "warranties",
                include_str!("migrations/sqlite/0023_warranties.sql"),
                include_str!("migrations/postgres/0023_warranties.sql"),
            ),
            (
                "events",
                include_str!("migrations/sqlite/0024_events.sql"),
                include_str!("migrations/postgres/0024_events.sql"),
            ),
            (
                "customer_file",
                include_str!("migrations/sqlite/0025_customer_file.sql"),
                include_str!("migrations/postgres/0025_customer_file.sql"),
            ),
            (
                "placed_calls",
                include_str!("migrations/sqlite/0026_placed_calls.sql"),
                include_str!("migrations/postgres/0026_placed_calls.sql"),
            ),
            (
                "simulations",
                include_str!("migrations/sqlite/0027_simulations.sql"),
                include_str!("migrations/postgres/0027_simulations.sql"),
            ),
            (
                "routing",
                include_str!("migrations/sqlite/0028_routing.sql"),
                include_str!("migrations/postgres/0028_routing.sql"),
            ),
            (
                "config_changes",
                include_str!("migrations/sqlite/0029_config_changes.sql"),
                include_str!("migrations/postgres/0029_config_changes.sql"),
            ),
        ];
        let migrations = files
            .into_iter()
            .enumerate()
            .map(|(i, (name, sqlite, postgres))| {
                let sql = if self.backend == Backend::Sqlite { sqlite } else { postgres };
                Migration::new(
                    i as i64 + 1,
                    Cow::Borrowed(name),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations).run(&self.pool).await?;
        self.register_stored_kinds().await
    }

    /// Registers the names of the centre's own kinds that the store holds
    /// tasks of, so that a kind removed from the configuration still names
    /// its old tasks (they are worked by the rule of a kind not configured).
    async fn register_stored_kinds(&self) -> Result<()> {
        let rows = sqlx::query("SELECT DISTINCT kind FROM tasks").fetch_all(&self.pool).await?;
        for row in &rows {
            let name: String = row.try_get("kind")?;
            if name.parse::<crate::domain::TaskKind>().is_err() {
                crate::domain::TaskKind::register(&name)
                    .map_err(|e| StoreError::Corrupt(format!("task kind in the store: {e}")))?;
            }
        }
        Ok(())
    }

    /// A named secret, generated on first use and shared by every node
    /// using this database.
    pub async fn secret(&self, name: &str) -> Result<String> {
        let fresh = random_hex(32);
        sqlx::query("INSERT INTO server_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(&fresh)
            .execute(&self.pool)
            .await?;
        let row =
            sqlx::query("SELECT value FROM server_secrets WHERE name = $1").bind(name).fetch_one(&self.pool).await?;
        Ok(row.try_get("value")?)
    }

    pub async fn close(&self) {
        // Closing waits for every connection to come back, the kept write
        // connection included.
        drop(self.sqlite_writer.lock().await.take());
        self.pool.close().await;
    }

    #[cfg(test)]
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Random bytes as lowercase hex, from the operating system's generator.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random generator failed");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn from_ms(v: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn opt_ms(v: Option<i64>) -> Result<Option<Timestamp>> {
    v.map(from_ms).transpose()
}

/// Reads a column and parses it into a domain type.
pub(crate) fn parse<T: FromStr>(row: &AnyRow, col: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    let text: String = row.try_get(col)?;
    text.parse().map_err(|e: T::Err| StoreError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn parse_opt<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let text: Option<String> = row.try_get(col)?;
    text.map(|t| t.parse().map_err(|e: T::Err| StoreError::Corrupt(format!("{col}: {e}")))).transpose()
}

#[cfg(test)]
mod apply_tests;
#[cfg(test)]
mod month_tests;
#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod travel_tests;
