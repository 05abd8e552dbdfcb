//! Secrets at rest: the token-signing secret in a file of its own, and the
//! permissions of the data files.
//!
//! Whoever holds the signing secret can sign an admin's token, so it is
//! not kept in the database (a copy of `switchboard.db` in a backup, or a
//! database user who reads every table, must not be enough). It is read
//! from `auth.token_secret` when set (for example from the environment of
//! a service manager), else from `auth.token_secret_file` (default
//! `<data_dir>/token_secret`), which is created with mode 0600 on the
//! first start. The data folder is created 0700 and the SQLite file 0600
//! (the store does that); `check-config` warns about any of them that
//! others can read.

use std::io::Write;
use std::path::Path;

use crate::config::Config;
use crate::store::files::{private_dir, private_file};
use crate::store::random_hex;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("auth.token_secret_file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("auth.token_secret_file {path}: must hold at least 32 characters")]
    TooShort { path: String },
}

/// The token-signing secret: configured, or read from (or first written to) its file.
pub fn token_secret(config: &Config) -> Result<String, SecretError> {
    if !config.auth.token_secret.is_empty() {
        return Ok(config.auth.token_secret.clone());
    }
    let path = config.token_secret_path();
    let shown = path.display().to_string();
    let io = |source| SecretError::Io { path: shown.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim().to_owned();
            if secret.len() < 32 {
                return Err(SecretError::TooShort { path: shown });
            }
            if let Some(warning) = open_to_others(&path, "the token-signing secret") {
                tracing::warn!("{warning}");
            }
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                private_dir(dir).map_err(io)?;
            }
            let secret = random_hex(32);
            let mut file = private_file(&path).map_err(io)?;
            file.write_all(format!("{secret}\n").as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            tracing::info!(file = %path.display(), "token-signing secret created (mode 0600)");
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

/// A warning when `path` exists and others than its owner may read it.
pub fn open_to_others(path: &Path, what: &str) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then(|| {
            format!(
                "{what} ({}) can be read by others than its owner (mode {:o}); chmod {} it",
                path.display(),
                mode & 0o777,
                if path.is_dir() { "700" } else { "600" }
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = (path, what);
        None
    }
}

/// Warnings about the data files of `config` that others can read.
pub fn permission_warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let data = &config.server.data_dir;
    warnings.extend(open_to_others(data, "the data folder"));
    if config.server.database_url.is_empty() {
        for name in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
            warnings.extend(open_to_others(&data.join(name), "the database"));
        }
    }
    if config.auth.token_secret.is_empty() {
        warnings.extend(open_to_others(&config.token_secret_path(), "the token-signing secret"));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_secret_is_made_once_for_its_owner_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = crate::testing::temp_dir("at-rest");
        let mut config = Config::default();
        config.server.data_dir = dir.join("data");
        let secret = token_secret(&config).unwrap();
        assert!(secret.len() >= 32);
        assert_eq!(token_secret(&config).unwrap(), secret, "read back, not made again");
        let path = config.token_secret_path();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&config.server.data_dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(permission_warnings(&config).is_empty(), "{:?}", permission_warnings(&config));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let warnings = permission_warnings(&config);
        assert!(warnings.iter().any(|w| w.contains("token-signing secret") && w.contains("644")), "{warnings:?}");
        std::fs::write(&path, "short\n").unwrap();
        assert!(matches!(token_secret(&config), Err(SecretError::TooShort { .. })));
        config.auth.token_secret = "x".repeat(32);
        assert_eq!(token_secret(&config).unwrap(), "x".repeat(32), "a configured secret wins");
    }
}
