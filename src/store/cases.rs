//! Complaint cases and their status history.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::apply::batch_with_tasks;
use super::batch::Rows;
use super::*;
use crate::domain::{CaseChannel, CaseDeadline, CaseId, CaseStatus, CaseStep, DepartmentId, Phone, TaskId, UserId};
use crate::rules::cases::{CaseClock, Deadlines};

/// A case as first written.
#[derive(Clone, Debug)]
pub struct NewCase {
    pub id: CaseId,
    pub channel: CaseChannel,
    pub customer_phone: Phone,
    pub customer_name: Option<String>,
    pub merchant: String,
    pub category: String,
    pub brand: Option<String>,
    pub major: bool,
    pub occurred_at: Option<Timestamp>,
    pub place: Option<String>,
    pub description: String,
    pub owner: UserId,
    pub received_at: Timestamp,
    pub deadlines: Deadlines,
    pub created_by: Option<UserId>,
    /// Sent to a department when opened, with its reply deadline.
    pub department: Option<(DepartmentId, Timestamp)>,
    /// The case this one follows up (在原有的个案基础上建立跟进个案).
    pub follows: Option<CaseId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CaseRecord {
    pub id: CaseId,
    pub channel: CaseChannel,
    pub customer_phone: Phone,
    pub customer_name: Option<String>,
    pub merchant: String,
    pub category: String,
    pub brand: Option<String>,
    /// A major complaint: reported to management weekly until closed.
    pub major: bool,
    /// When and where it happened, as the customer tells it.
    #[schema(value_type = Option<String>)]
    pub occurred_at: Option<Timestamp>,
    pub place: Option<String>,
    pub description: String,
    pub owner_id: UserId,
    /// The department responsible, once the case was sent to one: its
    /// users see and step the case.
    pub department_id: Option<DepartmentId>,
    pub status: CaseStatus,
    #[schema(value_type = String)]
    pub received_at: Timestamp,
    /// The customer is answered by then.
    #[schema(value_type = String)]
    pub answer_by: Timestamp,
    /// Forum and Weibo: the merchant replies by then.
    #[schema(value_type = Option<String>)]
    pub merchant_reply_by: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub answered_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub merchant_replied_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub resolved_at: Option<Timestamp>,
    /// The party complained about was answered (答复被投诉方).
    #[schema(value_type = Option<String>)]
    pub party_answered_at: Option<Timestamp>,
    /// When it was last sent to its department, the written reply owed by
    /// then, and when it came.
    #[schema(value_type = Option<String>)]
    pub sent_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub department_reply_by: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub department_replied_at: Option<Timestamp>,
    /// The satisfaction call's answer since the case was last resolved
    /// (`null`: not asked yet).
    pub satisfied: Option<bool>,
    /// The case this one follows up.
    pub follows: Option<CaseId>,
    /// The follow-up cases opened on this one (filled only when one case is read).
    pub follow_ups: Vec<CaseId>,
    /// Deadlines already put before the owner as a task.
    pub reminded: Vec<CaseDeadline>,
    /// The callback that confirms the customer is satisfied, once resolved.
    pub follow_up_task: Option<TaskId>,
    /// Last change; a step names the version it was based on.
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
    /// Filled only when one case is read.
    pub history: Vec<CaseEvent>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CaseEvent {
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// `received`, `reminder`, or a step (`answered`, `resolved`, ...).
    pub step: String,
    /// The status after it.
    pub status: CaseStatus,
    pub by_user: Option<UserId>,
    pub note: Option<String>,
    /// The task it created (a reminder or the satisfaction callback).
    pub task_id: Option<TaskId>,
}

impl CaseRecord {
    /// What the deadline rules need of the case.
    pub fn clock(&self) -> CaseClock {
        CaseClock {
            status: self.status,
            deadlines: Deadlines { answer_by: self.answer_by, merchant_reply_by: self.merchant_reply_by },
            answered_at: self.answered_at,
            merchant_replied_at: self.merchant_replied_at,
            party_answered_at: self.party_answered_at,
            department_reply_by: self.department_reply_by,
            department_replied_at: self.department_replied_at,
            satisfied: self.satisfied,
            major: self.major,
        }
    }
}

/// A step to record, based on the case as it was at `seen` (its `updated_at`).
pub struct CaseStepWrite {
    pub case: CaseId,
    pub seen: Timestamp,
    pub step: CaseStep,
    pub status: CaseStatus,
    pub by: UserId,
    pub note: Option<String>,
    pub new_owner: Option<UserId>,
    /// For `sent`: the department and when its reply is due.
    pub department: Option<(DepartmentId, Timestamp)>,
    /// The satisfaction callback a resolution creates.
    pub follow_up: Option<TaskDraft>,
    /// For `satisfied` / `not_satisfied`: counted with the case's owner and
    /// department as they are now.
    pub satisfaction: Option<SatisfactionAnswer>,
    pub at: Timestamp,
}

/// A satisfaction call's answer as the reports count it.
#[derive(Clone, Debug)]
pub struct SatisfactionAnswer {
    pub satisfied: bool,
    pub owner: UserId,
    pub department: Option<DepartmentId>,
}

const CASE_COLUMNS: &str = "id, channel, customer_phone, customer_name, merchant, category, brand, major, \
     occurred_at, place, description, owner_id, department_id, status, received_at, answer_by, merchant_reply_by, \
     answered_at, merchant_replied_at, resolved_at, party_answered_at, sent_at, department_reply_by, \
     department_replied_at, satisfied, follows_case, reminded, follow_up_task, updated_at";

fn case_from_row(r: &AnyRow) -> Result<CaseRecord> {
    let reminded: String = r.try_get("reminded")?;
    Ok(CaseRecord {
        id: parse(r, "id")?,
        channel: parse(r, "channel")?,
        customer_phone: Phone::parse(&r.try_get::<String, _>("customer_phone")?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        customer_name: r.try_get("customer_name")?,
        merchant: r.try_get("merchant")?,
        category: r.try_get("category")?,
        brand: r.try_get("brand")?,
        major: r.try_get::<i64, _>("major")? != 0,
        occurred_at: opt_ms(r.try_get("occurred_at")?)?,
        place: r.try_get("place")?,
        description: r.try_get("description")?,
        owner_id: parse(r, "owner_id")?,
        department_id: parse_opt(r, "department_id")?,
        status: parse(r, "status")?,
        received_at: from_ms(r.try_get("received_at")?)?,
        answer_by: from_ms(r.try_get("answer_by")?)?,
        merchant_reply_by: opt_ms(r.try_get("merchant_reply_by")?)?,
        answered_at: opt_ms(r.try_get("answered_at")?)?,
        merchant_replied_at: opt_ms(r.try_get("merchant_replied_at")?)?,
        resolved_at: opt_ms(r.try_get("resolved_at")?)?,
        party_answered_at: opt_ms(r.try_get("party_answered_at")?)?,
        sent_at: opt_ms(r.try_get("sent_at")?)?,
        department_reply_by: opt_ms(r.try_get("department_reply_by")?)?,
        department_replied_at: opt_ms(r.try_get("department_replied_at")?)?,
        satisfied: r.try_get::<Option<i64>, _>("satisfied")?.map(|s| s != 0),
        follows: parse_opt(r, "follows_case")?,
        follow_ups: Vec::new(),
        reminded: reminded
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|e: crate::domain::UnknownIdentifier| StoreError::Corrupt(e.to_string())))
            .collect::<Result<_>>()?,
        follow_up_task: parse_opt(r, "follow_up_task")?,
        updated_at: from_ms(r.try_get("updated_at")?)?,
        history: Vec::new(),
    })
}

fn case_event_row() -> Rows {
    Rows::new(
        "INSERT INTO case_events (case_id, at, step, status, by_user, note, task_id) VALUES ",
        "(#1, #2, #3, #4, #5, #6, #7)",
        "",
    )
}

/// Filters for listing cases.
#[derive(Clone, Debug, Default)]
pub struct CaseFilter {
    pub status: Option<CaseStatus>,
    pub owner: Option<UserId>,
    pub department: Option<DepartmentId>,
    /// Only the cases this user may work: owned by them, or sent to their
    /// department.
    pub workable_by: Option<(UserId, Option<DepartmentId>)>,
    /// Only cases not yet resolved.
    pub unresolved: bool,
    pub limit: u32,
}

impl Store {
    /// Writes a new case and its `received` event.
    pub async fn insert_case(&self, c: &NewCase) -> Result<()> {
        let mut case = Rows::new(
            "INSERT INTO cases (id, channel, customer_phone, customer_name, merchant, category, brand, major, \
             occurred_at, place, description, owner_id, status, received_at, answer_by, merchant_reply_by, \
             answered_at, merchant_replied_at, resolved_at, reminded, follow_up_task, updated_at, created_by, \
             department_id, sent_at, department_reply_by, follows_case) VALUES ",
            "(#1, #2, #3, #4, #5, #6, #7, #8, #9, #10, #11, #12, 'open', #13, #14, #15, NULL, NULL, NULL, '', \
             NULL, #13, #16, #17, #18, #19, #20)",
            "",
        );
        let user = |u: Option<UserId>| u.map(|u| u.to_string());
        case.push([
            c.id.to_string().into(),
            c.channel.as_str().into(),
            c.customer_phone.as_str().into(),
            c.customer_name.clone().into(),
            c.merchant.clone().into(),
            c.category.clone().into(),
            c.brand.clone().into(),
            (c.major as i64).into(),
            c.occurred_at.map(ms).into(),
            c.place.clone().into(),
            c.description.clone().into(),
            c.owner.to_string().into(),
            ms(c.received_at).into(),
            ms(c.deadlines.answer_by).into(),
            c.deadlines.merchant_reply_by.map(ms).into(),
            user(c.created_by).into(),
            c.department.map(|(d, _)| d.to_string()).into(),
            c.department.map(|_| ms(c.received_at)).into(),
            c.department.map(|(_, by)| ms(by)).into(),
            c.follows.map(|f| f.to_string()).into(),
        ]);
        let mut event = case_event_row();
        event.push([
            c.id.to_string().into(),
            ms(c.received_at).into(),
            "received".into(),
            CaseStatus::Open.as_str().into(),
            user(c.created_by).into(),
            None::<String>.into(),
            None::<String>.into(),
        ]);
        if let Some((department, _)) = c.department {
            let note = format!("department {department}");
            event.push([
                c.id.to_string().into(),
                ms(c.received_at).into(),
                CaseStep::Sent.as_str().into(),
                CaseStatus::Open.as_str().into(),
                user(c.created_by).into(),
                Some(note).into(),
                None::<String>.into(),
            ]);
        }
        let mut batch = batch_with_tasks(case, &[]);
        batch.push(event);
        if let Some(parent) = c.follows {
            // The earlier case's history says a follow-up was opened on it.
            // One row only: rows of an INSERT ... SELECT do not join by commas.
            let mut on_parent = Rows::new(
                "INSERT INTO case_events (case_id, at, step, status, by_user, note, task_id) ",
                "SELECT id, #2, 'follow_up_opened', status, #3, #4, NULL FROM cases WHERE id = #1",
                "",
            );
            on_parent.push([
                parent.to_string().into(),
                ms(c.received_at).into(),
                user(c.created_by).into(),
                Some(format!("follow-up case {}", c.id)).into(),
            ]);
            batch.push(on_parent);
        }
        self.commit(batch).await
    }

    /// One case with its history.
    pub async fn case(&self, id: CaseId) -> Result<Option<CaseRecord>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = $1"));
        let Some(row) = sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let mut case = case_from_row(&row)?;
        let rows = sqlx::query(
            "SELECT at, step, status, by_user, note, task_id FROM case_events WHERE case_id = $1 ORDER BY id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            case.history.push(CaseEvent {
                at: from_ms(r.try_get("at")?)?,
                step: r.try_get("step")?,
                status: parse(r, "status")?,
                by_user: parse_opt(r, "by_user")?,
                note: r.try_get("note")?,
                task_id: parse_opt(r, "task_id")?,
            });
        }
        let follow_ups = sqlx::query("SELECT id FROM cases WHERE follows_case = $1 ORDER BY received_at, id")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        case.follow_ups = follow_ups.iter().map(|r| parse(r, "id")).collect::<Result<_>>()?;
        Ok(Some(case))
    }

    /// Cases matching the filter, newest first.
    pub async fn cases(&self, f: &CaseFilter) -> Result<Vec<CaseRecord>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CASE_COLUMNS} FROM cases WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR owner_id = $2) AND ($3 = 0 OR status <> 'resolved') \
             AND (CAST($5 AS TEXT) IS NULL OR department_id = $5) \
             AND (CAST($6 AS TEXT) IS NULL OR owner_id = $6 OR department_id = $7) \
             ORDER BY received_at DESC, id DESC LIMIT $4"
        ));
        let (worker, their_department) = f.workable_by.unzip();
        let rows = sqlx::query(sql)
            .bind(f.status.map(|s| s.as_str()))
            .bind(f.owner.map(|o| o.to_string()))
            .bind(f.unresolved as i64)
            .bind(f.limit as i64)
            .bind(f.department.map(|d| d.to_string()))
            .bind(worker.map(|w| w.to_string()))
            .bind(their_department.flatten().map(|d| d.to_string()))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(case_from_row).collect()
    }

    /// Records a step, if the case is still as it was at `w.seen`: the new
    /// status, the step in the history, and a resolution's follow-up task,
    /// all or nothing. False (nothing written) if it changed meanwhile.
    pub async fn record_case_step(&self, w: CaseStepWrite) -> Result<bool> {
        let backend = self.backend;
        self.write_tx(move |conn| {
            Box::pin(async move {
                let (id, at, step) = (w.case.to_string(), ms(w.at), w.step.as_str());
                let task = w.follow_up.as_ref().map(|t| t.id.to_string());
                let changed = sqlx::query(
                    "UPDATE cases SET status = $1, updated_at = $2, \
                     answered_at = CASE WHEN $3 = 'answered' THEN $2 ELSE answered_at END, \
                     merchant_replied_at = CASE WHEN $3 = 'merchant_replied' THEN $2 ELSE merchant_replied_at END, \
                     resolved_at = CASE WHEN $3 = 'resolved' THEN $2 WHEN $3 IN ('reopened', 'not_satisfied') THEN NULL \
                                   ELSE resolved_at END, \
                     party_answered_at = CASE WHEN $3 = 'party_answered' THEN $2 ELSE party_answered_at END, \
                     department_id = CASE WHEN $3 = 'sent' THEN $8 ELSE department_id END, \
                     sent_at = CASE WHEN $3 = 'sent' THEN $2 ELSE sent_at END, \
                     department_reply_by = CASE WHEN $3 = 'sent' THEN $9 ELSE department_reply_by END, \
                     department_replied_at = CASE WHEN $3 = 'sent' THEN NULL \
                                   WHEN $3 = 'department_replied' THEN $2 ELSE department_replied_at END, \
                     reminded = CASE WHEN $3 = 'sent' THEN REPLACE(reminded, 'department_reply,', '') \
                                   ELSE reminded END, \
                     major = CASE WHEN $3 = 'marked_major' THEN 1 ELSE major END, \
                     satisfied = CASE WHEN $3 = 'satisfied' THEN 1 WHEN $3 = 'not_satisfied' THEN 0 \
                                   WHEN $3 = 'resolved' THEN NULL ELSE satisfied END, \
                     owner_id = COALESCE($4, owner_id), follow_up_task = COALESCE($5, follow_up_task) \
                     WHERE id = $6 AND updated_at = $7",
                )
                .bind(w.status.as_str())
                .bind(at)
                .bind(step)
                .bind(w.new_owner.map(|o| o.to_string()))
                .bind(task.clone())
                .bind(&id)
                .bind(ms(w.seen))
                .bind(w.department.map(|(d, _)| d.to_string()))
                .bind(w.department.map(|(_, by)| ms(by)))
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Ok(false);
                }
                if let Some(answer) = &w.satisfaction {
                    sqlx::query(
                        "INSERT INTO satisfaction_answers \
                         (case_id, at, satisfied, reason, asked_by, owner_id, department_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(&id)
                    .bind(at)
                    .bind(answer.satisfied as i64)
                    .bind(w.note.clone())
                    .bind(w.by.to_string())
                    .bind(answer.owner.to_string())
                    .bind(answer.department.map(|d| d.to_string()))
                    .execute(&mut *conn)
                    .await?;
                }
                let mut event = case_event_row();
                let note = w.note.clone();
                event.push([
                    id.into(),
                    at.into(),
                    step.into(),
                    w.status.as_str().into(),
                    w.by.to_string().into(),
                    note.into(),
                    task.into(),
                ]);
                let new: Vec<TaskDraft> = w.follow_up.into_iter().collect();
                batch_with_tasks(event, &new).run_in(conn, backend).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Puts a deadline's reminder task before the case's owner, once: the
    /// case's `reminded` list is the claim, written with the task. False
    /// (nothing written) if it was already reminded or is resolved.
    pub async fn add_case_reminder(
        &self,
        case: CaseId,
        deadline: CaseDeadline,
        task: &TaskDraft,
        at: Timestamp,
    ) -> Result<bool> {
        let backend = self.backend;
        let task = task.clone();
        self.write_tx(move |conn| {
            Box::pin(async move {
                let (id, kind) = (case.to_string(), deadline.as_str());
                let claimed = sqlx::query(
                    "UPDATE cases SET reminded = reminded || $1 || ',' \
                     WHERE id = $2 AND status <> 'resolved' AND reminded NOT LIKE '%' || $1 || ',%' \
                     RETURNING status",
                )
                .bind(kind)
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = claimed else { return Ok(false) };
                let status: String = row.try_get("status")?;
                let mut event = case_event_row();
                event.push([
                    id.into(),
                    ms(at).into(),
                    "reminder".into(),
                    status.into(),
                    None::<String>.into(),
                    Some(kind.to_owned()).into(),
                    Some(task.id.to_string()).into(),
                ]);
                batch_with_tasks(event, std::slice::from_ref(&task)).run_in(conn, backend).await?;
                Ok(true)
            })
        })
        .await
    }
}
