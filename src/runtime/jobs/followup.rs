//! Fires the missed-call checkpoints: the shell around
//! [`followup::release`](crate::rules::followup::release).
//!
//! At each checkpoint, and once at start-up for the latest checkpoint that
//! passed while no node was running, the runner waits for every pending
//! call write, reads the backlog, lets the rules decide, and stores the
//! callbacks together with the claim on that checkpoint in one transaction
//! (so on several nodes one fires it, and a crash leaves all or nothing).
//! Only then does the dispatcher hear of the new tasks; tasks stored but
//! not yet dispatched are picked up by the next start's recovery.

use std::collections::HashMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::domain::TaskKind;
use crate::rules::dispatch::TaskDraft;
use crate::rules::followup::{self, Checkpoints};
use crate::runtime::hub::Hub;
use crate::runtime::intake;
use crate::runtime::jobs::Job;
use crate::runtime::live_rules::LiveRules;
use crate::runtime::record_writer::Writer;
use crate::store::{CheckpointCallback, Store, StoreError};

pub struct Runner {
    pub store: Store,
    pub writer: Writer,
    pub hub: Hub,
    pub rules: LiveRules,
    pub checkpoints: Checkpoints,
}

impl Job for Runner {
    type Error = StoreError;
    const NAME: &'static str = "the missed-call checkpoint";
    /// Longest sleep before the clock is looked at again, so that a wall-clock
    /// change (NTP step, suspend) delays a checkpoint by at most this much.
    const MAX_SLEEP: Duration = Duration::from_secs(30);
    /// Wait before trying a checkpoint again after the store failed.
    const RETRY: Duration = Duration::from_secs(5);

    async fn round(&mut self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.catch_up(now).await?;
        let after = now.checked_add(SignedDuration::from_millis(1)).unwrap_or(now);
        Ok(Some(self.checkpoints.release_at(&self.rules.get().calendar, after)))
    }
}

impl Runner {
    /// Fires the latest checkpoint at or before `now` unless it has fired.
    async fn catch_up(&self, now: Timestamp) -> Result<(), StoreError> {
        let Some(latest) = self.checkpoints.latest_at_or_before(&self.rules.get().calendar, now) else { return Ok(()) };
        if self.store.last_checkpoint_run().await?.is_some_and(|last| last >= latest) {
            return Ok(());
        }
        self.fire(latest, now).await
    }

    async fn fire(&self, checkpoint: Timestamp, now: Timestamp) -> Result<(), StoreError> {
        // Misses the connector has queued for the store belong to this run.
        let _ = self.writer.flush().await;
        let backlog: Vec<followup::Miss> = self.store.missed_backlog().await?.iter().map(|e| e.miss()).collect();
        let answered: HashMap<_, _> = self.store.answered_backlog_callers().await?;
        let release = followup::release(&self.rules.get().calendar, &self.checkpoints, &backlog, &answered, checkpoint);
        let mut callbacks = Vec::with_capacity(release.callbacks.len());
        for cb in &release.callbacks {
            let plan = self.rules.get().plan(TaskKind::MissedCallCallback, now, None, Some(cb.deadline));
            let reason = Some(followup::describe(&self.rules.get().calendar, cb));
            let row = TaskDraft::new(
                &self.rules.get(),
                TaskKind::MissedCallCallback,
                plan,
                cb.caller.clone(),
                reason,
                now,
                None,
            );
            callbacks.push(CheckpointCallback { task: row, misses: cb.misses.iter().map(|m| m.id).collect() });
        }
        let drafts: Vec<TaskDraft> = callbacks.iter().map(|c| c.task.clone()).collect();
        let fired = intake::store_then_dispatch(
            &self.hub,
            &self.rules.get(),
            &drafts,
            self.store.fire_checkpoint(checkpoint, now, &callbacks, &release.got_through),
        )
        .await?;
        if !fired {
            tracing::info!(%checkpoint, "missed-call checkpoint already fired elsewhere");
            return Ok(());
        }
        tracing::info!(
            %checkpoint,
            callbacks = callbacks.len(),
            got_through = release.got_through.len(),
            "missed-call checkpoint fired"
        );
        Ok(())
    }
}
