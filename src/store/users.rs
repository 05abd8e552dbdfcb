//! Users, their roles and, for agents, their routing profile and status;
//! the accounts' standing (disabled, deleted, since when tokens count),
//! logged-out tokens, and the numbered list of account changes that a
//! running server follows.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::*;
use crate::domain::{AgentStatus, DepartmentId, Role, UserId, WorkNumber};
use crate::rules::dispatch::{AgentProfile, Rules};

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub display_name: String,
    /// The work number (工号) the agent gives on the phone.
    #[schema(value_type = Option<String>)]
    pub work_number: Option<WorkNumber>,
    /// The department the user belongs to, if any (set from the department).
    pub department_id: Option<DepartmentId>,
    /// Where the PBX should ring this agent, e.g. `sip:1001@pbx.example`.
    pub sip_uri: Option<String>,
    pub skills: Vec<String>,
    /// The agent's level (1-5) in a skill, where it is above 1.
    pub levels: BTreeMap<String, u8>,
    pub voice_capacity: u8,
    pub back_office_capacity: u8,
    /// Last status the dispatcher recorded.
    #[serde(flatten)]
    pub status: AgentStatus,
    pub status_since: Timestamp,
    pub created_at: Timestamp,
    /// Set while an admin has disabled the account: it cannot log in.
    pub disabled_at: Option<Timestamp>,
    #[serde(skip)]
    pub password_hash: String,
    /// Tokens issued before this no longer count.
    #[serde(skip)]
    pub sessions_valid_after: Timestamp,
}

impl User {
    /// Whether the dispatcher routes work to this user: a role that takes
    /// work, and not disabled.
    pub fn routable(&self) -> bool {
        self.role.takes_work() && self.disabled_at.is_none()
    }

    /// The dispatcher's view of a user who takes work.
    pub fn agent_profile(&self, rules: &Rules) -> AgentProfile {
        AgentProfile {
            id: self.id,
            name: self.display_name.clone(),
            queues: rules.queue_set(self.skills.iter().map(String::as_str)),
            levels: rules.levels(self.levels.iter().map(|(s, &level)| (s.as_str(), level))),
            voice_capacity: self.voice_capacity,
            back_office_capacity: self.back_office_capacity,
            sip_uri: self.sip_uri.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub display_name: String,
    pub work_number: Option<WorkNumber>,
    pub sip_uri: Option<String>,
    pub skills: Vec<String>,
    pub levels: BTreeMap<String, u8>,
    pub voice_capacity: u8,
    pub back_office_capacity: u8,
}

/// Changes to a user; `None` leaves a field as it is. A change of role or
/// disabling the account also ends the user's tokens.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub display_name: Option<String>,
    pub work_number: Option<Option<WorkNumber>>,
    pub sip_uri: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    /// Replaces every level; skills left out of it are level 1. Skills
    /// changed without it keep the levels of the skills that stay.
    pub levels: Option<BTreeMap<String, u8>>,
    pub voice_capacity: Option<u8>,
    pub back_office_capacity: Option<u8>,
    pub disabled: Option<bool>,
}

/// One numbered change to an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountChange {
    pub seq: i64,
    pub user: UserId,
}

/// The `skills` column: `hotline:4,callbacks`, a skill at level 1 without
/// its level, so that rows written before levels existed read unchanged.
fn skills_column(skills: &[String], levels: &BTreeMap<String, u8>) -> String {
    let one = |s: &String| match levels.get(s) {
        Some(&level) if level > 1 => format!("{s}:{level}"),
        _ => s.clone(),
    };
    skills.iter().map(one).collect::<Vec<_>>().join(",")
}

fn skill_names(column: &str) -> Vec<String> {
    column.split(',').filter(|s| !s.is_empty()).map(|s| s.split(':').next().unwrap_or(s).to_owned()).collect()
}

fn skill_levels(column: &str) -> BTreeMap<String, u8> {
    column
        .split(',')
        .filter_map(|s| s.split_once(':'))
        .filter_map(|(skill, level)| Some((skill.to_owned(), level.parse().ok()?)))
        .collect()
}

const USER_COLUMNS: &str = "id, username, role, password_hash, display_name, work_number, department_id, sip_uri, \
     skills, voice_capacity, back_office_capacity, status, status_reason, status_since, created_at, disabled_at, sessions_valid_after";

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
        work_number: row
            .try_get::<Option<String>, _>("work_number")?
            .map(|w| WorkNumber::parse(&w).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
        department_id: parse_opt(row, "department_id")?,
        sip_uri: row.try_get("sip_uri")?,
        skills: skill_names(&skills),
        levels: skill_levels(&skills),
        voice_capacity: row.try_get::<i64, _>("voice_capacity")? as u8,
        back_office_capacity: row.try_get::<i64, _>("back_office_capacity")? as u8,
        status: AgentStatus::from_parts(&status, reason.as_deref()).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status_since: from_ms(row.try_get("status_since")?)?,
        created_at: from_ms(row.try_get("created_at")?)?,
        disabled_at: opt_ms(row.try_get("disabled_at")?)?,
        sessions_valid_after: from_ms(row.try_get("sessions_valid_after")?)?,
    })
}

/// Numbers a change to `user`, in the transaction that makes it.
async fn note_change(conn: &mut sqlx::AnyConnection, user: &str, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO account_changes (user_id, at) VALUES ($1, $2)")
        .bind(user)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    pub async fn create_user(&self, new: NewUser, now: Timestamp) -> Result<User> {
        let id = UserId::new();
        let result = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO users (id, username, role, password_hash, display_name, sip_uri, skills, \
                         voice_capacity, back_office_capacity, status, status_since, created_at, updated_at, \
                         work_number) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'offline', $10, $10, $10, $11)",
                    )
                    .bind(id.to_string())
                    .bind(&new.username)
                    .bind(new.role.as_str())
                    .bind(&new.password_hash)
                    .bind(&new.display_name)
                    .bind(&new.sip_uri)
                    .bind(skills_column(&new.skills, &new.levels))
                    .bind(new.voice_capacity as i64)
                    .bind(new.back_office_capacity as i64)
                    .bind(ms(now))
                    .bind(new.work_number.as_ref().map(|w| w.as_str().to_owned()))
                    .execute(&mut *conn)
                    .await?;
                    note_change(conn, &id.to_string(), ms(now)).await
                })
            })
            .await;
        conflict_if_taken(result, "username")?;
        self.user(id).await?.ok_or(StoreError::Corrupt("user vanished after insert".into()))
    }

    /// A user who has not been deleted.
    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND deleted_at IS NULL"));
        let row = sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1 AND deleted_at IS NULL"));
        let row = sqlx::query(sql).bind(username).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user not deleted, by name (the disabled included).
    pub async fn users(&self) -> Result<Vec<User>> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE deleted_at IS NULL ORDER BY username"));
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// A living user's work number (工号), read fresh for each screen-pop.
    pub async fn work_number(&self, id: UserId) -> Result<Option<WorkNumber>> {
        let row = sqlx::query("SELECT work_number FROM users WHERE id = $1 AND deleted_at IS NULL")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let raw: Option<String> = match row {
            Some(r) => r.try_get("work_number")?,
            None => None,
        };
        raw.map(|w| WorkNumber::parse(&w).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
    }

    pub async fn user_count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE deleted_at IS NULL").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Applies a patch and returns the updated user, or `None` if there is
    /// no such user. A new role or disabling ends the user's tokens.
    pub async fn update_user(&self, id: UserId, patch: UserPatch, now: Timestamp) -> Result<Option<User>> {
        let Some(mut user) = self.user(id).await? else {
            return Ok(None);
        };
        let ends_sessions = patch.role.is_some_and(|r| r != user.role) || patch.disabled == Some(true);
        if let Some(v) = patch.role {
            user.role = v;
        }
        if let Some(v) = patch.display_name {
            user.display_name = v;
        }
        if let Some(v) = patch.work_number {
            user.work_number = v;
        }
        if let Some(v) = patch.sip_uri {
            user.sip_uri = v;
        }
        if let Some(v) = patch.skills {
            user.levels.retain(|skill, _| v.contains(skill));
            user.skills = v;
        }
        if let Some(v) = patch.levels {
            user.levels = v;
        }
        if let Some(v) = patch.voice_capacity {
            user.voice_capacity = v;
        }
        if let Some(v) = patch.back_office_capacity {
            user.back_office_capacity = v;
        }
        match patch.disabled {
            Some(true) if user.disabled_at.is_none() => user.disabled_at = Some(now),
            Some(false) => user.disabled_at = None,
            _ => {}
        }
        if ends_sessions {
            user.sessions_valid_after = now;
        }
        let row = user.clone();
        let written = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    let id = row.id.to_string();
                    let changed = sqlx::query(
                        "UPDATE users SET role = $2, display_name = $3, sip_uri = $4, skills = $5, \
                         voice_capacity = $6, back_office_capacity = $7, disabled_at = $8, \
                         sessions_valid_after = $9, updated_at = $10, work_number = $11 \
                         WHERE id = $1 AND deleted_at IS NULL",
                    )
                    .bind(&id)
                    .bind(row.role.as_str())
                    .bind(&row.display_name)
                    .bind(&row.sip_uri)
                    .bind(skills_column(&row.skills, &row.levels))
                    .bind(row.voice_capacity as i64)
                    .bind(row.back_office_capacity as i64)
                    .bind(row.disabled_at.map(ms))
                    .bind(ms(row.sessions_valid_after))
                    .bind(ms(now))
                    .bind(row.work_number.as_ref().map(|w| w.as_str().to_owned()))
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    note_change(conn, &id, ms(now)).await?;
                    Ok(changed == 1)
                })
            })
            .await;
        let changed = conflict_if_taken(written, "work_number")?;
        Ok(changed.then_some(user))
    }

    /// Sets a new password hash; every token issued before `now` ends.
    pub async fn set_password(&self, id: UserId, hash: &str, now: Timestamp) -> Result<bool> {
        let (id, hash) = (id.to_string(), hash.to_owned());
        self.write_tx(move |conn| {
            Box::pin(async move {
                let changed = sqlx::query(
                    "UPDATE users SET password_hash = $2, sessions_valid_after = $3, updated_at = $3 \
                     WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(&id)
                .bind(&hash)
                .bind(ms(now))
                .execute(&mut *conn)
                .await?
                .rows_affected();
                note_change(conn, &id, ms(now)).await?;
                Ok(changed == 1)
            })
        })
        .await
    }

    /// Deletes a user: the row stays, so that reports still name who did
    /// the work, but the account is gone for every other purpose and its
    /// name stays taken.
    pub async fn delete_user(&self, id: UserId, now: Timestamp) -> Result<bool> {
        let id = id.to_string();
        self.write_tx(move |conn| {
            Box::pin(async move {
                let changed = sqlx::query(
                    "UPDATE users SET deleted_at = $2, status = 'offline', status_reason = NULL, updated_at = $2 \
                     WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(&id)
                .bind(ms(now))
                .execute(&mut *conn)
                .await?
                .rows_affected();
                note_change(conn, &id, ms(now)).await?;
                Ok(changed == 1)
            })
        })
        .await
    }

    /// How many status changes the history holds (all agents).
    pub async fn status_rows(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM agent_status_log").fetch_one(&self.pool).await?;
        Ok(row.try_get("n")?)
    }

    /// Account changes numbered after `seq`, in order.
    pub async fn account_changes_since(&self, seq: i64) -> Result<Vec<AccountChange>> {
        let rows = sqlx::query("SELECT seq, user_id FROM account_changes WHERE seq > $1 ORDER BY seq LIMIT 10000")
            .bind(seq)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(AccountChange { seq: r.try_get("seq")?, user: parse(r, "user_id")? })).collect()
    }

    /// The number of the latest account change (0: none yet).
    pub async fn last_account_change(&self) -> Result<i64> {
        let row = sqlx::query("SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS seq FROM account_changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("seq")?)
    }

    /// Lists a logged-out token until it would have expired anyway.
    pub async fn revoke_token(&self, token: &str, user: UserId, expires_at: Timestamp, now: Timestamp) -> Result<()> {
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= $1").bind(ms(now)).execute(&self.pool).await?;
        sqlx::query(
            "INSERT INTO revoked_tokens (token_id, user_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(token)
        .bind(user.to_string())
        .bind(ms(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Logged-out tokens not yet expired: id and expiry.
    pub async fn revoked_tokens(&self, now: Timestamp) -> Result<Vec<(String, Timestamp)>> {
        let rows = sqlx::query("SELECT token_id, expires_at FROM revoked_tokens WHERE expires_at > $1")
            .bind(ms(now))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((r.try_get("token_id")?, from_ms(r.try_get("expires_at")?)?))).collect()
    }
}
