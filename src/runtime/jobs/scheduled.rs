//! Releases scheduled tasks into the dispatcher when their start time
//! comes (a call one week before an event, a callback's next attempt).
//!
//! The store is the schedule: a task waits there as `scheduled`, so it
//! survives restarts without the dispatcher holding it. Each release moves
//! it to `waiting` in the store first (a conditional update, so on several
//! nodes one node releases it), then hands it to the dispatcher.

use std::time::Duration;

use jiff::Timestamp;

use crate::runtime::hub::Hub;
use crate::runtime::intake;
use crate::runtime::jobs::Job;
use crate::runtime::live_rules::LiveRules;
use crate::store::{Store, StoreError};

pub struct Scheduler {
    pub store: Store,
    pub hub: Hub,
    pub rules: LiveRules,
}

impl Job for Scheduler {
    type Error = StoreError;
    const NAME: &'static str = "releasing scheduled tasks";
    /// Longest wait between looks at the schedule: a task scheduled meanwhile
    /// (by REST, or by another node) is released at most this late.
    const MAX_SLEEP: Duration = Duration::from_secs(1);
    const RETRY: Duration = Duration::from_secs(5);

    async fn round(&mut self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.release_due(now).await
    }
}

impl Scheduler {
    /// Releases every task due at `now`; returns when the next one is due.
    async fn release_due(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        for (task, attempts) in self.store.due_scheduled(now).await? {
            if !self.store.release_scheduled(task.id, now).await? {
                continue;
            }
            let mut new = task.to_new_task(&self.rules.get(), &attempts, None);
            new.enqueued_at = now;
            tracing::info!(task = %task.id, kind = %task.kind, "scheduled task released");
            // Released in the store above (now `waiting`).
            intake::hand_over(&self.hub, vec![new]).await;
        }
        self.store.next_scheduled().await
    }
}
