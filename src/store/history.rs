//! The step-by-step history that car orders and inn bookings keep: one
//! row per step (who, when, what, a detail), written in the transaction of
//! the step itself.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::*;
use crate::domain::UserId;

/// One step in an order's history.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct OrderEvent {
    #[schema(value_type = String)]
    pub at: Timestamp,
    pub event: String,
    pub user_id: Option<UserId>,
    pub detail: Option<String>,
}

/// Whose history: each kind of order has its own table.
#[derive(Clone, Copy, Debug)]
pub(super) enum Book {
    CarOrders,
    InnOrders,
}

impl Book {
    fn table(self) -> &'static str {
        match self {
            Book::CarOrders => "car_order_events",
            Book::InnOrders => "inn_order_events",
        }
    }
}

/// Appends one step to the history of each of `orders`.
pub(super) async fn append(
    conn: &mut AnyConnection,
    book: Book,
    orders: &[String],
    event: &str,
    by: Option<UserId>,
    detail: Option<String>,
    at: Timestamp,
) -> Result<()> {
    let sql =
        format!("INSERT INTO {} (order_id, at, event, user_id, detail) VALUES ($1, $2, $3, $4, $5)", book.table());
    for order in orders {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .bind(order)
            .bind(ms(at))
            .bind(event)
            .bind(by.map(|u| u.to_string()))
            .bind(detail.clone())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// An order's history, oldest step first.
pub(super) async fn read(store: &Store, book: Book, order: &str) -> Result<Vec<OrderEvent>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT at, event, user_id, detail FROM {} WHERE order_id = $1 ORDER BY id",
        book.table()
    ));
    let rows = sqlx::query(sql).bind(order).fetch_all(&store.pool).await?;
    rows.iter()
        .map(|r| {
            Ok(OrderEvent {
                at: from_ms(r.try_get("at")?)?,
                event: r.try_get("event")?,
                user_id: parse_opt(r, "user_id")?,
                detail: r.try_get("detail")?,
            })
        })
        .collect()
}
