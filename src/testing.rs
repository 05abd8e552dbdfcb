//! Helpers for tests that need a real database: a throw-away SQLite file,
//! a PostgreSQL schema of their own, or a Redis key prefix of their own. Public so that the end-to-end tests
//! in `tests/` share them.
//!
//! PostgreSQL comes from `SWITCHBOARD_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it cannot be reached a
//! test is skipped with a message on a developer machine, and fails when
//! `CI=true`, so CI never passes by skipping.

use std::path::PathBuf;

use crate::store::{Store, random_hex};

/// A database that removes itself (file or schema) when dropped.
pub struct TestDb {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Schema { admin_url: String, schema: String },
}

impl TestDb {
    /// A fresh SQLite database in its own temporary folder.
    pub fn sqlite() -> TestDb {
        let dir = temp_dir("db");
        TestDb {
            url: format!("sqlite://{}?mode=rwc", dir.join("switchboard.db").display()),
            cleanup: Cleanup::Dir(dir),
        }
    }

    /// A fresh schema in the test PostgreSQL, or `None` (with a message) when
    /// PostgreSQL is not reachable outside CI.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var("SWITCHBOARD_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let schema = format!("sb_test_{}", random_hex(6));
        let created = async {
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&admin_url).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&pool).await?;
            pool.close().await;
            Ok::<_, sqlx::Error>(())
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), created).await {
            Ok(Ok(())) => {}
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                require_service("PostgreSQL", &admin_url, &why);
                return None;
            }
        }
        let sep = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
        Some(TestDb { url, cleanup: Cleanup::Schema { admin_url, schema } })
    }

    /// Connects and migrates. Keep the `TestDb` bound to a name while the
    /// store is used: dropping it deletes the database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url).await.expect("connect test database");
        store.migrate().await.expect("migrate test database");
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema { admin_url, schema } => {
                // Drop runs outside any runtime guarantee: use a small one of its own.
                let (admin_url, schema) = (admin_url.clone(), schema.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                    rt.block_on(async {
                        let pool = sqlx::AnyPool::connect(&admin_url).await.ok()?;
                        let sql = sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                        sqlx::query(sql).execute(&pool).await.ok()?;
                        pool.close().await;
                        Some(())
                    })
                })
                .join();
            }
        }
    }
}

/// A new empty temporary folder.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-{label}-{}", random_hex(6)));
    std::fs::create_dir_all(&dir).expect("create temporary folder");
    dir
}

/// Fails in CI, warns elsewhere, when a service a test needs is missing.
pub fn require_service(name: &str, addr: &str, why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} at {addr} is required in CI but unavailable: {why}");
    }
    eprintln!("SKIPPED: {name} at {addr} is not reachable ({why}); set CI=true to make this a failure");
}

/// A key prefix of its own in the test Redis; its keys go when dropped.
///
/// Redis comes from `REDIS_URL` (default `redis://127.0.0.1:6379`). Like
/// PostgreSQL, a missing Redis skips the test on a developer machine and
/// fails it in CI.
pub struct TestRedis {
    pub url: String,
    pub prefix: String,
}

impl TestRedis {
    pub async fn new(label: &str) -> Option<TestRedis> {
        let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let reached = async {
            let client = redis::Client::open(url.as_str())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(3), reached).await {
            Ok(Ok(_)) => Some(TestRedis { url, prefix: format!("sbtest-{label}-{}", random_hex(6)) }),
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                require_service("Redis", &url, &why);
                None
            }
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let pattern = format!("{{{}}}:*", self.prefix);
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection() else { return };
        let keys: Vec<String> = match redis::Commands::scan_match(&mut conn, &pattern) {
            Ok(iter) => iter.filter_map(Result::ok).collect(),
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<i64> = redis::Commands::del(&mut conn, keys);
        }
    }
}
