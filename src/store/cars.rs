//! Private-car orders, stored with their dispatch task and their history,
//! and the steps of one order: insurance, completion, cancellation,
//! escalation past its confirmation deadline.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::apply::{events, new_tasks, push_new_task};
use super::batch::{Arg, Batch, Rows};
use super::history::{self, Book, OrderEvent};
use super::trips::{Refusable, TripRefusal, UNCONFIRMED, close_if_scheduled, free_driver_if_idle, history};
use super::*;
use crate::domain::{CarOrderId, CarOrderKind, CarOrderStatus, Phone, TaskId, TaskStatus, TripId, UserId};

/// An order to store.
#[derive(Clone, Debug)]
pub struct NewCarOrder {
    pub id: CarOrderId,
    pub kind: CarOrderKind,
    pub passenger: String,
    pub phone: Phone,
    pub passengers: u32,
    pub luggage: Option<u32>,
    pub flight: Option<String>,
    pub airport: Option<String>,
    pub from_address: Option<String>,
    pub to_address: Option<String>,
    pub time: Timestamp,
    pub confirm_by: Timestamp,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
}

/// An order as stored, with its history.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CarOrder {
    pub id: CarOrderId,
    pub kind: CarOrderKind,
    pub status: CarOrderStatus,
    pub passenger: String,
    #[schema(value_type = String)]
    pub phone: Phone,
    pub passengers: u32,
    pub luggage: Option<u32>,
    pub flight: Option<String>,
    pub airport: Option<String>,
    pub from_address: Option<String>,
    pub to_address: Option<String>,
    /// When the service starts (the pickup, the charter, the departure).
    #[schema(value_type = String)]
    pub time: Timestamp,
    /// By when a driver must have confirmed.
    #[schema(value_type = String)]
    pub confirm_by: Timestamp,
    /// The dispatchers' `car_dispatch` task.
    pub task_id: TaskId,
    /// The trip the order rides in, once a dispatcher planned one.
    pub trip_id: Option<TripId>,
    /// The passenger's travel insurance, registered after dispatch; an
    /// order cannot complete without it.
    pub policy_number: Option<String>,
    /// The `insurance_registration` task created at dispatch.
    pub insurance_task_id: Option<TaskId>,
    /// When the order passed its confirmation deadline without a driver
    /// and went to the supervisors.
    #[schema(value_type = Option<String>)]
    pub escalated_at: Option<Timestamp>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    pub events: Vec<OrderEvent>,
}

pub(super) const COLUMNS: &str = "id, kind, status, passenger, phone, passengers, luggage, flight, airport, from_address, \
                       to_address, service_time, confirm_by, task_id, created_at, trip_id, policy_number, \
                       insurance_task_id, escalated_at";

fn count(row: &AnyRow, col: &str) -> Result<Option<u32>> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(|v| u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col} {v}")))).transpose()
}

pub(super) fn order_from_row(row: &AnyRow) -> Result<CarOrder> {
    Ok(CarOrder {
        id: parse(row, "id")?,
        kind: parse(row, "kind")?,
        status: parse(row, "status")?,
        passenger: row.try_get("passenger")?,
        phone: Phone::parse(&row.try_get::<String, _>("phone")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        passengers: count(row, "passengers")?.unwrap_or_default(),
        luggage: count(row, "luggage")?,
        flight: row.try_get("flight")?,
        airport: row.try_get("airport")?,
        from_address: row.try_get("from_address")?,
        to_address: row.try_get("to_address")?,
        time: from_ms(row.try_get("service_time")?)?,
        confirm_by: from_ms(row.try_get("confirm_by")?)?,
        task_id: parse(row, "task_id")?,
        trip_id: parse_opt(row, "trip_id")?,
        policy_number: row.try_get("policy_number")?,
        insurance_task_id: parse_opt(row, "insurance_task_id")?,
        escalated_at: row.try_get::<Option<i64>, _>("escalated_at")?.map(from_ms).transpose()?,
        created_at: from_ms(row.try_get("created_at")?)?,
        events: Vec::new(),
    })
}

/// The order's row, refused unless the order is `need`: every step on
/// one order starts here, inside its transaction.
async fn order_in(conn: &mut sqlx::AnyConnection, order: CarOrderId, need: CarOrderStatus) -> Result<AnyRow> {
    let row =
        sqlx::query("SELECT status, policy_number, trip_id, task_id, insurance_task_id FROM car_orders WHERE id = $1")
            .bind(order.to_string())
            .fetch_one(&mut *conn)
            .await?;
    let status: CarOrderStatus = parse(&row, "status")?;
    if status != need {
        return Err(StoreError::Refused(TripRefusal::OrderState(status, need.as_str())));
    }
    Ok(row)
}

impl Store {
    /// Stores an order with its `car_dispatch` task and its `created`
    /// event, all or nothing.
    pub async fn create_car_order(&self, o: &NewCarOrder, task: &TaskDraft) -> Result<()> {
        let (mut tasks, mut task_events) = (new_tasks(), events());
        push_new_task(&mut tasks, &mut task_events, task);
        let mut order = Rows::new(
            "INSERT INTO car_orders (id, kind, status, passenger, phone, passengers, luggage, flight, airport, \
             from_address, to_address, service_time, confirm_by, task_id, created_by, created_at, updated_at) VALUES ",
            "(#1, #2, 'open', #3, #4, #5, #6, #7, #8, #9, #10, #11, #12, #13, #14, #15, #15)",
            "",
        );
        let user = |u: Option<UserId>| Arg::Text(u.map(|u| u.to_string()));
        order.push([
            o.id.to_string().into(),
            o.kind.as_str().into(),
            o.passenger.clone().into(),
            o.phone.as_str().into(),
            i64::from(o.passengers).into(),
            o.luggage.map(i64::from).into(),
            o.flight.clone().into(),
            o.airport.clone().into(),
            o.from_address.clone().into(),
            o.to_address.clone().into(),
            ms(o.time).into(),
            ms(o.confirm_by).into(),
            task.id.to_string().into(),
            user(o.created_by),
            ms(o.created_at).into(),
        ]);
        let mut history = Rows::new(
            "INSERT INTO car_order_events (order_id, at, event, user_id, detail) VALUES ",
            "(#1, #2, #3, #4, #5)",
            "",
        );
        history.push([
            o.id.to_string().into(),
            ms(o.created_at).into(),
            "created".into(),
            user(o.created_by),
            Arg::Text(None),
        ]);
        let mut batch = Batch::default();
        batch.push(tasks);
        batch.push(task_events);
        batch.push(order);
        batch.push(history);
        self.commit(batch).await
    }

    /// One order with its history.
    pub async fn car_order(&self, id: CarOrderId) -> Result<Option<CarOrder>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM car_orders WHERE id = $1"));
        let Some(row) = sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let mut order = order_from_row(&row)?;
        order.events = history::read(self, Book::CarOrders, &id.to_string()).await?;
        Ok(Some(order))
    }

    /// Orders in `status`, soonest service first (without their history).
    pub async fn car_orders(&self, status: CarOrderStatus) -> Result<Vec<CarOrder>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM car_orders WHERE status = $1 ORDER BY service_time, id"
        ));
        let rows = sqlx::query(sql).bind(status.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(order_from_row).collect()
    }

    /// Records a dispatched order's insurance policy number; returns its
    /// `insurance_registration` task, done now.
    pub async fn register_insurance(
        &self,
        order: CarOrderId,
        policy: &str,
        by: UserId,
        at: Timestamp,
    ) -> Refusable<Option<TaskId>> {
        let policy = policy.to_owned();
        self.write_tx(move |conn| {
            Box::pin(async move {
                let row = order_in(conn, order, CarOrderStatus::Dispatched).await?;
                sqlx::query("UPDATE car_orders SET policy_number = $1, updated_at = $2 WHERE id = $3")
                    .bind(&policy)
                    .bind(ms(at))
                    .bind(order.to_string())
                    .execute(&mut *conn)
                    .await?;
                history(conn, &[order], "insurance_registered", Some(by), Some(policy), at).await?;
                parse_opt(&row, "insurance_task_id")
            })
        })
        .await
        .map(Ok)
        .or_else(StoreError::refusal)
    }

    /// Completes a dispatched order that has its policy number. The trip
    /// completes with its last order, and frees its driver.
    pub async fn complete_car_order(&self, order: CarOrderId, by: UserId, at: Timestamp) -> Refusable<()> {
        self.write_tx(move |conn| {
            Box::pin(async move {
                let row = order_in(conn, order, CarOrderStatus::Dispatched).await?;
                if row.try_get::<Option<String>, _>("policy_number")?.is_none() {
                    return Err(StoreError::Refused(TripRefusal::InsuranceMissing));
                }
                sqlx::query("UPDATE car_orders SET status = 'completed', updated_at = $1 WHERE id = $2")
                    .bind(ms(at))
                    .bind(order.to_string())
                    .execute(&mut *conn)
                    .await?;
                history(conn, &[order], "completed", Some(by), None, at).await?;
                let trip: String = row.try_get("trip_id")?;
                let done = sqlx::query(
                    "UPDATE car_trips SET status = 'completed', updated_at = $1 WHERE id = $2 AND NOT EXISTS \
                     (SELECT 1 FROM car_orders WHERE trip_id = $2 AND status = 'dispatched') RETURNING driver_id",
                )
                .bind(ms(at))
                .bind(&trip)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(done) = done {
                    let driver: String = done.try_get("driver_id")?;
                    free_driver_if_idle(conn, &driver, at).await?;
                }
                Ok(())
            })
        })
        .await
        .map(Ok)
        .or_else(StoreError::refusal)
    }

    /// Cancels an order not yet dispatched; it leaves its trip, and a trip
    /// left empty is cancelled (freeing its driver). Returns the order's
    /// `car_dispatch` task, to cancel.
    pub async fn cancel_car_order(&self, order: CarOrderId, by: UserId, at: Timestamp) -> Refusable<TaskId> {
        self.write_tx(move |conn| {
            Box::pin(async move {
                let row = order_in(conn, order, CarOrderStatus::Open).await?;
                sqlx::query(
                    "UPDATE car_orders SET status = 'cancelled', trip_id = NULL, updated_at = $1 WHERE id = $2",
                )
                .bind(ms(at))
                .bind(order.to_string())
                .execute(&mut *conn)
                .await?;
                history(conn, &[order], "cancelled", Some(by), None, at).await?;
                if let Some(trip) = row.try_get::<Option<String>, _>("trip_id")? {
                    let emptied = sqlx::query(
                        "UPDATE car_trips SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND NOT EXISTS \
                         (SELECT 1 FROM car_orders WHERE trip_id = $2) RETURNING driver_id",
                    )
                    .bind(ms(at))
                    .bind(&trip)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some(driver) = emptied.and_then(|r| r.try_get::<Option<String>, _>("driver_id").ok()?) {
                        free_driver_if_idle(conn, &driver, at).await?;
                    }
                }
                let task: String = row.try_get("task_id")?;
                close_if_scheduled(conn, &task, TaskStatus::Cancelled, "order cancelled", at).await?;
                parse(&row, "task_id")
            })
        })
        .await
        .map(Ok)
        .or_else(StoreError::refusal)
    }

    /// Open orders past their confirmation deadline not yet escalated:
    /// marks them escalated (with a history line) and returns them.
    pub async fn escalate_overdue_car_orders(&self, now: Timestamp) -> Result<Vec<CarOrderId>> {
        self.write_tx(move |conn| {
            Box::pin(async move {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE car_orders SET escalated_at = $1, updated_at = $1 \
                     WHERE status = 'open' AND confirm_by <= $1 AND escalated_at IS NULL AND {UNCONFIRMED} \
                     RETURNING id"
                )))
                .bind(ms(now))
                .fetch_all(&mut *conn)
                .await?;
                let ids: Vec<CarOrderId> = rows.iter().map(|r| parse(r, "id")).collect::<Result<_>>()?;
                let detail = "no driver dispatched by the confirmation deadline".to_owned();
                history(conn, &ids, "escalated", None, Some(detail), now).await?;
                Ok(ids)
            })
        })
        .await
    }

    /// The earliest confirmation deadline among open orders not escalated.
    pub async fn next_car_order_deadline(&self) -> Result<Option<Timestamp>> {
        let sql = format!(
            "SELECT MIN(confirm_by) AS due FROM car_orders WHERE status = 'open' AND escalated_at IS NULL \
             AND {UNCONFIRMED}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await?;
        row.try_get::<Option<i64>, _>("due")?.map(from_ms).transpose()
    }
}
