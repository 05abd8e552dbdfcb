//! Trips: the orders one driver drives together, the phone calls to
//! drivers about them, dispatch with its insurance tasks, completion. Every
//! step writes its line into each order's history in the same transaction,
//! and every step checks the state it starts from in SQL, so two
//! dispatchers (or two nodes) cannot both take it.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::apply::push_tasks;
use super::batch::Batch;
use super::cars::{COLUMNS, order_from_row};
use super::history::{self, Book};
use super::*;
use crate::domain::{CarOrderId, CarOrderStatus, DriverCallOutcome, DriverId, TaskStatus, TripId, TripStatus, UserId};
use crate::rules::travel::trips::Span;

/// Why a step on a trip or an order was refused; nothing was written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TripRefusal {
    #[error("order {0} is not open, or already in a trip")]
    OrderTaken(CarOrderId),
    #[error("the trip is {0}; this step needs it {1}")]
    TripState(TripStatus, &'static str),
    #[error("the driver is already confirmed for trip {0}, whose time overlaps this one")]
    DoubleBooked(TripId),
    #[error("the order is {0}; this step needs it {1}")]
    OrderState(CarOrderStatus, &'static str),
    #[error("the order has no insurance policy number yet")]
    InsuranceMissing,
}

/// A trip to plan.
#[derive(Clone, Debug)]
pub struct NewTrip {
    pub id: TripId,
    pub orders: Vec<CarOrderId>,
    pub span: Span,
    pub passengers: u32,
    /// The proposal it came from, when a pool was accepted.
    pub pool_id: Option<String>,
    pub by: UserId,
    pub at: Timestamp,
}

/// A phone call to a driver about a trip.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct DriverCall {
    pub driver_id: DriverId,
    pub outcome: DriverCallOutcome,
    pub user_id: Option<UserId>,
    #[schema(value_type = String)]
    pub at: Timestamp,
}

/// A trip as stored.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Trip {
    pub id: TripId,
    pub status: TripStatus,
    pub driver_id: Option<DriverId>,
    /// The time the trip keeps its driver.
    pub span: Span,
    pub passengers: u32,
    pub pool_id: Option<String>,
    pub order_ids: Vec<CarOrderId>,
    /// Every call to a driver about it, in order.
    pub calls: Vec<DriverCall>,
}

/// A trip that holds (or held) a driver, for ranking drivers.
#[derive(Clone, Debug)]
pub struct DriverBooking {
    pub trip: TripId,
    pub driver: DriverId,
    pub status: TripStatus,
    pub span: Span,
}

/// An order whose confirmation is still owed: in no trip, or in one no
/// driver has confirmed yet.
pub(super) const UNCONFIRMED: &str =
    "(trip_id IS NULL OR trip_id IN (SELECT id FROM car_trips WHERE status = 'planned'))";

pub(super) type Refusable<T> = Result<std::result::Result<T, TripRefusal>>;

pub(super) async fn history(
    conn: &mut AnyConnection,
    orders: &[CarOrderId],
    event: &str,
    by: Option<UserId>,
    detail: Option<String>,
    at: Timestamp,
) -> Result<()> {
    let ids: Vec<String> = orders.iter().map(ToString::to_string).collect();
    history::append(conn, Book::CarOrders, &ids, event, by, detail, at).await
}

async fn trip_orders(conn: &mut AnyConnection, trip: TripId) -> Result<Vec<CarOrderId>> {
    let rows = sqlx::query("SELECT id FROM car_orders WHERE trip_id = $1 ORDER BY service_time, id")
        .bind(trip.to_string())
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|r| parse(r, "id")).collect()
}

async fn trip_status(conn: &mut AnyConnection, trip: TripId) -> Result<Option<TripStatus>> {
    let row = sqlx::query("SELECT status FROM car_trips WHERE id = $1")
        .bind(trip.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| parse(&r, "status")).transpose()
}

/// Closes a task that waits in the schedule for its next attempt (so is
/// not live in the dispatcher) when the work it stood for is done or void;
/// a live task is the dispatcher's to close (`Command::Settle`).
pub(super) async fn close_if_scheduled(
    conn: &mut AnyConnection,
    task: &str,
    status: TaskStatus,
    note: &str,
    at: Timestamp,
) -> Result<()> {
    let closed = sqlx::query(
        "UPDATE tasks SET status = $1, closed_at = $2, updated_at = $2 WHERE id = $3 AND status = 'scheduled'",
    )
    .bind(status.as_str())
    .bind(ms(at))
    .bind(task)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if closed > 0 {
        sqlx::query("INSERT INTO task_events (task_id, at, event, agent_id, note) VALUES ($1, $2, $3, NULL, $4)")
            .bind(task)
            .bind(ms(at))
            .bind(status.as_str())
            .bind(note)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A driver back to `available` once no confirmed or dispatched trip holds them.
pub(super) async fn free_driver_if_idle(conn: &mut AnyConnection, driver: &str, at: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE drivers SET status = 'available', updated_at = $1 WHERE id = $2 AND status = 'assigned' \
         AND NOT EXISTS (SELECT 1 FROM car_trips WHERE driver_id = $2 AND status IN ('confirmed', 'dispatched'))",
    )
    .bind(ms(at))
    .bind(driver)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Plans a trip of open orders not yet in one; all or nothing.
    pub async fn create_trip(&self, trip: &NewTrip) -> Refusable<()> {
        let t = trip.clone();
        self.write_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO car_trips (id, status, driver_id, starts_at, ends_at, passengers, pool_id, \
                     created_by, created_at, updated_at) VALUES ($1, 'planned', NULL, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(t.id.to_string())
                .bind(ms(t.span.start))
                .bind(ms(t.span.end))
                .bind(i64::from(t.passengers))
                .bind(t.pool_id.clone())
                .bind(t.by.to_string())
                .bind(ms(t.at))
                .execute(&mut *conn)
                .await?;
                for order in &t.orders {
                    let taken = sqlx::query(
                        "UPDATE car_orders SET trip_id = $1, updated_at = $2 \
                         WHERE id = $3 AND status = 'open' AND trip_id IS NULL",
                    )
                    .bind(t.id.to_string())
                    .bind(ms(t.at))
                    .bind(order.to_string())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if taken == 0 {
                        return Err(StoreError::Refused(TripRefusal::OrderTaken(*order)));
                    }
                }
                let detail = match &t.pool_id {
                    Some(pool) => format!("trip {} (pool {pool} of {} orders)", t.id, t.orders.len()),
                    None => format!("trip {}", t.id),
                };
                history(conn, &t.orders, "trip_planned", Some(t.by), Some(detail), t.at).await
            })
        })
        .await
        .map(Ok)
        .or_else(StoreError::refusal)
    }

    pub async fn trip(&self, id: TripId) -> Result<Option<Trip>> {
        let Some(row) = sqlx::query(
            "SELECT id, status, driver_id, starts_at, ends_at, passengers, pool_id FROM car_trips WHERE id = $1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let orders = sqlx::query("SELECT id FROM car_orders WHERE trip_id = $1 ORDER BY service_time, id")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        let calls =
            sqlx::query("SELECT driver_id, outcome, user_id, at FROM car_trip_calls WHERE trip_id = $1 ORDER BY id")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?;
        let passengers: i64 = row.try_get("passengers")?;
        Ok(Some(Trip {
            id: parse(&row, "id")?,
            status: parse(&row, "status")?,
            driver_id: parse_opt(&row, "driver_id")?,
            span: Span { start: from_ms(row.try_get("starts_at")?)?, end: from_ms(row.try_get("ends_at")?)? },
            passengers: u32::try_from(passengers)
                .map_err(|_| StoreError::Corrupt(format!("passengers {passengers}")))?,
            pool_id: row.try_get("pool_id")?,
            order_ids: orders.iter().map(|r| parse(r, "id")).collect::<Result<_>>()?,
            calls: calls
                .iter()
                .map(|r| {
                    Ok(DriverCall {
                        driver_id: parse(r, "driver_id")?,
                        outcome: parse(r, "outcome")?,
                        user_id: parse_opt(r, "user_id")?,
                        at: from_ms(r.try_get("at")?)?,
                    })
                })
                .collect::<Result<_>>()?,
        }))
    }

    /// Trips planned, confirmed or dispatched, soonest first.
    pub async fn active_trips(&self) -> Result<Vec<Trip>> {
        let rows = sqlx::query(
            "SELECT id FROM car_trips WHERE status IN ('planned', 'confirmed', 'dispatched') ORDER BY starts_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut trips = Vec::with_capacity(rows.len());
        for row in &rows {
            trips.extend(self.trip(parse(row, "id")?).await?);
        }
        Ok(trips)
    }

    /// Trips that hold a driver and end after `since`, with their spans.
    pub async fn driver_bookings(&self, since: Timestamp) -> Result<Vec<DriverBooking>> {
        let rows = sqlx::query(
            "SELECT id, driver_id, status, starts_at, ends_at FROM car_trips \
             WHERE driver_id IS NOT NULL AND status <> 'cancelled' AND status <> 'planned' AND ends_at > $1",
        )
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DriverBooking {
                    trip: parse(r, "id")?,
                    driver: parse(r, "driver_id")?,
                    status: parse(r, "status")?,
                    span: Span { start: from_ms(r.try_get("starts_at")?)?, end: from_ms(r.try_get("ends_at")?)? },
                })
            })
            .collect()
    }

    /// Records a call to `driver` about a planned trip. `confirmed` gives
    /// the trip its driver, unless a trip the driver is already confirmed
    /// for overlaps it: then nothing is written and the refusal names it.
    pub async fn record_driver_call(
        &self,
        trip: TripId,
        driver: DriverId,
        driver_name: &str,
        outcome: DriverCallOutcome,
        by: UserId,
        at: Timestamp,
    ) -> Refusable<()> {
        let name = driver_name.to_owned();
        self.write_tx(move |conn| {
            Box::pin(async move {
                // Taking the driver's row first serialises two dispatchers
                // confirming one driver for two trips at once.
                sqlx::query("UPDATE drivers SET updated_at = $1 WHERE id = $2")
                    .bind(ms(at))
                    .bind(driver.to_string())
                    .execute(&mut *conn)
                    .await?;
                let row = sqlx::query("SELECT status, starts_at, ends_at FROM car_trips WHERE id = $1")
                    .bind(trip.to_string())
                    .fetch_one(&mut *conn)
                    .await?;
                let status: TripStatus = parse(&row, "status")?;
                if status != TripStatus::Planned {
                    return Err(StoreError::Refused(TripRefusal::TripState(status, "planned")));
                }
                if outcome == DriverCallOutcome::Confirmed {
                    let clash = sqlx::query(
                        "SELECT id FROM car_trips WHERE driver_id = $1 AND id <> $2 \
                         AND status IN ('confirmed', 'dispatched') AND starts_at < $3 AND ends_at > $4 LIMIT 1",
                    )
                    .bind(driver.to_string())
                    .bind(trip.to_string())
                    .bind(row.try_get::<i64, _>("ends_at")?)
                    .bind(row.try_get::<i64, _>("starts_at")?)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some(other) = clash {
                        return Err(StoreError::Refused(TripRefusal::DoubleBooked(parse(&other, "id")?)));
                    }
                    sqlx::query(
                        "UPDATE car_trips SET status = 'confirmed', driver_id = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(driver.to_string())
                    .bind(ms(at))
                    .bind(trip.to_string())
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "UPDATE drivers SET status = 'assigned', updated_at = $1 WHERE id = $2 AND status = 'available'",
                    )
                    .bind(ms(at))
                    .bind(driver.to_string())
                    .execute(&mut *conn)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO car_trip_calls (trip_id, driver_id, outcome, user_id, at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(trip.to_string())
                .bind(driver.to_string())
                .bind(outcome.as_str())
                .bind(by.to_string())
                .bind(ms(at))
                .execute(&mut *conn)
                .await?;
                let orders = trip_orders(conn, trip).await?;
                let event = format!("driver_{}", outcome.as_str());
                history(conn, &orders, &event, Some(by), Some(format!("{name} ({driver})")), at).await
            })
        })
        .await
        .map(Ok)
        .or_else(StoreError::refusal)
    }

    /// Dispatches a confirmed trip: its orders become `dispatched`, each
    /// with its `insurance_registration` task (`insurance[i]` for the
    /// trip's i-th order, in service-time order). Returns the orders'
    /// `car_dispatch` tasks, done now.
    pub async fn dispatch_trip(
        &self,
        trip: TripId,
        insurance: impl Fn(&CarOrder) -> TaskDraft + Send + 'static,
        by: UserId,
        at: Timestamp,
    ) -> Refusable<Vec<(CarOrder, TaskDraft)>> {
        let backend = self.backend;
        self.write_tx(move |conn| {
            Box::pin(async move {
                let status = trip_status(conn, trip).await?.ok_or(StoreError::Corrupt(format!("trip {trip}")))?;
                if status != TripStatus::Confirmed {
                    return Err(StoreError::Refused(TripRefusal::TripState(status, "confirmed")));
                }
                sqlx::query("UPDATE car_trips SET status = 'dispatched', updated_at = $1 WHERE id = $2")
                    .bind(ms(at))
                    .bind(trip.to_string())
                    .execute(&mut *conn)
                    .await?;
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM car_orders WHERE trip_id = $1 ORDER BY service_time, id"
                ));
                let orders: Vec<CarOrder> = sqlx::query(sql)
                    .bind(trip.to_string())
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(order_from_row)
                    .collect::<Result<_>>()?;
                let rows: Vec<TaskDraft> = orders.iter().map(&insurance).collect();
                let mut batch = Batch::default();
                push_tasks(&mut batch, &rows);
                batch.run_in(conn, backend).await?;
                for (order, row) in orders.iter().zip(&rows) {
                    if order.status != CarOrderStatus::Open {
                        return Err(StoreError::Refused(TripRefusal::OrderState(order.status, "open")));
                    }
                    sqlx::query(
                        "UPDATE car_orders SET status = 'dispatched', insurance_task_id = $1, updated_at = $2 \
                         WHERE id = $3",
                    )
                    .bind(row.id.to_string())
                    .bind(ms(at))
                    .bind(order.id.to_string())
                    .execute(&mut *conn)
                    .await?;
                    let note = format!("dispatched in trip {trip}");
                    close_if_scheduled(conn, &order.task_id.to_string(), TaskStatus::Completed, &note, at).await?;
                }
                let ids: Vec<CarOrderId> = orders.iter().map(|o| o.id).collect();
                history(conn, &ids, "dispatched", Some(by), Some(format!("trip {trip}")), at).await?;
                Ok(orders.into_iter().zip(rows).collect())
            })
        })
        .await
        .map(Ok)
        .or_else(StoreError::refusal)
    }

    /// Turns a pool proposal down so it is not proposed again.
    pub async fn reject_pool(&self, proposal: &str, by: UserId, at: Timestamp) -> Result<()> {
        let proposal = proposal.to_owned();
        self.write_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO pool_rejections (proposal_id, user_id, at) VALUES ($1, $2, $3) \
                     ON CONFLICT (proposal_id) DO NOTHING",
                )
                .bind(&proposal)
                .bind(by.to_string())
                .bind(ms(at))
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn rejected_pools(&self) -> Result<std::collections::HashSet<String>> {
        let rows = sqlx::query("SELECT proposal_id FROM pool_rejections").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get("proposal_id")?)).collect()
    }

    /// Per trip, the last call outcome of each driver phoned about it.
    pub async fn trip_calls(&self, trip: TripId) -> Result<HashMap<DriverId, (DriverCallOutcome, Timestamp)>> {
        let rows = sqlx::query("SELECT driver_id, outcome, at FROM car_trip_calls WHERE trip_id = $1 ORDER BY id")
            .bind(trip.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((parse(r, "driver_id")?, (parse(r, "outcome")?, from_ms(r.try_get("at")?)?)))).collect()
    }
}
