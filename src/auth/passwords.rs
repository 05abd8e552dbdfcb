//! Password hashes, the rules a new password must meet, and the bounded
//! pool every hash runs in.
//!
//! An argon2 hash takes about 19 MiB and tens of milliseconds of one core
//! on purpose. Run for every request that asks, 64 wrong passwords at once
//! took the server from 79 to 1,366 MiB and every other request from 0.8
//! to 514 ms. So hashes run in a pool the size of the machine's cores with
//! a short queue; past it the request is refused at once (`busy`) rather
//! than queued, and a password longer than [`MAX_PASSWORD_BYTES`] is
//! refused before it is hashed at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// The longest password accepted, in bytes (checked before hashing).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The shortest password a user may set, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// A username this short is only checked for equality with the password,
/// not containment: two letters (a pinyin surname such as `li`) occur in
/// ordinary words and would refuse good passwords.
const MIN_NAME_FOR_CONTAINMENT: usize = 3;

/// Lower-case common passwords, one a line, `#` lines a comment.
static COMMON: &str = include_str!("common-passwords.txt");

/// Why a new password is refused; each reads as an answer to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("must not be or contain the username")]
    ContainsUsername,
    #[error("is one of the most common passwords; choose another")]
    Common,
}

/// Checks a password a user is about to set. Pure.
pub fn check_new(username: &str, password: &str) -> Result<(), WeakPassword> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(WeakPassword::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(WeakPassword::TooShort);
    }
    let folded = password.to_lowercase();
    let name = username.to_lowercase();
    if folded == name || (name.chars().count() >= MIN_NAME_FOR_CONTAINMENT && folded.contains(&name)) {
        return Err(WeakPassword::ContainsUsername);
    }
    if COMMON.lines().any(|l| !l.starts_with('#') && l == folded) {
        return Err(WeakPassword::Common);
    }
    Ok(())
}

/// The process's pool: logins, new users and password changes share the cores.
pub fn pool() -> &'static HashPool {
    static POOL: std::sync::OnceLock<HashPool> = std::sync::OnceLock::new();
    POOL.get_or_init(HashPool::for_this_machine)
}

/// A hash of a random password, checked when a username does not exist so
/// that a wrong name takes as long as a wrong password.
pub fn decoy_hash() -> String {
    hash(&crate::store::random_hex(16)).unwrap_or_default()
}

pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string())
}

pub fn verify(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// Refused: the pool and its queue are full, or the hash failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("too many password checks at once; retry shortly")]
    Busy,
    #[error("password hashing failed")]
    Failed,
}

/// Runs password hashes at most `workers` at a time, with at most `queue`
/// more waiting; cheap to clone.
#[derive(Clone)]
pub struct HashPool {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue: usize,
    max_wait: Duration,
}

impl HashPool {
    pub fn new(workers: usize, queue: usize, max_wait: Duration) -> HashPool {
        HashPool { permits: Arc::new(Semaphore::new(workers.max(1))), waiting: Arc::default(), queue, max_wait }
    }

    /// One worker per core, a queue of four per worker, two seconds' wait.
    pub fn for_this_machine() -> HashPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HashPool::new(cores, cores * 4, Duration::from_secs(2))
    }

    /// Runs `work` (a hash or a check) on a blocking thread once a worker is free.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PoolError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(PoolError::Busy);
                }
                let waited = tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                match waited {
                    Ok(Ok(p)) => p,
                    _ => return Err(PoolError::Busy),
                }
            }
        };
        let result = tokio::task::spawn_blocking(work).await.map_err(|_| PoolError::Failed);
        drop(permit);
        result
    }

    pub async fn hash(&self, password: String) -> Result<String, PoolError> {
        self.run(move || hash(&password)).await?.map_err(|_| PoolError::Failed)
    }

    pub async fn verify(&self, password: String, hash: String) -> Result<bool, PoolError> {
        self.run(move || verify(&password, &hash)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_when_right() {
        let h = hash("s3cret-enough").unwrap();
        assert!(verify("s3cret-enough", &h));
        assert!(!verify("s3cret-enouGh", &h));
        assert!(!verify("s3cret-enough", "not a hash"));
    }

    #[test]
    fn weak_passwords_are_refused_with_the_reason() {
        assert_eq!(check_new("li", "short"), Err(WeakPassword::TooShort));
        assert_eq!(check_new("li", &"x".repeat(MAX_PASSWORD_BYTES + 1)), Err(WeakPassword::TooLong));
        assert_eq!(check_new("wangfang", "WangFang"), Err(WeakPassword::ContainsUsername));
        assert_eq!(check_new("wangfang", "my-wangfang-2026"), Err(WeakPassword::ContainsUsername));
        assert_eq!(check_new("li", "Password1"), Err(WeakPassword::Common));
        assert_eq!(check_new("li", "qwertyuiop"), Err(WeakPassword::Common));
        assert_eq!(check_new("li", "woaini1314"), Err(WeakPassword::Common));
        // A two-letter name is only refused as the whole password.
        assert_eq!(check_new("li", "reliable tea kettle"), Ok(()));
        assert_eq!(check_new("wangfang", "a long password"), Ok(()));
    }

    #[test]
    fn the_common_list_is_lower_case_and_long_enough_to_matter() {
        let entries: Vec<&str> = COMMON.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(entries.len() > 600, "{} entries", entries.len());
        assert!(entries.iter().all(|e| e.chars().count() >= MIN_PASSWORD_CHARS && *e == e.to_lowercase()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_refuses_past_its_queue_instead_of_waiting() {
        let pool = HashPool::new(1, 1, Duration::from_secs(5));
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let running = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap()).await.unwrap();
        let queued = tokio::spawn({
            let pool = pool.clone();
            async move { pool.run(|| 7).await }
        });
        // The one queue place is taken once the second call waits in it.
        while pool.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(pool.run(|| 8).await, Err(PoolError::Busy));
        release_tx.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(()));
        assert_eq!(queued.await.unwrap(), Ok(7));
        assert_eq!(pool.run(|| 9).await, Ok(9));
    }
}
