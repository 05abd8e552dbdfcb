//! Products under warranty with the callbacks they called for, the open
//! items each morning reviews, and what the reports count.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::apply::push_tasks;
use super::batch::Batch;
use super::*;
use crate::domain::{Outcome, Phone, TaskId, TaskStatus, UserId};
use crate::rules::reports::warranty::WarrantyRow;
use crate::rules::warranty::OpenItem;

/// A warranty to store with its callbacks' tasks, all or nothing.
#[derive(Clone, Debug)]
pub struct NewWarranty {
    pub id: String,
    pub customer_phone: Phone,
    pub product: String,
    pub serial_number: Option<String>,
    pub delivered_on: Date,
    pub warranty_until: Date,
    pub at: Timestamp,
    pub by: Option<UserId>,
    /// Each callback: days after delivery, its day, its task.
    pub callbacks: Vec<(u32, Date, TaskDraft)>,
}

/// One warranty callback as it stands.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WarrantyCallbackState {
    pub task_id: TaskId,
    /// Days after delivery it stands for (3 for 3dc).
    pub days_after: u32,
    /// The working day it is made on.
    #[schema(value_type = String)]
    pub day: Date,
    pub status: TaskStatus,
    /// The last attempt's outcome, if one has ended.
    pub outcome: Option<Outcome>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WarrantyRecord {
    pub id: String,
    #[schema(value_type = String)]
    pub customer_phone: Phone,
    pub product: String,
    pub serial_number: Option<String>,
    #[schema(value_type = String)]
    pub delivered_on: Date,
    #[schema(value_type = String)]
    pub warranty_until: Date,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    pub created_by: Option<UserId>,
    pub callbacks: Vec<WarrantyCallbackState>,
}

fn phone_of(r: &sqlx::any::AnyRow) -> Result<Phone> {
    Phone::parse(&r.try_get::<String, _>("customer_phone")?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The most warranties one listing returns, newest first.
pub const WARRANTIES_LISTED: i64 = 500;

impl Store {
    /// Stores a warranty and its callbacks' tasks in one transaction.
    pub async fn add_warranty(&self, w: &NewWarranty) -> Result<()> {
        let backend = self.backend;
        let w = w.clone();
        self.write_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO warranties (id, customer_phone, product, serial_number, delivered_on, \
                     warranty_until, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&w.id)
                .bind(w.customer_phone.as_str())
                .bind(&w.product)
                .bind(w.serial_number.clone())
                .bind(w.delivered_on.to_string())
                .bind(w.warranty_until.to_string())
                .bind(ms(w.at))
                .bind(w.by.map(|u| u.to_string()))
                .execute(&mut *conn)
                .await?;
                // The tasks first: each callback row refers to its task.
                let tasks: Vec<TaskDraft> = w.callbacks.iter().map(|(_, _, t)| t.clone()).collect();
                let mut batch = Batch::default();
                push_tasks(&mut batch, &tasks);
                batch.run_in(conn, backend).await?;
                for (days_after, day, task) in &w.callbacks {
                    sqlx::query(
                        "INSERT INTO warranty_callbacks (task_id, warranty_id, days_after, day) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(task.id.to_string())
                    .bind(&w.id)
                    .bind(i64::from(*days_after))
                    .bind(day.to_string())
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Warranties, newest first: a customer's, or everyone's. Two queries:
    /// the warranties, and the callbacks of those listed.
    pub async fn warranties(&self, phone: Option<&Phone>) -> Result<Vec<WarrantyRecord>> {
        const LISTED: &str = "SELECT id FROM warranties WHERE (CAST($1 AS TEXT) IS NULL OR customer_phone = $1) \
                              ORDER BY created_at DESC, id LIMIT $2";
        let phone = phone.map(|p| p.as_str().to_owned());
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, customer_phone, product, serial_number, delivered_on, warranty_until, created_at, created_by \
             FROM warranties WHERE id IN ({LISTED}) ORDER BY created_at DESC, id"
        )))
        .bind(phone.clone())
        .bind(WARRANTIES_LISTED)
        .fetch_all(&self.pool)
        .await?;
        let callbacks = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT w.warranty_id, w.task_id, w.days_after, w.day, t.status, \
               (SELECT a.outcome FROM attempts a WHERE a.task_id = w.task_id AND a.outcome IS NOT NULL \
                ORDER BY a.number DESC LIMIT 1) AS outcome \
             FROM warranty_callbacks w JOIN tasks t ON t.id = w.task_id \
             WHERE w.warranty_id IN ({LISTED}) ORDER BY w.day, w.days_after"
        )))
        .bind(phone)
        .bind(WARRANTIES_LISTED)
        .fetch_all(&self.pool)
        .await?;
        let mut by_warranty: std::collections::HashMap<String, Vec<WarrantyCallbackState>> = Default::default();
        for r in &callbacks {
            by_warranty.entry(r.try_get("warranty_id")?).or_default().push(WarrantyCallbackState {
                task_id: parse(r, "task_id")?,
                days_after: r.try_get::<i64, _>("days_after")? as u32,
                day: parse(r, "day")?,
                status: parse(r, "status")?,
                outcome: parse_opt(r, "outcome")?,
            });
        }
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(WarrantyRecord {
                    callbacks: by_warranty.remove(&id).unwrap_or_default(),
                    id,
                    customer_phone: phone_of(r)?,
                    product: r.try_get("product")?,
                    serial_number: r.try_get("serial_number")?,
                    delivered_on: parse(r, "delivered_on")?,
                    warranty_until: parse(r, "warranty_until")?,
                    created_at: from_ms(r.try_get("created_at")?)?,
                    created_by: parse_opt(r, "created_by")?,
                })
            })
            .collect()
    }

    /// Warranty callbacks of days before `today` whose tasks are not yet
    /// closed: the after-sales items a morning reviews.
    pub async fn open_warranty_items(&self, today: Date) -> Result<Vec<OpenItem>> {
        let rows = sqlx::query(
            "SELECT w.task_id, p.customer_phone, p.product, w.days_after, w.day \
             FROM warranty_callbacks w JOIN tasks t ON t.id = w.task_id JOIN warranties p ON p.id = w.warranty_id \
             WHERE w.day < $1 AND t.status IN ('scheduled', 'waiting', 'offered', 'assigned') \
             ORDER BY w.day, w.task_id",
        )
        .bind(today.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OpenItem {
                    task_id: parse(r, "task_id")?,
                    phone: phone_of(r)?,
                    product: r.try_get("product")?,
                    days_after: r.try_get::<i64, _>("days_after")? as u32,
                    day: parse(r, "day")?,
                })
            })
            .collect()
    }

    /// Stores a morning's review tasks unless that day's review is stored
    /// already; true if this call stored it. A morning with nothing left
    /// open is claimed too, with no tasks.
    pub async fn claim_after_sales_review(
        &self,
        day: Date,
        items: usize,
        tasks: &[TaskDraft],
        at: Timestamp,
    ) -> Result<bool> {
        let backend = self.backend;
        let tasks = tasks.to_vec();
        self.write_tx(move |conn| {
            Box::pin(async move {
                let ids: Vec<String> = tasks.iter().map(|t| t.id.to_string()).collect();
                let claimed = sqlx::query(
                    "INSERT INTO after_sales_reviews (day, task_ids, items, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (day) DO NOTHING",
                )
                .bind(day.to_string())
                .bind(ids.join(","))
                .bind(items as i64)
                .bind(ms(at))
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if claimed == 0 {
                    return Ok(false);
                }
                let mut batch = Batch::default();
                push_tasks(&mut batch, &tasks);
                batch.run_in(conn, backend).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Warranty callbacks made on the days `[first, next)`, each with
    /// whether it was called and whether the customer was reached.
    pub(super) async fn warranty_callbacks_due(&self, first: Date, next: Date) -> Result<Vec<WarrantyRow>> {
        let rows = sqlx::query(
            "SELECT p.customer_phone, t.status, \
               (SELECT COUNT(*) FROM attempts a WHERE a.task_id = t.id AND a.outcome IS NOT NULL) AS called, \
               (SELECT COUNT(*) FROM attempts a WHERE a.task_id = t.id AND a.outcome = 'reached') AS reached \
             FROM warranty_callbacks w JOIN tasks t ON t.id = w.task_id JOIN warranties p ON p.id = w.warranty_id \
             WHERE t.status <> 'cancelled' AND w.day >= $1 AND w.day < $2 ORDER BY p.customer_phone",
        )
        .bind(first.to_string())
        .bind(next.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WarrantyRow {
                    phone: phone_of(r)?,
                    called: r.try_get::<i64, _>("called")? > 0,
                    reached: r.try_get::<i64, _>("reached")? > 0,
                })
            })
            .collect()
    }
}
