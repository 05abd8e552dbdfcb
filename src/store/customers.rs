//! The small CRM: customers by phone number and what the centre did for them.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::*;
use crate::domain::{CaseId, CaseStatus, Outcome, Phone, TaskId, TaskKind};

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
    /// The number's most recent event registrations, newest first (at most 10).
    pub registrations: Vec<PastRegistration>,
}

/// An event the caller registered for.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PastRegistration {
    pub event_id: String,
    /// `main` or `special`.
    pub event_kind: String,
    /// The event's day, `YYYY-MM-DD`.
    pub event_date: String,
    /// `new` or `returning`, as registered.
    pub customer_kind: String,
    pub source: Option<String>,
    pub registered_at: Timestamp,
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

/// A complaint case of the caller not yet resolved.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct OpenCase {
    pub case_id: CaseId,
    pub status: CaseStatus,
    pub merchant: String,
    pub category: String,
    pub received_at: Timestamp,
    /// The customer is answered by then.
    pub answer_by: Timestamp,
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
    ///
    /// One query (the four parts as one `UNION ALL`, told apart by `part`):
    /// every screen-pop runs it, and each query is a round trip.
    pub async fn customer_profile(&self, phone: &Phone) -> Result<CustomerProfile> {
        let rows = sqlx::query(
            "SELECT 'customer' AS part, name AS s1, notes AS s2, CAST(NULL AS TEXT) AS s3, \
                    CAST(NULL AS TEXT) AS s4, CAST(NULL AS TEXT) AS s5, created_at AS n1, updated_at AS n2 \
             FROM customers WHERE phone = $1 \
             UNION ALL \
             SELECT 'call', id, kind, agent, outcome, summary, ended_at, NULL FROM ( \
                 SELECT t.id, t.kind, COALESCE(u.display_name, a.agent_id) AS agent, a.outcome, a.summary, a.ended_at \
                 FROM attempts a JOIN tasks t ON t.id = a.task_id LEFT JOIN users u ON u.id = a.agent_id \
                 WHERE t.customer_phone = $1 AND a.ended_at IS NOT NULL \
                 ORDER BY a.ended_at DESC LIMIT 10) AS recent \
             UNION ALL \
             SELECT 'case', id, status, merchant, category, NULL, received_at, answer_by FROM cases \
             WHERE customer_phone = $1 AND status <> 'resolved' \
             UNION ALL \
             SELECT 'registration', event_id, event_kind, event_date, customer_kind, source, registered_at, NULL \
             FROM (SELECT event_id, event_kind, event_date, customer_kind, source, registered_at FROM registrations \
                   WHERE customer_phone = $1 ORDER BY registered_at DESC LIMIT 10) AS recent_registrations",
        )
        .bind(phone.as_str())
        .fetch_all(&self.pool)
        .await?;
        let (mut customer, mut past_calls, mut open_cases, mut registrations) =
            (None, Vec::new(), Vec::new(), Vec::new());
        for r in &rows {
            match r.try_get::<String, _>("part")?.as_str() {
                "customer" => {
                    customer = Some(Customer {
                        phone: phone.clone(),
                        name: r.try_get("s1")?,
                        notes: r.try_get("s2")?,
                        created_at: from_ms(r.try_get("n1")?)?,
                        updated_at: from_ms(r.try_get("n2")?)?,
                    })
                }
                "call" => past_calls.push(PastCall {
                    task_id: parse(r, "s1")?,
                    kind: parse(r, "s2")?,
                    agent: r.try_get("s3")?,
                    outcome: parse_opt(r, "s4")?,
                    summary: r.try_get("s5")?,
                    ended_at: from_ms(r.try_get("n1")?)?,
                }),
                "registration" => registrations.push(PastRegistration {
                    event_id: r.try_get("s1")?,
                    event_kind: r.try_get("s2")?,
                    event_date: r.try_get("s3")?,
                    customer_kind: r.try_get("s4")?,
                    source: r.try_get("s5")?,
                    registered_at: from_ms(r.try_get("n1")?)?,
                }),
                _ => open_cases.push(OpenCase {
                    case_id: parse(r, "s1")?,
                    status: parse(r, "s2")?,
                    merchant: r.try_get::<Option<String>, _>("s3")?.unwrap_or_default(),
                    category: r.try_get::<Option<String>, _>("s4")?.unwrap_or_default(),
                    received_at: from_ms(r.try_get("n1")?)?,
                    answer_by: from_ms(r.try_get::<Option<i64>, _>("n2")?.unwrap_or_default())?,
                }),
            }
        }
        // A UNION ALL keeps no order: newest calls first, oldest cases first.
        past_calls.sort_by_key(|c| std::cmp::Reverse(c.ended_at));
        open_cases.sort_by_key(|c| c.received_at);
        registrations.sort_by_key(|r| std::cmp::Reverse(r.registered_at));
        Ok(CustomerProfile { phone: phone.clone(), customer, past_calls, open_cases, registrations })
    }
}
