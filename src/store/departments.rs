//! Departments: teams of users with a lead. A user belongs to at most one;
//! membership is written with the department, all or nothing.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::*;
use crate::domain::{DepartmentId, UserId};

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    /// Hears of the cases the department leaves unanswered.
    pub lead_id: UserId,
    /// Its users, the lead among them; by id.
    pub members: Vec<UserId>,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

/// A department to write: new, or the whole of an existing one's new state.
#[derive(Clone, Debug)]
pub struct DepartmentWrite {
    pub id: DepartmentId,
    pub name: String,
    pub lead: UserId,
    /// Every member (the lead is always one).
    pub members: Vec<UserId>,
    pub at: Timestamp,
}

/// Why a department's membership was not written; nothing was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipRefusal {
    #[error("user {0} does not exist")]
    UnknownUser(UserId),
    #[error("user {0} already belongs to another department")]
    InOtherDepartment(UserId),
}

fn department_from_row(r: &AnyRow) -> Result<Department> {
    Ok(Department {
        id: parse(r, "id")?,
        name: r.try_get("name")?,
        lead_id: parse(r, "lead_id")?,
        members: Vec::new(),
        created_at: from_ms(r.try_get("created_at")?)?,
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

impl Store {
    /// Creates a department (`created`) or replaces an existing one's
    /// name, lead and members; false if there is no such department.
    /// Former members not listed leave it. Refused as a whole
    /// ([`StoreError::Membership`]) if a member does not exist or belongs
    /// to another department; a taken name is [`StoreError::Conflict`].
    pub async fn write_department(&self, d: &DepartmentWrite, created: bool) -> Result<bool> {
        let d = d.clone();
        let result = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    let (id, at) = (d.id.to_string(), ms(d.at));
                    if created {
                        sqlx::query(
                            "INSERT INTO departments (id, name, lead_id, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $4)",
                        )
                        .bind(&id)
                        .bind(&d.name)
                        .bind(d.lead.to_string())
                        .bind(at)
                        .execute(&mut *conn)
                        .await?;
                    } else {
                        let changed = sqlx::query(
                            "UPDATE departments SET name = $1, lead_id = $2, updated_at = $3 WHERE id = $4",
                        )
                        .bind(&d.name)
                        .bind(d.lead.to_string())
                        .bind(at)
                        .bind(&id)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                        if changed == 0 {
                            return Ok(false);
                        }
                        sqlx::query("UPDATE users SET department_id = NULL WHERE department_id = $1")
                            .bind(&id)
                            .execute(&mut *conn)
                            .await?;
                    }
                    for member in &d.members {
                        let joined = sqlx::query(
                            "UPDATE users SET department_id = $1 \
                             WHERE id = $2 AND deleted_at IS NULL AND department_id IS NULL",
                        )
                        .bind(&id)
                        .bind(member.to_string())
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                        if joined == 0 {
                            let exists = sqlx::query("SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL")
                                .bind(member.to_string())
                                .fetch_optional(&mut *conn)
                                .await?;
                            return Err(StoreError::Membership(match exists {
                                Some(_) => MembershipRefusal::InOtherDepartment(*member),
                                None => MembershipRefusal::UnknownUser(*member),
                            }));
                        }
                    }
                    Ok(true)
                })
            })
            .await;
        conflict_if_taken(result, "department")
    }

    /// Every department by name, with its members.
    pub async fn departments(&self) -> Result<Vec<Department>> {
        let rows = sqlx::query("SELECT id, name, lead_id, created_at, updated_at FROM departments ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let mut departments = rows.iter().map(department_from_row).collect::<Result<Vec<_>>>()?;
        let members = sqlx::query(
            "SELECT id, department_id FROM users WHERE department_id IS NOT NULL AND deleted_at IS NULL ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &members {
            let (user, department): (UserId, DepartmentId) = (parse(row, "id")?, parse(row, "department_id")?);
            if let Some(d) = departments.iter_mut().find(|d| d.id == department) {
                d.members.push(user);
            }
        }
        Ok(departments)
    }

    /// One department with its members.
    pub async fn department(&self, id: DepartmentId) -> Result<Option<Department>> {
        let row = sqlx::query("SELECT id, name, lead_id, created_at, updated_at FROM departments WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let mut department = department_from_row(&row)?;
        let members = sqlx::query("SELECT id FROM users WHERE department_id = $1 AND deleted_at IS NULL ORDER BY id")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        department.members = members.iter().map(|r| parse(r, "id")).collect::<Result<_>>()?;
        Ok(Some(department))
    }
}
