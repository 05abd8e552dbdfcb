//! Keeps the running server in line with the accounts in the store: each
//! account's standing (what its tokens may do, `crate::auth`) and, for
//! those who take work, the dispatcher's profile of them.
//!
//! Every change to an account is numbered in the store in the transaction
//! that makes it (`account_changes`), whoever makes it: a REST handler on
//! this node, the command line (`switchboard user ...`) while the server
//! runs, another node. The leading node follows the numbers once a second
//! and applies each changed account; a REST handler applies its own change
//! at once as well, so its caller sees the effect in the answer. Applying
//! is idempotent: it reads the account as stored and makes the server
//! agree.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::auth::accounts;
use crate::domain::{AgentStatus, UserId};
use crate::rules::dispatch::Command;
use crate::runtime::hub::{Hub, HubError};
use crate::runtime::live_rules::LiveRules;
use crate::store::{Store, StoreError, User};

/// How often the store is asked for changes made elsewhere.
const EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct AccountWatch {
    pub store: Store,
    pub auth: Arc<Auth>,
    pub hub: Hub,
    pub rules: LiveRules,
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hub(#[from] HubError),
}

impl AccountWatch {
    /// Loads every account's standing and the logged-out tokens into
    /// `auth`; returns the number of the last change, to follow from.
    pub async fn load(store: &Store, auth: &Auth) -> Result<i64, StoreError> {
        let seq = store.last_account_change().await?;
        for user in store.users().await? {
            auth.set_standing(user.id, Some(accounts::standing(&user)));
        }
        let now = Timestamp::now();
        for (token, expires_at) in store.revoked_tokens(now).await? {
            match token.parse() {
                Ok(id) => auth.revoke(id, expires_at, now),
                Err(_) => tracing::warn!(token, "a stored revoked token id does not parse; ignored"),
            }
        }
        Ok(seq)
    }

    /// Makes the server agree with `user` as stored now: its tokens and
    /// sockets, and its place in the dispatcher.
    pub async fn apply(&self, user: UserId) -> Result<(), WatchError> {
        let stored = self.store.user(user).await?;
        self.auth.set_standing(user, stored.as_ref().map(accounts::standing));
        let known = self
            .hub
            .query(move |d, _| d.agent_snapshot(user).map(|s| (d.agent_profile(user).cloned(), s.status)))
            .await?;
        match (stored.filter(User::routable), known) {
            (Some(u), known) => {
                let profile = u.agent_profile(&self.rules.get());
                if known.as_ref().and_then(|k| k.0.as_ref()) != Some(&profile) {
                    self.hub.command(Command::UpsertAgent(profile)).await?;
                }
            }
            // No longer takes work (deleted, disabled, another role): off
            // the floor, and what it held back to the queue.
            (None, Some((_, status))) if status != AgentStatus::Offline => {
                self.hub.command(Command::ForceStatus { agent: user, status: AgentStatus::Offline }).await?;
            }
            (None, _) => {}
        }
        Ok(())
    }

    /// Follows the numbered changes from `seq` until `stop`.
    pub async fn run(self, mut seq: i64, stop: CancellationToken) {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let changes = match self.store.account_changes_since(seq).await {
                Ok(changes) => changes,
                Err(e) => {
                    tracing::warn!(error = %e, "reading account changes failed; will retry");
                    continue;
                }
            };
            let Some(last) = changes.last().map(|c| c.seq) else { continue };
            let users: BTreeSet<UserId> = changes.iter().map(|c| c.user).collect();
            let mut applied = true;
            for user in users {
                if let Err(e) = self.apply(user).await {
                    tracing::warn!(%user, error = %e, "applying an account change failed; will retry");
                    applied = false;
                }
            }
            if applied {
                seq = last;
            }
        }
    }
}
