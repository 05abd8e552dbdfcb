//! The shell that applies shift edges: it keeps the agents' schedules
//! (read again every few seconds, so a change over REST or from another
//! node applies without a restart), asks `shifts::due_events` what the
//! clock's move calls for, and hands it to the dispatcher. At a shift's
//! end it attaches the agent's handover note and then clears it.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::domain::UserId;
use crate::rules::calendar::Calendar;
use crate::rules::dispatch::{Command, DispatchError};
use crate::rules::shifts::{self, ShiftEvent, WeeklySchedule};
use crate::runtime::hub::{Hub, HubError};
use crate::runtime::jobs::Job;
use crate::store::{Store, StoreError};

pub struct ShiftClock {
    store: Store,
    hub: Hub,
    calendar: Arc<Calendar>,
    wind_down: SignedDuration,
    /// Where the last successful round left the clock. It starts at the
    /// start: ends that passed while no node ran are not caught up (the
    /// agents' sessions ended with the process, and recovery gives held
    /// tasks the reconnect grace).
    last: Timestamp,
}

impl Job for ShiftClock {
    type Error = ShiftError;
    const NAME: &'static str = "applying shift edges";
    /// Longest sleep: how late a schedule change or an agent logging in during
    /// a wind-down is noticed.
    const MAX_SLEEP: Duration = Duration::from_secs(5);

    async fn round(&mut self, now: Timestamp) -> Result<Option<Timestamp>, ShiftError> {
        let next = self.tick(self.last, now).await?;
        self.last = now;
        Ok(next)
    }
}

impl ShiftClock {
    pub fn new(store: Store, hub: Hub, calendar: Arc<Calendar>, wind_down: SignedDuration, now: Timestamp) -> Self {
        ShiftClock { store, hub, calendar, wind_down, last: now }
    }

    /// Applies what moving the clock from `last` to `now` calls for;
    /// returns the next instant with something to do.
    async fn tick(&self, last: Timestamp, now: Timestamp) -> Result<Option<Timestamp>, ShiftError> {
        let mut schedules = Vec::new();
        for (agent, spec) in self.store.schedules().await? {
            // Stored as hours, validated when set.
            match WeeklySchedule::parse(&spec, &Default::default()) {
                Ok(s) => schedules.push((agent, s)),
                Err(e) => tracing::error!(%agent, error = %e, "stored schedule unreadable; skipped"),
            }
        }
        let pairs = schedules.iter().map(|(a, s)| (*a, s));
        for event in shifts::due_events(pairs, &self.calendar, self.wind_down, last, now) {
            match event {
                ShiftEvent::WindDown(agent) => ignore_unknown(self.hub.command(Command::ShiftEnding { agent }).await)?,
                ShiftEvent::End(agent) => self.end_shift(agent).await?,
            }
        }
        Ok(shifts::next_edge(schedules.iter().map(|(_, s)| s), &self.calendar, self.wind_down, now))
    }

    async fn end_shift(&self, agent: UserId) -> Result<(), ShiftError> {
        let note = self.store.handover_note(agent).await?;
        let text = note.as_ref().map(|(text, _)| text.clone());
        ignore_unknown(self.hub.command(Command::EndShift { agent, note: text }).await)?;
        tracing::info!(%agent, with_note = note.is_some(), "shift ended: held work handed back");
        if let Some((_, written_at)) = note {
            self.store.clear_handover_note(agent, written_at).await?;
        }
        Ok(())
    }
}

/// A scheduled user the dispatcher does not route to (a supervisor) has
/// nothing to hand back.
fn ignore_unknown(r: Result<crate::rules::dispatch::Reply, HubError>) -> Result<(), HubError> {
    match r {
        Ok(_) | Err(HubError::Dispatch(DispatchError::UnknownAgent)) => Ok(()),
        Err(e) => Err(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShiftError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hub(#[from] HubError),
}
