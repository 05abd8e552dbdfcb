//! The monthly red and black lists of merchants as confirmed.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use super::*;
use crate::domain::UserId;

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ConfirmedLists {
    /// 红榜: merchants commended.
    pub red: Vec<String>,
    /// 黑榜: merchants warned.
    pub black: Vec<String>,
    pub confirmed_by: UserId,
    #[schema(value_type = String)]
    pub confirmed_at: Timestamp,
}

fn names(json: &str) -> Result<Vec<String>> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("merchant list: {e}")))
}

impl Store {
    /// Confirms `month`'s lists (`YYYY-MM`), replacing any confirmed before.
    pub async fn confirm_merchant_lists(&self, month: &str, lists: &ConfirmedLists) -> Result<()> {
        let json = |v: &Vec<String>| serde_json::to_string(v).expect("names serialise");
        sqlx::query(
            "INSERT INTO merchant_lists (month, red, black, confirmed_by, confirmed_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (month) DO UPDATE SET red = excluded.red, black = excluded.black, \
             confirmed_by = excluded.confirmed_by, confirmed_at = excluded.confirmed_at",
        )
        .bind(month)
        .bind(json(&lists.red))
        .bind(json(&lists.black))
        .bind(lists.confirmed_by.to_string())
        .bind(ms(lists.confirmed_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `month`'s confirmed lists, if they were.
    pub async fn merchant_lists(&self, month: &str) -> Result<Option<ConfirmedLists>> {
        let row = sqlx::query("SELECT red, black, confirmed_by, confirmed_at FROM merchant_lists WHERE month = $1")
            .bind(month)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ConfirmedLists {
            red: names(&row.try_get::<String, _>("red")?)?,
            black: names(&row.try_get::<String, _>("black")?)?,
            confirmed_by: parse(&row, "confirmed_by")?,
            confirmed_at: from_ms(row.try_get("confirmed_at")?)?,
        }))
    }
}
