//! Registrations for events, stored with the callbacks they create.

use jiff::Timestamp;

use super::apply::batch_with_tasks;
use super::batch::{Arg, Rows};
use super::*;
use crate::domain::Phone;

/// A registration as stored.
pub struct NewRegistration {
    pub customer_phone: Phone,
    /// `new` or `returning`.
    pub customer_kind: &'static str,
    pub event_id: String,
    pub event_date: jiff::civil::Date,
    /// `main` or `special`.
    pub event_kind: &'static str,
    pub source: Option<String>,
    pub registered_at: Timestamp,
    /// The user who took it (an agent's 代报名), or `None` for a machine.
    pub registered_by: Option<crate::domain::UserId>,
}

impl Store {
    /// Whether a number is known: in the CRM, or with earlier tasks or
    /// registrations.
    pub async fn knows_customer(&self, phone: &Phone) -> Result<bool> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM customers WHERE phone = $1) + \
             (SELECT COUNT(*) FROM tasks WHERE customer_phone = $1) + \
             (SELECT COUNT(*) FROM registrations WHERE customer_phone = $1) AS n",
        )
        .bind(phone.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(sqlx::Row::try_get::<i64, _>(&row, "n")? > 0)
    }

    /// The numbers registered for an event.
    pub async fn registered_for(&self, event_id: &str) -> Result<Vec<Phone>> {
        let rows = sqlx::query("SELECT DISTINCT customer_phone FROM registrations WHERE event_id = $1")
            .bind(event_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Phone::parse(&sqlx::Row::try_get::<String, _>(r, "customer_phone")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Records that an event ended and creates its marketing callbacks, all
    /// or nothing. False, with nothing written, if it had already ended.
    pub async fn end_event(
        &self,
        event_id: &str,
        at: Timestamp,
        attended: &[Phone],
        ordered: &[Phone],
        callbacks: &[TaskDraft],
    ) -> Result<bool> {
        let list = |phones: &[Phone]| phones.iter().map(Phone::as_str).collect::<Vec<_>>().join(",");
        let mut row = Rows::new(
            "INSERT INTO events_ended (event_id, ended_at, attended, ordered, task_ids) VALUES ",
            "(#1, #2, #3, #4, #5)",
            "",
        );
        let ids: Vec<String> = callbacks.iter().map(|t| t.id.to_string()).collect();
        row.push([event_id.into(), ms(at).into(), list(attended).into(), list(ordered).into(), ids.join(",").into()]);
        match self.commit(batch_with_tasks(row, callbacks)).await {
            Ok(()) => Ok(true),
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores a registration and the callbacks it calls for, all or nothing.
    pub async fn add_registration(&self, r: &NewRegistration, callbacks: &[TaskDraft]) -> Result<()> {
        let mut row = Rows::new(
            "INSERT INTO registrations (customer_phone, customer_kind, event_id, event_date, event_kind, source, \
             registered_at, task_ids, registered_by) VALUES ",
            "(#1, #2, #3, #4, #5, #6, #7, #8, #9)",
            "",
        );
        let ids: Vec<String> = callbacks.iter().map(|t| t.id.to_string()).collect();
        row.push([
            r.customer_phone.as_str().into(),
            r.customer_kind.into(),
            r.event_id.as_str().into(),
            r.event_date.to_string().into(),
            r.event_kind.into(),
            Arg::from(r.source.clone()),
            ms(r.registered_at).into(),
            ids.join(",").into(),
            Arg::from(r.registered_by.map(|u| u.to_string())),
        ]);
        self.commit(batch_with_tasks(row, callbacks)).await
    }
}
