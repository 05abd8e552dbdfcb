//! Reloads of a running server from its configuration file: on SIGHUP, and
//! when `switchboard reload` asks through the store (the command cannot
//! reach the process otherwise, and with several nodes only the leader
//! serves). Either way the file is re-read as the server was started with
//! it (the environment and the command line's flags over it), then checked
//! and applied like a change over REST (`api::config::reload`).

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::config::reload;
use crate::api::state::AppState;
use crate::config::{Config, live_changes, live_part};
use crate::store::{ChangeSource, NewConfigChange, ReloadStatus, Store, StoreError};

/// How often the store is asked for reloads from the command line.
const POLL: Duration = Duration::from_millis(500);
/// A request older than this when seen (the server was down) is not applied.
const STALE: SignedDuration = SignedDuration::from_secs(60);

/// What a server needs to reload from its file.
pub struct Reloads {
    /// Reads the configuration as the server was started with it.
    pub reread: Arc<dyn Fn() -> Result<Config, String> + Send + Sync>,
    /// A message for each SIGHUP.
    pub signals: mpsc::Receiver<()>,
}

/// Applies reloads until the shutdown.
pub async fn follow(state: AppState, mut reloads: Reloads, shutdown: CancellationToken) {
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            Some(()) = reloads.signals.recv() => {
                // A signal cannot say whether to re-evaluate: it does not.
                let _ = from_file(&state, &reloads, ChangeSource::Signal, false).await;
            }
            _ = poll.tick() => asked_from_the_command_line(&state, &reloads).await,
        }
    }
}

/// Takes the oldest pending request from `switchboard reload`, if any, and
/// writes its outcome for the command to print.
async fn asked_from_the_command_line(state: &AppState, reloads: &Reloads) {
    let request = match state.store.next_reload_request().await {
        Ok(Some(request)) => request,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reload requests could not be read");
            return;
        }
    };
    match state.store.take_reload_request(request.id).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(error = %e, request = request.id, "a reload request could not be taken");
            return;
        }
    }
    let now = Timestamp::now();
    let (status, outcome) = if now.duration_since(request.requested_at) > STALE {
        (ReloadStatus::Expired, "asked for more than a minute before a server saw it; ask again".to_owned())
    } else {
        match from_file(state, reloads, ChangeSource::Cli, request.reevaluate).await {
            Ok(said) => (ReloadStatus::Applied, said),
            Err(why) => (ReloadStatus::Refused, why),
        }
    };
    if let Err(e) = state.store.finish_reload_request(request.id, status, &outcome, Timestamp::now()).await {
        tracing::warn!(error = %e, request = request.id, "a reload's outcome could not be written");
    }
}

/// Re-reads the file and applies it; says what was applied, or why not.
async fn from_file(
    state: &AppState,
    reloads: &Reloads,
    source: ChangeSource,
    reevaluate: bool,
) -> Result<String, String> {
    let outcome = match (reloads.reread)() {
        Err(problems) => Err(problems),
        Ok(new) => match reload(state, |_| Ok(new), None, source, reevaluate).await {
            Ok(applied) => Ok(match applied.version {
                Some(version) => {
                    let keys: Vec<&str> = applied.changes.iter().map(|c| c.key.as_str()).collect();
                    format!(
                        "applied as version {version}: {} ({} tasks re-planned)",
                        keys.join(", "),
                        applied.replanned
                    )
                }
                None => "nothing changed".to_owned(),
            }),
            Err(refused) => Err(format!("{}: {}", refused.code, refused.message)),
        },
    };
    match &outcome {
        Ok(said) => tracing::info!(source = source.as_str(), "configuration reload: {said}"),
        Err(why) => tracing::warn!(source = source.as_str(), "configuration reload refused, nothing changed: {why}"),
    }
    outcome
}

/// The configuration a node starts (or takes over) with: its file, unless
/// a version recorded after the file was last modified holds other live
/// sections, which then apply over the file, so that a change made while
/// the centre ran outlives a restart and reaches the node that takes over.
/// A file edited since the last version and changing live keys is recorded
/// as a version of its own. A recorded version this file cannot take (its
/// queues changed) is left, with a warning.
pub async fn at_start(config: Config, store: &Store) -> Result<Config, StoreError> {
    let Some((latest, live)) = store.latest_config_change().await? else { return Ok(config) };
    let recorded = match config.with_live_part(&live) {
        Ok(recorded) if recorded.rules().is_ok() => recorded,
        _ => {
            tracing::warn!(
                version = latest.version,
                "the recorded configuration does not fit this file; the file applies"
            );
            return Ok(config);
        }
    };
    if config.file_modified.is_none_or(|modified| modified < latest.changed_at) {
        if live_part(&recorded) != live_part(&config) {
            tracing::info!(version = latest.version, "configuration version {} applies over the file", latest.version);
        }
        return Ok(recorded);
    }
    if let Ok(changes) = live_changes(&recorded, &config)
        && !changes.is_empty()
    {
        let change = NewConfigChange {
            at: Timestamp::now(),
            by: None,
            source: ChangeSource::Start,
            reevaluate: false,
            replanned: 0,
            changes: serde_json::to_value(&changes).unwrap_or_default(),
            config: live_part(&config).to_string(),
        };
        let version = store.record_config_change(change, &[]).await?;
        tracing::info!(
            version,
            "the configuration file was edited since the last version: recorded as version {version}"
        );
    }
    Ok(config)
}
