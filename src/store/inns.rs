//! Inns and their bookings, with the reminders the centre made about them.
//! A reminder is claimed by the booking's reminder count in the same
//! transaction that stores its task, so two nodes never phone twice.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::apply::push_tasks;
use super::batch::Batch;
use super::history::{self, Book, OrderEvent};
use super::*;
use crate::domain::{InnId, InnOrderId, InnOrderStatus, Phone, TaskId, TaskStatus, UserId};

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Inn {
    pub id: InnId,
    pub name: String,
    #[schema(value_type = String)]
    pub front_desk_phone: Phone,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
}

/// A booking as reported by the inn back office.
#[derive(Clone, Debug)]
pub struct NewInnOrder {
    pub inn: InnId,
    /// The back office's own id; a second report with it updates the booking.
    pub reference: Option<String>,
    pub front_desk_phone: Phone,
    pub guest: String,
    pub check_in: Option<String>,
    pub check_out: Option<String>,
    pub status: InnOrderStatus,
    pub created_at: Timestamp,
    /// When the first reminder is due, while unprocessed.
    pub remind_at: Timestamp,
}

/// A booking as stored.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct InnOrder {
    pub id: InnOrderId,
    pub inn_id: InnId,
    pub inn: String,
    pub reference: Option<String>,
    #[schema(value_type = String)]
    pub front_desk_phone: Phone,
    pub guest: String,
    pub check_in: Option<String>,
    pub check_out: Option<String>,
    pub status: InnOrderStatus,
    /// When the inn back office made it.
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    /// The next reminder, while unprocessed.
    #[schema(value_type = Option<String>)]
    pub remind_at: Option<Timestamp>,
    pub reminders: u32,
    /// The latest `inn_reminder` task.
    pub task_id: Option<TaskId>,
    /// Where that task is now.
    pub task_status: Option<TaskStatus>,
    #[schema(value_type = Option<String>)]
    pub escalated_at: Option<Timestamp>,
    pub events: Vec<OrderEvent>,
}

const ORDER_COLUMNS: &str = "o.id, o.inn_id, i.name AS inn, o.reference, o.front_desk_phone, o.guest, o.check_in, \
                             o.check_out, o.status, o.created_at, o.remind_at, o.reminders, o.task_id, \
                             t.status AS task_status, o.escalated_at";
const ORDER_FROM: &str = "inn_orders o JOIN inns i ON i.id = o.inn_id LEFT JOIN tasks t ON t.id = o.task_id";

fn phone(row: &AnyRow, col: &str) -> Result<Phone> {
    Phone::parse(&row.try_get::<String, _>(col)?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn opt_time(row: &AnyRow, col: &str) -> Result<Option<Timestamp>> {
    row.try_get::<Option<i64>, _>(col)?.map(from_ms).transpose()
}

fn inn_from_row(row: &AnyRow) -> Result<Inn> {
    Ok(Inn {
        id: parse(row, "id")?,
        name: row.try_get("name")?,
        front_desk_phone: phone(row, "front_desk_phone")?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

fn order_from_row(row: &AnyRow) -> Result<InnOrder> {
    let reminders: i64 = row.try_get("reminders")?;
    Ok(InnOrder {
        id: parse(row, "id")?,
        inn_id: parse(row, "inn_id")?,
        inn: row.try_get("inn")?,
        reference: row.try_get("reference")?,
        front_desk_phone: phone(row, "front_desk_phone")?,
        guest: row.try_get("guest")?,
        check_in: row.try_get("check_in")?,
        check_out: row.try_get("check_out")?,
        status: parse(row, "status")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        remind_at: opt_time(row, "remind_at")?,
        reminders: u32::try_from(reminders).map_err(|_| StoreError::Corrupt(format!("reminders {reminders}")))?,
        task_id: parse_opt(row, "task_id")?,
        task_status: parse_opt(row, "task_status")?,
        escalated_at: opt_time(row, "escalated_at")?,
        events: Vec::new(),
    })
}

async fn inn_event(
    conn: &mut AnyConnection,
    order: InnOrderId,
    event: &str,
    by: Option<UserId>,
    detail: Option<String>,
    at: Timestamp,
) -> Result<()> {
    history::append(conn, Book::InnOrders, &[order.to_string()], event, by, detail, at).await
}

/// What a reminder round writes for one booking.
#[derive(Clone, Debug)]
pub enum ReminderWrite {
    /// A new reminder task; `escalated` marks the booking for supervisors.
    Remind { task: Box<TaskDraft>, escalated: bool, next_at: Timestamp },
    /// No new task (the last one waits); the supervisors are told.
    Escalate { next_at: Timestamp },
}

impl Store {
    /// Adds an inn; `Conflict` when one has the name.
    pub async fn create_inn(&self, name: &str, front_desk: &Phone, at: Timestamp) -> Result<Inn> {
        let inn = Inn { id: InnId::new(), name: name.to_owned(), front_desk_phone: front_desk.clone(), created_at: at };
        let i = inn.clone();
        let result = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO inns (id, name, front_desk_phone, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(i.id.to_string())
                        .bind(&i.name)
                        .bind(i.front_desk_phone.as_str())
                        .bind(ms(i.created_at))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .await;
        conflict_if_taken(result, "inn with this name").map(|()| inn)
    }

    pub async fn inns(&self) -> Result<Vec<Inn>> {
        let rows = sqlx::query("SELECT id, name, front_desk_phone, created_at FROM inns ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(inn_from_row).collect()
    }

    pub async fn inn_named(&self, name: &str) -> Result<Option<Inn>> {
        let row = sqlx::query("SELECT id, name, front_desk_phone, created_at FROM inns WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(inn_from_row).transpose()
    }

    /// Stores a reported booking, or updates the status of the one with
    /// the same back-office reference. Returns its id, whether it is new,
    /// and the reminder task to settle when it is no longer unprocessed.
    pub async fn report_inn_order(&self, o: &NewInnOrder, at: Timestamp) -> Result<(InnOrderId, bool, Option<TaskId>)> {
        let o = o.clone();
        self.write_tx(move |conn| {
            Box::pin(async move {
                if let Some(reference) = &o.reference {
                    let known = sqlx::query("SELECT id FROM inn_orders WHERE inn_id = $1 AND reference = $2")
                        .bind(o.inn.to_string())
                        .bind(reference)
                        .fetch_optional(&mut *conn)
                        .await?;
                    if let Some(row) = known {
                        let id: InnOrderId = parse(&row, "id")?;
                        let task = set_status(conn, id, o.status, None, at).await?;
                        return Ok((id, false, task));
                    }
                }
                let id = InnOrderId::new();
                let remind_at = (o.status == InnOrderStatus::Unprocessed).then(|| ms(o.remind_at));
                sqlx::query(
                    "INSERT INTO inn_orders (id, inn_id, reference, front_desk_phone, guest, check_in, check_out, \
                     status, created_at, received_at, updated_at, remind_at, reminders) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, 0)",
                )
                .bind(id.to_string())
                .bind(o.inn.to_string())
                .bind(o.reference.clone())
                .bind(o.front_desk_phone.as_str())
                .bind(&o.guest)
                .bind(o.check_in.clone())
                .bind(o.check_out.clone())
                .bind(o.status.as_str())
                .bind(ms(o.created_at))
                .bind(ms(at))
                .bind(remind_at)
                .execute(&mut *conn)
                .await?;
                inn_event(conn, id, "reported", None, Some(o.status.as_str().to_owned()), at).await?;
                Ok((id, true, None))
            })
        })
        .await
    }

    /// Sets a booking's status; `None` when there is no such booking.
    /// Returns the reminder task to settle once it is no longer unprocessed.
    pub async fn set_inn_order_status(
        &self,
        id: InnOrderId,
        status: InnOrderStatus,
        by: Option<UserId>,
        at: Timestamp,
    ) -> Result<Option<Option<TaskId>>> {
        self.write_tx(move |conn| {
            Box::pin(async move {
                let exists = sqlx::query("SELECT id FROM inn_orders WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(&mut *conn)
                    .await?;
                if exists.is_none() {
                    return Ok(None);
                }
                set_status(conn, id, status, by, at).await.map(Some)
            })
        })
        .await
    }

    pub async fn inn_order(&self, id: InnOrderId) -> Result<Option<InnOrder>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.id = $1"));
        let Some(row) = sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let mut order = order_from_row(&row)?;
        order.events = history::read(self, Book::InnOrders, &id.to_string()).await?;
        Ok(Some(order))
    }

    /// Bookings in `status`, oldest first (without their history).
    pub async fn inn_orders(&self, status: InnOrderStatus) -> Result<Vec<InnOrder>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.status = $1 ORDER BY o.created_at, o.id"
        ));
        let rows = sqlx::query(sql).bind(status.as_str()).fetch_all(&self.pool).await?;
        rows.iter().map(order_from_row).collect()
    }

    /// Unprocessed bookings whose reminder is due at `now`, and the time of
    /// the next one after.
    pub async fn due_inn_orders(&self, now: Timestamp) -> Result<(Vec<InnOrder>, Option<Timestamp>)> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM {ORDER_FROM} WHERE o.status = 'unprocessed' AND o.remind_at <= $1 \
             ORDER BY o.remind_at, o.id"
        ));
        let due = sqlx::query(sql).bind(ms(now)).fetch_all(&self.pool).await?;
        let next = sqlx::query(
            "SELECT MIN(remind_at) AS next FROM inn_orders WHERE status = 'unprocessed' AND remind_at > $1",
        )
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        Ok((due.iter().map(order_from_row).collect::<Result<_>>()?, opt_time(&next, "next")?))
    }

    /// Writes a reminder round for a booking that had `made` reminders;
    /// false when another node (or a status change) got there first.
    pub async fn write_inn_reminder(
        &self,
        order: InnOrderId,
        made: u32,
        write: &ReminderWrite,
        at: Timestamp,
    ) -> Result<bool> {
        let (backend, write) = (self.backend, write.clone());
        self.write_tx(move |conn| {
            Box::pin(async move {
                let (task, escalate, next_at) = match &write {
                    ReminderWrite::Remind { task, escalated, next_at } => (Some(task), *escalated, *next_at),
                    ReminderWrite::Escalate { next_at } => (None, true, *next_at),
                };
                let claimed = sqlx::query(
                    "UPDATE inn_orders SET reminders = reminders + $1, remind_at = $2, updated_at = $3, \
                     escalated_at = CASE WHEN $4 = 1 THEN COALESCE(escalated_at, $3) ELSE escalated_at END \
                     WHERE id = $5 AND reminders = $6 AND status = 'unprocessed' RETURNING escalated_at",
                )
                .bind(i64::from(task.is_some()))
                .bind(ms(next_at))
                .bind(ms(at))
                .bind(i64::from(escalate))
                .bind(order.to_string())
                .bind(i64::from(made))
                .fetch_optional(&mut *conn)
                .await?;
                let Some(claimed) = claimed else { return Ok(false) };
                let newly_escalated = claimed.try_get::<Option<i64>, _>("escalated_at")? == Some(ms(at));
                if let Some(task) = task {
                    let mut batch = Batch::default();
                    push_tasks(&mut batch, std::slice::from_ref(task));
                    batch.run_in(conn, backend).await?;
                    // After the task row exists: the column references it.
                    sqlx::query("UPDATE inn_orders SET task_id = $1 WHERE id = $2")
                        .bind(task.id.to_string())
                        .bind(order.to_string())
                        .execute(&mut *conn)
                        .await?;
                    let detail = format!("reminder {} (task {})", made + 1, task.id);
                    inn_event(conn, order, "reminder", None, Some(detail), at).await?;
                }
                if escalate && newly_escalated {
                    let detail = match task {
                        Some(_) => format!("still unprocessed after {made} reminders"),
                        None => "the last reminder is still waiting for an agent".to_owned(),
                    };
                    inn_event(conn, order, "escalated", None, Some(detail), at).await?;
                }
                Ok(true)
            })
        })
        .await
    }
}

async fn set_status(
    conn: &mut AnyConnection,
    id: InnOrderId,
    status: InnOrderStatus,
    by: Option<UserId>,
    at: Timestamp,
) -> Result<Option<TaskId>> {
    let row = sqlx::query(
        "UPDATE inn_orders SET status = $1, updated_at = $2, \
         remind_at = CASE WHEN $1 = 'unprocessed' THEN remind_at ELSE NULL END WHERE id = $3 RETURNING task_id",
    )
    .bind(status.as_str())
    .bind(ms(at))
    .bind(id.to_string())
    .fetch_one(&mut *conn)
    .await?;
    inn_event(conn, id, status.as_str(), by, None, at).await?;
    if status == InnOrderStatus::Unprocessed {
        return Ok(None);
    }
    let task: Option<String> = row.try_get("task_id")?;
    if let Some(task) = &task {
        let note = format!("the inn's booking is {status}");
        super::trips::close_if_scheduled(conn, task, TaskStatus::Completed, &note, at).await?;
    }
    parse_opt(&row, "task_id")
}
