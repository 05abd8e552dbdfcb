//! `POST /api/v1/orders`: customers' past orders imported from the shop's
//! system (历史订单数据), as JSON or CSV, all or nothing; events are
//! recommended by them (`events.rs`).

use std::collections::BTreeSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use crate::api::state::AppState;
use crate::domain::Phone;
use crate::rules::events::TIERS;
use crate::store::OrderWrite;

/// One order; in CSV, a row under the header
/// `order_ref,customer_phone,category,brand,price_tier,ordered_on`
/// (`brand` and `price_tier` may be empty).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    /// The shop's order number: importing it again replaces it.
    pub order_ref: String,
    #[schema(value_type = String, example = "13800138000")]
    pub customer_phone: String,
    #[schema(example = "瓷砖")]
    pub category: String,
    pub brand: Option<String>,
    /// 档次, 1 (cheapest) to 5.
    pub price_tier: Option<u8>,
    #[schema(value_type = String, example = "2026-10-01")]
    pub ordered_on: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersBody {
    pub orders: Vec<OrderBody>,
}

#[derive(Serialize, ToSchema)]
pub struct Imported {
    pub imported: usize,
}

/// The most orders one request imports.
const MAX_ORDERS: usize = 5000;

fn row_error(row: usize, message: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable("invalid_field", format!("order {row}: {message}"))
}

fn check(row: usize, o: OrderBody) -> Result<OrderWrite, ApiError> {
    let blank = |s: &str| s.trim().is_empty();
    if blank(&o.order_ref) || o.order_ref.chars().count() > 100 {
        return Err(row_error(row, "order_ref: 1-100 characters"));
    }
    let phone = Phone::parse(&o.customer_phone).map_err(|e| row_error(row, e))?;
    if blank(&o.category) || o.category.chars().count() > 50 {
        return Err(row_error(row, "category: 1-50 characters"));
    }
    let brand = o.brand.filter(|b| !blank(b));
    if brand.as_ref().is_some_and(|b| b.chars().count() > 100) {
        return Err(row_error(row, "brand: at most 100 characters"));
    }
    if o.price_tier.is_some_and(|t| !TIERS.contains(&t)) {
        return Err(row_error(row, "price_tier: 1-5"));
    }
    let ordered_on: Date = o
        .ordered_on
        .trim()
        .parse()
        .map_err(|_| row_error(row, format!("ordered_on: {:?} is not YYYY-MM-DD", o.ordered_on)))?;
    Ok(OrderWrite {
        order_ref: o.order_ref.trim().to_owned(),
        phone,
        category: o.category.trim().to_lowercase(),
        brand: brand.map(|b| b.trim().to_owned()),
        price_tier: o.price_tier,
        ordered_on,
    })
}

/// CSV rows, numbered from 1 after the header.
fn from_csv(body: &[u8]) -> Result<Vec<OrderBody>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        order_ref: String,
        customer_phone: String,
        category: String,
        #[serde(default)]
        brand: Option<String>,
        #[serde(default)]
        price_tier: Option<String>,
        ordered_on: String,
    }
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(body);
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let row = row.map_err(|e| row_error(i + 1, format!("not a valid CSV row ({e})")))?;
        let price_tier = match row.price_tier.as_deref() {
            None | Some("") => None,
            Some(t) => Some(t.parse::<u8>().map_err(|_| row_error(i + 1, "price_tier: 1-5"))?),
        };
        out.push(OrderBody {
            order_ref: row.order_ref,
            customer_phone: row.customer_phone,
            category: row.category,
            brand: row.brand,
            price_tier,
            ordered_on: row.ordered_on,
        });
    }
    Ok(out)
}

/// Import orders (supervisors, admins and the shop's system): JSON
/// (`{"orders": [...]}`) or CSV (`Content-Type: text/csv`, with a header
/// row). Every order is checked first: one bad row (named by its number)
/// imports nothing. An order number already imported is replaced.
#[utoipa::path(post, path = "/api/v1/orders", tag = "events",
    request_body(content((OrdersBody = "application/json"), (String = "text/csv"))),
    security(("bearer" = [])),
    responses((status = 200, body = Imported), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "`invalid_field`: the first bad order, by number; `too_many`")))]
pub async fn import(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Imported>, ApiError> {
    let csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/csv"));
    let orders = if csv {
        from_csv(&body)?
    } else {
        let parsed: OrdersBody = serde_json::from_slice(&body)
            .map_err(|e| ApiError::unprocessable("invalid_body", format!("not the orders JSON: {e}")))?;
        parsed.orders
    };
    if orders.len() > MAX_ORDERS {
        return Err(ApiError::unprocessable("too_many", format!("at most {MAX_ORDERS} orders a request")));
    }
    let mut seen = BTreeSet::new();
    let mut checked = Vec::with_capacity(orders.len());
    for (i, o) in orders.into_iter().enumerate() {
        let o = check(i + 1, o)?;
        if !seen.insert(o.order_ref.clone()) {
            return Err(row_error(i + 1, format!("order_ref {} appears twice", o.order_ref)));
        }
        checked.push(o);
    }
    state.store.import_orders(&checked, Timestamp::now()).await?;
    tracing::info!(orders = checked.len(), "orders imported");
    Ok(Json(Imported { imported: checked.len() }))
}

/// This area's routes, each with its OpenAPI entry.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import))
}
