//! The shell of the morning's after-sales review (`rules/warranty.rs`,
//! 对前一天的遗留售后问题进行跟踪): once a working day has opened, each
//! customer's warranty callbacks left open from earlier days become one
//! `after_sales_review` task, stored with the day's claim so the review is
//! made once whichever node runs it, then dispatched. A node started
//! after the opening makes that day's review late rather than not at all.

use std::time::Duration;

use jiff::Timestamp;

use crate::domain::TaskKind;
use crate::rules::dispatch::TaskDraft;
use crate::rules::warranty;
use crate::runtime::hub::Hub;
use crate::runtime::intake;
use crate::runtime::jobs::Job;
use crate::runtime::live_rules::LiveRules;
use crate::store::{Store, StoreError};

pub struct AfterSalesReview {
    store: Store,
    hub: Hub,
    rules: LiveRules,
    /// The last day this node saw reviewed: no store round-trip per tick.
    done: Option<jiff::civil::Date>,
}

impl AfterSalesReview {
    pub fn new(store: Store, hub: Hub, rules: LiveRules) -> Self {
        AfterSalesReview { store, hub, rules, done: None }
    }
}

impl Job for AfterSalesReview {
    type Error = StoreError;
    const NAME: &'static str = "reviewing after-sales items left open";
    const MAX_SLEEP: Duration = Duration::from_secs(60);

    async fn round(&mut self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        let cal = &self.rules.get().calendar;
        if let Some(today) = warranty::review_day(cal, now).filter(|d| self.done != Some(*d)) {
            let open = self.store.open_warranty_items(today).await?;
            let reviews = warranty::reviews(cal, today, &open);
            let kind = TaskKind::AfterSalesReview;
            let tasks: Vec<TaskDraft> = reviews
                .iter()
                .map(|r| {
                    let plan = self.rules.get().plan(kind, now, None, Some(r.deadline));
                    TaskDraft::new(&self.rules.get(), kind, plan, r.phone.clone(), Some(r.reason.clone()), now, None)
                })
                .collect();
            let items = reviews.iter().map(|r| r.items.len()).sum();
            let claim = self.store.claim_after_sales_review(today, items, &tasks, now);
            if intake::store_then_dispatch(&self.hub, &self.rules.get(), &tasks, claim).await? {
                tracing::info!(%today, customers = tasks.len(), items, "after-sales items put up for review");
            }
            self.done = Some(today);
        }
        // Next: the opening of the next working day whose review is not
        // made yet (today's, when it has not opened or not been made).
        let today = cal.date_of(now);
        let from = if self.done == Some(today) { today.tomorrow().unwrap_or(today) } else { today };
        Ok(cal.working_day_closing_after(from, now).map(|d| cal.opening(d).max(now)))
    }
}
