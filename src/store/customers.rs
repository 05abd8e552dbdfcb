//! The small CRM: customers by phone number and what the centre did for them.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::*;
use crate::domain::{Outcome, Phone, TaskId, TaskKind, TaskStatus};

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Customer {
    pub phone: Phone,
    pub name: Option<String>,
    pub notes: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Everything the screen-pop shows about a caller.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CustomerProfile {
    pub phone: Phone,
    /// `None` when the number is not in the CRM yet.
    pub customer: Option<Customer>,
    /// The most recent finished calls with this number, newest first (at most 10).
    pub past_calls: Vec<PastCall>,
    /// Complaint cases still open for this number.
    pub open_cases: Vec<OpenCase>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PastCall {
    pub task_id: TaskId,
    pub kind: TaskKind,
    pub ended_at: Timestamp,
    pub agent: String,
    pub outcome: Option<Outcome>,
    pub summary: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct OpenCase {
    pub task_id: TaskId,
    pub status: TaskStatus,
    pub reason: Option<String>,
    pub created_at: Timestamp,
    pub deadline: Option<Timestamp>,
}

impl Store {
    /// Creates or updates a customer; fields given as `None` are kept.
    pub async fn upsert_customer(
        &self,
        phone: &Phone,
        name: Option<&str>,
        notes: Option<&str>,
        now: Timestamp,
    ) -> Result<Customer> {
        sqlx::query(
            "INSERT INTO customers (phone, name, notes, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
             ON CONFLICT (phone) DO UPDATE SET name = COALESCE($2, customers.name), \
             notes = COALESCE($3, customers.notes), updated_at = $4",
        )
        .bind(phone.as_str())
        .bind(name)
        .bind(notes)
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        self.customer(phone).await?.ok_or(StoreError::Corrupt("customer vanished after upsert".into()))
    }

    pub async fn customer(&self, phone: &Phone) -> Result<Option<Customer>> {
        let row = sqlx::query("SELECT phone, name, notes, created_at, updated_at FROM customers WHERE phone = $1")
            .bind(phone.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Customer {
            phone: phone.clone(),
            name: row.try_get("name")?,
            notes: row.try_get("notes")?,
            created_at: from_ms(row.try_get("created_at")?)?,
            updated_at: from_ms(row.try_get("updated_at")?)?,
        }))
    }

    /// The customer with their history, for the screen-pop and the CRM page.
    pub async fn customer_profile(&self, phone: &Phone) -> Result<CustomerProfile> {
        let customer = self.customer(phone).await?;
        let rows = sqlx::query(
            "SELECT t.id, t.kind, a.ended_at, COALESCE(u.display_name, a.agent_id) AS agent, a.outcome, a.summary \
             FROM attempts a JOIN tasks t ON t.id = a.task_id LEFT JOIN users u ON u.id = a.agent_id \
             WHERE t.customer_phone = $1 AND a.ended_at IS NOT NULL \
             ORDER BY a.ended_at DESC LIMIT 10",
        )
        .bind(phone.as_str())
        .fetch_all(&self.pool)
        .await?;
        let past_calls = rows
            .iter()
            .map(|r| {
                Ok(PastCall {
                    task_id: parse(r, "id")?,
                    kind: parse(r, "kind")?,
                    ended_at: from_ms(r.try_get("ended_at")?)?,
                    agent: r.try_get("agent")?,
                    outcome: parse_opt(r, "outcome")?,
                    summary: r.try_get("summary")?,
                })
            })
            .collect::<Result<_>>()?;
        let rows = sqlx::query(
            "SELECT id, status, reason, created_at, deadline FROM tasks \
             WHERE customer_phone = $1 AND kind = 'complaint_follow_up' \
               AND status IN ('waiting', 'offered', 'assigned') ORDER BY created_at",
        )
        .bind(phone.as_str())
        .fetch_all(&self.pool)
        .await?;
        let open_cases = rows
            .iter()
            .map(|r| {
                Ok(OpenCase {
                    task_id: parse(r, "id")?,
                    status: parse(r, "status")?,
                    reason: r.try_get("reason")?,
                    created_at: from_ms(r.try_get("created_at")?)?,
                    deadline: opt_ms(r.try_get("deadline")?)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(CustomerProfile { phone: phone.clone(), customer, past_calls, open_cases })
    }
}
