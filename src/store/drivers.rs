//! Private-car drivers.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::*;
use crate::domain::{DriverId, DriverStatus, Phone};

/// A driver as stored.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Driver {
    pub id: DriverId,
    pub name: String,
    #[schema(value_type = String)]
    pub phone: Phone,
    /// Make, model and plate, as the dispatcher reads them to the passenger.
    pub vehicle: Option<String>,
    /// Passenger seats.
    pub seats: u32,
    /// The service area the driver covers.
    pub area: String,
    pub status: DriverStatus,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

/// A driver to add.
#[derive(Clone, Debug)]
pub struct NewDriver {
    pub name: String,
    pub phone: Phone,
    pub vehicle: Option<String>,
    pub seats: u32,
    pub area: String,
    pub status: DriverStatus,
}

const COLUMNS: &str = "id, name, phone, vehicle, seats, area, status, created_at, updated_at";

fn driver_from_row(row: &AnyRow) -> Result<Driver> {
    let seats: i64 = row.try_get("seats")?;
    Ok(Driver {
        id: parse(row, "id")?,
        name: row.try_get("name")?,
        phone: Phone::parse(&row.try_get::<String, _>("phone")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        vehicle: row.try_get("vehicle")?,
        seats: u32::try_from(seats).map_err(|_| StoreError::Corrupt(format!("driver seats {seats}")))?,
        area: row.try_get("area")?,
        status: parse(row, "status")?,
        created_at: from_ms(row.try_get("created_at")?)?,
        updated_at: from_ms(row.try_get("updated_at")?)?,
    })
}

impl Store {
    /// Adds a driver; `Conflict` when another driver has the phone number.
    pub async fn create_driver(&self, new: NewDriver, now: Timestamp) -> Result<Driver> {
        let driver = Driver {
            id: DriverId::new(),
            name: new.name,
            phone: new.phone,
            vehicle: new.vehicle,
            seats: new.seats,
            area: new.area,
            status: new.status,
            created_at: now,
            updated_at: now,
        };
        let d = driver.clone();
        let result = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO drivers (id, name, phone, vehicle, seats, area, status, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(d.id.to_string())
                    .bind(&d.name)
                    .bind(d.phone.as_str())
                    .bind(&d.vehicle)
                    .bind(i64::from(d.seats))
                    .bind(&d.area)
                    .bind(d.status.as_str())
                    .bind(ms(d.created_at))
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                })
            })
            .await;
        conflict_if_taken(result, "driver with this phone number").map(|()| driver)
    }

    /// Every driver, by name; only those with `status` when given.
    pub async fn drivers(&self, status: Option<DriverStatus>) -> Result<Vec<Driver>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM drivers WHERE ($1 IS NULL OR status = $1) ORDER BY name, id"
        ));
        let rows = sqlx::query(sql).bind(status.map(|s| s.as_str())).fetch_all(&self.pool).await?;
        rows.iter().map(driver_from_row).collect()
    }

    pub async fn driver(&self, id: DriverId) -> Result<Option<Driver>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM drivers WHERE id = $1"));
        let row = sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.as_ref().map(driver_from_row).transpose()
    }

    /// Sets a driver's status; `None` when there is no such driver.
    pub async fn set_driver_status(
        &self,
        id: DriverId,
        status: DriverStatus,
        now: Timestamp,
    ) -> Result<Option<Driver>> {
        let key = id.to_string();
        let changed = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    Ok(sqlx::query("UPDATE drivers SET status = $1, updated_at = $2 WHERE id = $3")
                        .bind(status.as_str())
                        .bind(ms(now))
                        .bind(&key)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected())
                })
            })
            .await?;
        if changed == 0 {
            return Ok(None);
        }
        self.driver(id).await
    }
}
