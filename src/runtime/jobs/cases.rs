//! The shell that turns complaint-case deadlines into work: when a case's
//! deadline comes within `cases.remind_before_minutes`, a
//! `complaint_follow_up` task is put before the case's owner (kept for
//! them until the deadline); when the department a case was sent to misses
//! its written reply, the task goes to the department's lead instead (the
//! case escalates). Once per deadline, stored with the case's claim
//! (`Store::add_case_reminder`). The rules are in `crate::rules::cases`.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::domain::{CaseDeadline, TaskKind};
use crate::rules::dispatch::Reservation;
use crate::rules::dispatch::TaskDraft;
use crate::runtime::hub::Hub;
use crate::runtime::intake;
use crate::runtime::jobs::Job;
use crate::runtime::live_rules::LiveRules;
use crate::store::{CaseFilter, CaseRecord, Store, StoreError};

/// However late a reminder comes, its owner gets this long to take it
/// before anyone in the queue may.
const OWNER_FIRST: SignedDuration = SignedDuration::from_mins(15);

pub struct CaseWatch {
    pub store: Store,
    pub hub: Hub,
    pub rules: LiveRules,
    pub remind_before: SignedDuration,
}

impl Job for CaseWatch {
    type Error = StoreError;
    const NAME: &'static str = "reminding case owners";
    /// Longest sleep: a case opened meanwhile (by REST, or on another node)
    /// is looked at this late at most.
    const MAX_SLEEP: Duration = Duration::from_secs(30);

    async fn round(&mut self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.tick(now).await
    }
}

impl CaseWatch {
    /// Creates the reminders due at `now`; returns when the next one is.
    async fn tick(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let open = self.store.cases(&CaseFilter { unresolved: true, limit: 100_000, ..Default::default() }).await?;
        let mut next: Option<Timestamp> = None;
        for case in &open {
            let clock = case.clock();
            for (deadline, by) in clock.pending() {
                if case.reminded.contains(&deadline) {
                    continue;
                }
                let remind_at = deadline.remind_at(by, self.remind_before);
                if remind_at > now {
                    next = Some(next.map_or(remind_at, |n| n.min(remind_at)));
                    continue;
                }
                self.remind(case, deadline, by, now).await?;
            }
        }
        Ok(next)
    }

    async fn remind(
        &self,
        case: &CaseRecord,
        deadline: CaseDeadline,
        by: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let kind = TaskKind::ComplaintFollowUp;
        let plan = self.rules.get().plan(kind, now, None, Some(by));
        let local = by.to_zoned(self.rules.get().calendar.time_zone().clone()).strftime("%m-%d %H:%M");
        let about = format!("complaint about {} ({})", case.merchant, case.category);
        let reason = match deadline {
            CaseDeadline::Answer => format!("{about}: answer the customer by {local}"),
            CaseDeadline::MerchantReply => {
                format!("{about}: the merchant's reply is due by {local}; chase the merchant")
            }
            CaseDeadline::DepartmentReply => {
                format!("{about}: your department's written reply was due by {local}; answer it or hand it on")
            }
        };
        // The owner, or for a department's missed reply its lead (the
        // owner if the department is gone).
        let mut to = case.owner_id;
        if deadline.escalates_to_lead()
            && let Some(department) = case.department_id
            && let Some(found) = self.store.department(department).await?
        {
            to = found.lead_id;
        }
        let phone = case.customer_phone.clone();
        let mut row = TaskDraft::new(&self.rules.get(), kind, plan, phone, Some(reason), now, None);
        let until = by.max(now.checked_add(OWNER_FIRST).unwrap_or(by));
        row.reserved = Some(Reservation { agent: to, until });
        let (task, drafts) = (row.id, [row]);
        let stored = intake::store_then_dispatch(
            &self.hub,
            &self.rules.get(),
            &drafts,
            self.store.add_case_reminder(case.id, deadline, &drafts[0], now),
        )
        .await?;
        if stored {
            tracing::info!(case = %case.id, deadline = %deadline, %task, %to, "case reminder put before its owner or lead");
        } // else reminded by another node, or resolved meanwhile
        Ok(())
    }
}
