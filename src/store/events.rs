//! Events as the centre describes them, customers' past orders, the
//! attendance answers of the week-before calls, and recommendations made.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::apply::batch_with_tasks;
use super::batch::{Arg, Batch, Rows};
use super::*;
use crate::domain::{Phone, UserId};
use crate::rules::events::{AttendanceAnswer, PastOrder};
use crate::rules::registrations::EventKind;
use crate::rules::reports::events::EventInputs;

/// An event to store (created or replaced).
#[derive(Clone, Debug)]
pub struct EventWrite {
    pub id: String,
    pub name: String,
    pub date: Date,
    pub kind: EventKind,
    pub place: Option<String>,
    pub category: Option<String>,
    /// Lower-case; the event's own category among them.
    pub match_categories: Vec<String>,
    pub price_tier: Option<u8>,
    pub at: Timestamp,
    pub by: Option<UserId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct EventRecord {
    pub id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub date: Date,
    pub kind: EventKind,
    pub place: Option<String>,
    pub category: Option<String>,
    pub match_categories: Vec<String>,
    /// 档次, 1 (cheapest) to 5.
    pub price_tier: Option<u8>,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

/// One imported order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderWrite {
    pub order_ref: String,
    pub phone: Phone,
    /// Lower-case.
    pub category: String,
    pub brand: Option<String>,
    pub price_tier: Option<u8>,
    pub ordered_on: Date,
}

const EVENT_COLUMNS: &str =
    "id, name, event_date, event_kind, place, category, match_categories, price_tier, updated_at";

fn kind_text(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Main => "main",
        EventKind::Special => "special",
    }
}

fn event_from_row(r: &AnyRow) -> Result<EventRecord> {
    let kind = match r.try_get::<String, _>("event_kind")?.as_str() {
        "main" => EventKind::Main,
        "special" => EventKind::Special,
        other => return Err(StoreError::Corrupt(format!("event kind {other:?}"))),
    };
    let matching: String = r.try_get("match_categories")?;
    Ok(EventRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        date: parse(r, "event_date")?,
        kind,
        place: r.try_get("place")?,
        category: r.try_get("category")?,
        match_categories: matching.split('\n').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
        price_tier: r.try_get::<Option<i64>, _>("price_tier")?.map(|t| t as u8),
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

fn phone_in(r: &AnyRow, col: &str) -> Result<Phone> {
    Phone::parse(&r.try_get::<String, _>(col)?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The most events one listing returns.
pub const EVENTS_LISTED: i64 = 200;

impl Store {
    /// Creates or replaces an event's description.
    pub async fn put_event(&self, e: &EventWrite) -> Result<()> {
        sqlx::query(
            "INSERT INTO events (id, name, event_date, event_kind, place, category, match_categories, price_tier, \
             updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, event_date = excluded.event_date, \
             event_kind = excluded.event_kind, place = excluded.place, category = excluded.category, \
             match_categories = excluded.match_categories, price_tier = excluded.price_tier, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(&e.id)
        .bind(&e.name)
        .bind(e.date.to_string())
        .bind(kind_text(e.kind))
        .bind(e.place.clone())
        .bind(e.category.clone())
        .bind(e.match_categories.join("\n"))
        .bind(e.price_tier.map(i64::from))
        .bind(ms(e.at))
        .bind(e.by.map(|u| u.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn event(&self, id: &str) -> Result<Option<EventRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// Events on the days `[from, to]`, by date.
    pub async fn events_between(&self, from: Date, to: Date) -> Result<Vec<EventRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE event_date >= $1 AND event_date <= $2 \
             ORDER BY event_date, id LIMIT $3"
        ));
        let rows = sqlx::query(sql)
            .bind(from.to_string())
            .bind(to.to_string())
            .bind(EVENTS_LISTED)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Whether `phone` registered for the event.
    pub async fn is_registered(&self, event_id: &str, phone: &Phone) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM registrations WHERE event_id = $1 AND customer_phone = $2 LIMIT 1")
            .bind(event_id)
            .bind(phone.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Records (or replaces) a customer's attendance answer.
    pub async fn put_attendance(
        &self,
        event_id: &str,
        phone: &Phone,
        answer: AttendanceAnswer,
        at: Timestamp,
        by: Option<UserId>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO event_attendance (event_id, customer_phone, coming, people, answered_at, answered_by) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id, customer_phone) DO UPDATE SET \
             coming = excluded.coming, people = excluded.people, answered_at = excluded.answered_at, \
             answered_by = excluded.answered_by",
        )
        .bind(event_id)
        .bind(phone.as_str())
        .bind(i64::from(answer.coming))
        .bind(i64::from(answer.people))
        .bind(ms(at))
        .bind(by.map(|u| u.to_string()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The attendance answers of an event.
    pub async fn attendance_answers(&self, event_id: &str) -> Result<BTreeMap<Phone, AttendanceAnswer>> {
        let rows = sqlx::query("SELECT customer_phone, coming, people FROM event_attendance WHERE event_id = $1")
            .bind(event_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let answer = AttendanceAnswer {
                    coming: r.try_get::<i64, _>("coming")? != 0,
                    people: r.try_get::<i64, _>("people")? as u32,
                };
                Ok((phone_in(r, "customer_phone")?, answer))
            })
            .collect()
    }

    /// Who came to an event that has ended (signed in or ordered); `None`
    /// while it has not.
    pub async fn event_came(&self, event_id: &str) -> Result<Option<BTreeSet<Phone>>> {
        let row = sqlx::query("SELECT attended, ordered FROM events_ended WHERE event_id = $1")
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut came = BTreeSet::new();
        for col in ["attended", "ordered"] {
            for p in row.try_get::<String, _>(col)?.split(',').filter(|p| !p.is_empty()) {
                came.insert(Phone::parse(p).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            }
        }
        Ok(Some(came))
    }

    /// Imports orders, replacing any with the same reference, all or
    /// nothing. References must be unique within `orders`.
    pub async fn import_orders(&self, orders: &[OrderWrite], at: Timestamp) -> Result<()> {
        let mut rows = Rows::new(
            "INSERT INTO customer_orders (order_ref, customer_phone, category, brand, price_tier, ordered_on, \
             imported_at) VALUES ",
            "(#1, #2, #3, #4, #5, #6, #7)",
            " ON CONFLICT (order_ref) DO UPDATE SET customer_phone = excluded.customer_phone, \
             category = excluded.category, brand = excluded.brand, price_tier = excluded.price_tier, \
             ordered_on = excluded.ordered_on, imported_at = excluded.imported_at",
        );
        for o in orders {
            rows.push([
                o.order_ref.as_str().into(),
                o.phone.as_str().into(),
                o.category.as_str().into(),
                Arg::from(o.brand.clone()),
                Arg::from(o.price_tier.map(i64::from)),
                o.ordered_on.to_string().into(),
                ms(at).into(),
            ]);
        }
        let mut batch = Batch::default();
        batch.push(rows);
        self.commit(batch).await
    }

    /// Orders of any of `categories` (lower-case) on or after `since`.
    pub async fn orders_in(&self, categories: &[String], since: Date) -> Result<Vec<PastOrder>> {
        let mut out = Vec::new();
        for category in categories {
            let rows = sqlx::query(
                "SELECT customer_phone, category, price_tier, ordered_on FROM customer_orders \
                 WHERE category = $1 AND ordered_on >= $2",
            )
            .bind(category)
            .bind(since.to_string())
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                out.push(PastOrder {
                    phone: phone_in(r, "customer_phone")?,
                    category: r.try_get("category")?,
                    tier: r.try_get::<Option<i64>, _>("price_tier")?.map(|t| t as u8),
                    ordered_on: parse(r, "ordered_on")?,
                });
            }
        }
        Ok(out)
    }

    /// The customers an event has already been recommended to.
    pub async fn recommended_for(&self, event_id: &str) -> Result<BTreeSet<Phone>> {
        let rows = sqlx::query("SELECT customer_phone FROM event_recommendations WHERE event_id = $1")
            .bind(event_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| phone_in(r, "customer_phone")).collect()
    }

    /// The events held on the days `[first, next)`, described or only
    /// registered for, each with what its attendance is made of.
    pub(super) async fn events_held(&self, first: Date, next: Date) -> Result<Vec<EventInputs>> {
        let rows = sqlx::query(
            "SELECT event_id, MIN(event_date) AS event_date FROM registrations              WHERE event_date >= $1 AND event_date < $2 GROUP BY event_id              UNION SELECT id AS event_id, event_date FROM events WHERE event_date >= $1 AND event_date < $2",
        )
        .bind(first.to_string())
        .bind(next.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut held: BTreeMap<String, Date> = BTreeMap::new();
        for r in &rows {
            held.entry(r.try_get("event_id")?).or_insert(parse(r, "event_date")?);
        }
        let mut out = Vec::with_capacity(held.len());
        for (id, date) in held {
            out.push(EventInputs {
                name: self.event(&id).await?.map(|e| e.name),
                registered: self.registered_for(&id).await?.into_iter().collect(),
                answers: self.attendance_answers(&id).await?,
                came: self.event_came(&id).await?,
                id,
                date,
            });
        }
        Ok(out)
    }

    /// Stores recommendations with their tasks, all or nothing; a customer
    /// recommended meanwhile by another request fails the whole (the
    /// caller asks again).
    pub async fn add_recommendations(&self, event_id: &str, tasks: &[TaskDraft], at: Timestamp) -> Result<bool> {
        if tasks.is_empty() {
            return Ok(true);
        }
        let mut rows = Rows::new(
            "INSERT INTO event_recommendations (event_id, customer_phone, task_id, created_at) VALUES ",
            "(#1, #2, #3, #4)",
            "",
        );
        for t in tasks {
            rows.push([event_id.into(), t.customer_phone.as_str().into(), t.id.to_string().into(), ms(at).into()]);
        }
        match self.commit(batch_with_tasks(rows, tasks)).await {
            Ok(()) => Ok(true),
            Err(StoreError::Database(sqlx::Error::Database(e))) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }
}
