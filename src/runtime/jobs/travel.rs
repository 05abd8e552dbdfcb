//! The shell that keeps travel work from being silently left: a car order
//! with no driver dispatched by its confirmation deadline is escalated to
//! the supervisors (its history says so, the board shows it); an inn
//! booking still unprocessed when its reminder is due becomes an
//! `inn_reminder` task with the front desk's number on the screen-pop
//! (`crate::rules::travel::inns` holds the rules). Runs on the leader only; each step is
//! claimed in SQL, so a second node would find nothing to do.

use std::time::Duration;

use jiff::Timestamp;

use crate::domain::TaskKind;
use crate::rules::dispatch::TaskDraft;
use crate::rules::travel::inns::{ESCALATED_PRIORITY, InnRules, ReminderStep};
use crate::runtime::hub::Hub;
use crate::runtime::intake;
use crate::runtime::jobs::Job;
use crate::runtime::live_rules::LiveRules;
use crate::runtime::travel_board::Board;
use crate::store::{InnOrder, ReminderWrite, Store, StoreError};

pub struct TravelWatch {
    pub store: Store,
    pub hub: Hub,
    pub rules: LiveRules,
    pub inns: InnRules,
    pub board: Board,
}

impl Job for TravelWatch {
    type Error = StoreError;
    const NAME: &'static str = "watching travel work";
    /// Longest sleep: work reported meanwhile also wakes the watch (`Board::touch`).
    const MAX_SLEEP: Duration = Duration::from_secs(30);

    async fn round(&mut self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.tick(now).await
    }

    async fn nudged(&self) {
        self.board.nudged().await
    }
}

impl TravelWatch {
    /// Escalates and reminds what is due at `now`; returns when the next is.
    async fn tick(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let escalated = self.store.escalate_overdue_car_orders(now).await?;
        for order in &escalated {
            tracing::warn!(%order, "car order has no driver at its confirmation deadline; escalated to supervisors");
        }
        let (due, next_inn) = self.store.due_inn_orders(now).await?;
        let mut changed = !escalated.is_empty();
        for order in &due {
            changed |= self.remind(order, now).await?;
        }
        if changed {
            self.board.touch();
        }
        let next_car = self.store.next_car_order_deadline().await?;
        Ok([next_car, next_inn].into_iter().flatten().min())
    }

    async fn remind(&self, order: &InnOrder, now: Timestamp) -> Result<bool, StoreError> {
        let last_open = order.task_status.is_some_and(|s| !s.is_terminal());
        let write = match self.inns.step(order.reminders, last_open, now) {
            ReminderStep::Escalate { next_at } => ReminderWrite::Escalate { next_at },
            ReminderStep::Remind { number, escalated, next_at } => {
                let kind = TaskKind::InnReminder;
                let priority = escalated.then_some(ESCALATED_PRIORITY);
                let plan = self.rules.get().plan(kind, now, priority, None);
                let zone = self.rules.get().calendar.time_zone().clone();
                let made = order.created_at.to_zoned(zone).strftime("%m-%d %H:%M");
                let reason = format!(
                    "{}inn {} has not processed the booking of {} (made {made}); phone the front desk \
                     {} (reminder {number})",
                    if escalated { "ESCALATED: " } else { "" },
                    order.inn,
                    order.guest,
                    order.front_desk_phone.as_str(),
                );
                let phone = order.front_desk_phone.clone();
                let task = TaskDraft::new(&self.rules.get(), kind, plan, phone, Some(reason), now, None);
                ReminderWrite::Remind { task: Box::new(task), escalated, next_at }
            }
        };
        let drafts: Vec<TaskDraft> = match &write {
            ReminderWrite::Remind { task, .. } => vec![(**task).clone()],
            ReminderWrite::Escalate { .. } => Vec::new(),
        };
        let written = intake::store_then_dispatch(
            &self.hub,
            &self.rules.get(),
            &drafts,
            self.store.write_inn_reminder(order.id, order.reminders, &write, now),
        )
        .await?;
        if !written {
            return Ok(false); // processed meanwhile, or done by another node
        }
        match drafts.first() {
            Some(task) => tracing::info!(order = %order.id, inn = %order.inn, task = %task.id, "inn reminded"),
            None => tracing::warn!(order = %order.id, inn = %order.inn, "inn reminder still waiting; escalated"),
        }
        Ok(true)
    }
}
