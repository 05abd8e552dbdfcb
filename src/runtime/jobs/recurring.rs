//! The shell that releases recurring work (`rules/recurring.rs`): on each
//! rule's days at its time, a task for each agent serving its kind's queue
//! (kept for them until the work is due) or one for the queue, stored with
//! the release's claim so that each is made once, then dispatched. On
//! start it looks back a day, so a release missed while no node ran is
//! made late rather than not at all.

use std::time::Duration;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::rules::dispatch::{Reservation, TaskDraft};
use crate::rules::recurring::{Per, Recurring};
use crate::runtime::hub::Hub;
use crate::runtime::intake;
use crate::runtime::jobs::Job;
use crate::runtime::live_rules::LiveRules;
use crate::store::{NewRecurringWork, Store, StoreError};

pub struct RecurringWork {
    store: Store,
    hub: Hub,
    rules: LiveRules,
    recurring: Vec<Recurring>,
    last: Timestamp,
}

impl RecurringWork {
    pub fn new(store: Store, hub: Hub, rules: LiveRules, recurring: Vec<Recurring>, now: Timestamp) -> Self {
        let last = now.checked_sub(SignedDuration::from_hours(24)).unwrap_or(now);
        RecurringWork { store, hub, rules, recurring, last }
    }
}

impl Job for RecurringWork {
    type Error = StoreError;
    const NAME: &'static str = "releasing recurring work";
    const MAX_SLEEP: Duration = Duration::from_secs(30);

    async fn round(&mut self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let cal = self.rules.get().calendar.clone();
        for rule in &self.recurring {
            for day in rule.released_between(&cal, self.last, now) {
                self.release(rule, day, now).await?;
            }
        }
        self.last = now;
        Ok(self.recurring.iter().filter_map(|r| r.next_release(&cal, now)).min())
    }
}

impl RecurringWork {
    async fn release(&self, rule: &Recurring, day: Date, now: Timestamp) -> Result<(), StoreError> {
        let cal = &self.rules.get().calendar;
        let due = rule.due_at(cal, day);
        let target = rule.count_on(self.store.event_on(day).await?);
        let queue = self.rules.get().queue_name(self.rules.get().kind(rule.kind).queue).to_owned();
        let agents = match rule.per {
            Per::Queue => vec![None],
            Per::Agent => {
                let users = self.store.users().await?;
                users.into_iter().filter(|u| u.routable() && u.skills.contains(&queue)).map(|u| Some(u.id)).collect()
            }
        };
        let local = due.to_zoned(cal.time_zone().clone()).strftime("%H:%M");
        for agent in agents {
            let plan = self.rules.get().plan(rule.kind, now, None, Some(due.max(now)));
            let reason = format!("{}: {target} by {local} ({day})", rule.label);
            let mut task =
                TaskDraft::new(&self.rules.get(), rule.kind, plan, rule.phone.clone(), Some(reason), now, None);
            task.reserved = agent.map(|agent| Reservation { agent, until: due.max(now) });
            let work = NewRecurringWork {
                id: task.id.to_string(),
                rule: rule.name.clone(),
                label: rule.label.clone(),
                day,
                agent,
                queue: queue.clone(),
                target,
                due_at: due,
                at: now,
                task,
            };
            let drafts = [work.task.clone()];
            let stored =
                intake::store_then_dispatch(&self.hub, &self.rules.get(), &drafts, self.store.release_recurring(&work))
                    .await?;
            if stored {
                tracing::info!(rule = %rule.name, %day, agent = ?agent, target, "recurring work released");
            }
        }
        Ok(())
    }
}
