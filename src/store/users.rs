//! Users, their roles and, for agents, their routing profile and status.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::*;
use crate::domain::{AgentStatus, Role, UserId};

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub display_name: String,
    /// Where the PBX should ring this agent, e.g. `sip:1001@pbx.example`.
    pub sip_uri: Option<String>,
    pub skills: Vec<String>,
    pub voice_capacity: u8,
    pub back_office_capacity: u8,
    /// Last status the dispatcher recorded.
    #[serde(flatten)]
    pub status: AgentStatus,
    pub status_since: Timestamp,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub password_hash: String,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub display_name: String,
    pub sip_uri: Option<String>,
    pub skills: Vec<String>,
    pub voice_capacity: u8,
    pub back_office_capacity: u8,
}

/// Changes to an agent's profile; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct AgentPatch {
    pub display_name: Option<String>,
    pub sip_uri: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    pub voice_capacity: Option<u8>,
    pub back_office_capacity: Option<u8>,
}

const USER_COLUMNS: &str = "id, username, role, password_hash, display_name, sip_uri, skills, voice_capacity, \
     back_office_capacity, status, status_reason, status_since, created_at";

fn user_from_row(row: &AnyRow) -> Result<User> {
    let skills: String = row.try_get("skills")?;
    let status: String = row.try_get("status")?;
    let reason: Option<String> = row.try_get("status_reason")?;
    Ok(User {
        id: parse(row, "id")?,
        username: row.try_get("username")?,
        role: parse(row, "role")?,
        password_hash: row.try_get("password_hash")?,
        display_name: row.try_get("display_name")?,
        sip_uri: row.try_get("sip_uri")?,
        skills: skills.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        voice_capacity: row.try_get::<i64, _>("voice_capacity")? as u8,
        back_office_capacity: row.try_get::<i64, _>("back_office_capacity")? as u8,
        status: AgentStatus::from_parts(&status, reason.as_deref()).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status_since: from_ms(row.try_get("status_since")?)?,
        created_at: from_ms(row.try_get("created_at")?)?,
    })
}

impl Store {
    pub async fn create_user(&self, new: NewUser, now: Timestamp) -> Result<User> {
        let id = UserId::new();
        let result = sqlx::query(
            "INSERT INTO users (id, username, role, password_hash, display_name, sip_uri, skills, voice_capacity, \
             back_office_capacity, status, status_since, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'offline', $10, $10, $10)",
        )
        .bind(id.to_string())
        .bind(&new.username)
        .bind(new.role.as_str())
        .bind(&new.password_hash)
        .bind(&new.display_name)
        .bind(&new.sip_uri)
        .bind(new.skills.join(","))
        .bind(new.voice_capacity as i64)
        .bind(new.back_office_capacity as i64)
        .bind(ms(now))
        .execute(&self.pool)
        .await;
        match result {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict("username"));
            }
            other => other?,
        };
        self.user(id).await?.ok_or(StoreError::Corrupt("user vanished after insert".into()))
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));
        let row = sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"));
        let row = sqlx::query(sql).bind(username).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    pub async fn user_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Applies a patch and returns the updated user, or `None` if there is no such user.
    pub async fn update_agent(&self, id: UserId, patch: AgentPatch, now: Timestamp) -> Result<Option<User>> {
        let Some(mut user) = self.user(id).await? else {
            return Ok(None);
        };
        if let Some(v) = patch.display_name {
            user.display_name = v;
        }
        if let Some(v) = patch.sip_uri {
            user.sip_uri = v;
        }
        if let Some(v) = patch.skills {
            user.skills = v;
        }
        if let Some(v) = patch.voice_capacity {
            user.voice_capacity = v;
        }
        if let Some(v) = patch.back_office_capacity {
            user.back_office_capacity = v;
        }
        sqlx::query(
            "UPDATE users SET display_name = $2, sip_uri = $3, skills = $4, voice_capacity = $5, \
             back_office_capacity = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(&user.display_name)
        .bind(&user.sip_uri)
        .bind(user.skills.join(","))
        .bind(user.voice_capacity as i64)
        .bind(user.back_office_capacity as i64)
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(Some(user))
    }
}
