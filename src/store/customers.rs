//! The small CRM: customers by phone number and what the centre did for them.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use std::collections::BTreeMap;

use sqlx::any::AnyRow;

use super::*;
use crate::domain::{CaseId, CaseStatus, Outcome, Phone, TaskId, TaskKind, UserId};
use crate::rules::customer_file::{Change, CustomerFile};

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Customer {
    #[schema(value_type = String)]
    pub phone: Phone,
    #[serde(flatten)]
    pub file: CustomerFile,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = String)]
    pub updated_at: Timestamp,
}

/// One change to a customer's record, as its history shows it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CustomerChange {
    /// `address`, `tags`, or `fields.<name>` for the centre's own.
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
    #[schema(value_type = String)]
    pub changed_at: Timestamp,
    /// `null`: a machine (a registration's name, say).
    pub changed_by: Option<UserId>,
    /// Their display name, when a user.
    pub changed_by_name: Option<String>,
}

const CUSTOMER_COLUMNS: &str = "phone, name, notes, other_phones, address, region, contact_person, tags, fields, do_not_call, created_at, updated_at";

fn customer_from_row(r: &AnyRow) -> Result<Customer> {
    let corrupt = |e: String| StoreError::Corrupt(e);
    let lines = |col: &str| -> Result<Vec<String>> {
        Ok(r.try_get::<String, _>(col)?.split('\n').filter(|l| !l.is_empty()).map(str::to_owned).collect())
    };
    let other_phones = lines("other_phones")?
        .iter()
        .map(|p| Phone::parse(p).map_err(|e| corrupt(e.to_string())))
        .collect::<Result<_>>()?;
    let fields: BTreeMap<String, String> =
        serde_json::from_str(&r.try_get::<String, _>("fields")?).map_err(|e| corrupt(e.to_string()))?;
    Ok(Customer {
        phone: Phone::parse(&r.try_get::<String, _>("phone")?).map_err(|e| corrupt(e.to_string()))?,
        file: CustomerFile {
            name: r.try_get("name")?,
            notes: r.try_get("notes")?,
            other_phones,
            address: r.try_get("address")?,
            region: r.try_get("region")?,
            contact_person: r.try_get("contact_person")?,
            tags: lines("tags")?,
            fields,
            do_not_call: r.try_get::<i64, _>("do_not_call")? != 0,
        },
        created_at: from_ms(r.try_get("created_at")?)?,
        updated_at: from_ms(r.try_get("updated_at")?)?,
    })
}

/// The most customers one listing returns.
pub const CUSTOMERS_LISTED: usize = 500;

/// Everything the screen-pop shows about a caller.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CustomerProfile {
    pub phone: Phone,
    /// `None` when the number is not in the CRM yet.
    pub customer: Option<Customer>,
    /// The most recent finished calls with this number, newest first (at most 10).
    pub past_calls: Vec<PastCall>,
    /// Complaint cases still open for this number.
    pub open_cases: Vec<OpenCase>,
    /// The number's most recent event registrations, newest first (at most 10).
    pub registrations: Vec<PastRegistration>,
}

/// An event the caller registered for.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PastRegistration {
    pub event_id: String,
    /// `main` or `special`.
    pub event_kind: String,
    /// The event's day, `YYYY-MM-DD`.
    pub event_date: String,
    /// `new` or `returning`, as registered.
    pub customer_kind: String,
    pub source: Option<String>,
    pub registered_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PastCall {
    pub task_id: TaskId,
    pub kind: TaskKind,
    pub ended_at: Timestamp,
    pub agent: String,
    pub outcome: Option<Outcome>,
    pub summary: Option<String>,
}

/// A complaint case of the caller not yet resolved.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct OpenCase {
    pub case_id: CaseId,
    pub status: CaseStatus,
    pub merchant: String,
    pub category: String,
    pub received_at: Timestamp,
    /// The customer is answered by then.
    pub answer_by: Timestamp,
}

impl Store {
    /// Changes a customer's record (creating it when new) in one
    /// transaction: `change` gets the record as it stands and gives the
    /// record after with what changed (`rules/customer_file.rs`), which is
    /// kept in the history. Refused by `change`, nothing is written.
    pub async fn update_customer<E: Send + 'static>(
        &self,
        phone: &Phone,
        at: Timestamp,
        by: Option<UserId>,
        change: impl FnOnce(&CustomerFile) -> std::result::Result<(CustomerFile, Vec<Change>), E> + Send + 'static,
    ) -> Result<std::result::Result<Customer, E>> {
        let backend = self.backend;
        let looked_up = phone.clone();
        let phone = phone.clone();
        let written = self
            .write_tx(move |conn| {
                Box::pin(async move {
                    // On PostgreSQL the row is locked until the change is
                    // written; SQLite has one writer at a time.
                    let lock = if backend == Backend::Postgres { " FOR UPDATE" } else { "" };
                    let sql = sqlx::AssertSqlSafe(format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE phone = $1{lock}"));
                    let row = sqlx::query(sql).bind(phone.as_str()).fetch_optional(&mut *conn).await?;
                    let before = row.as_ref().map(customer_from_row).transpose()?;
                    let (after, changes) = match change(before.as_ref().map(|c| &c.file).unwrap_or(&CustomerFile::default())) {
                        Ok(done) => done,
                        Err(refused) => return Ok(Err(refused)),
                    };
                    if before.is_some() && changes.is_empty() {
                        return Ok(Ok(()));
                    }
                    let join = |items: Vec<String>| items.join("\n");
                    sqlx::query(
                        "INSERT INTO customers (phone, name, notes, other_phones, address, region, contact_person, tags, \
                         fields, do_not_call, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
                         ON CONFLICT (phone) DO UPDATE SET name = excluded.name, notes = excluded.notes, \
                         other_phones = excluded.other_phones, address = excluded.address, region = excluded.region, \
                         contact_person = excluded.contact_person, tags = excluded.tags, fields = excluded.fields, \
                         do_not_call = excluded.do_not_call, updated_at = excluded.updated_at",
                    )
                    .bind(phone.as_str())
                    .bind(after.name.clone())
                    .bind(after.notes.clone())
                    .bind(join(after.other_phones.iter().map(|p| p.as_str().to_owned()).collect()))
                    .bind(after.address.clone())
                    .bind(after.region.clone())
                    .bind(after.contact_person.clone())
                    .bind(join(after.tags.clone()))
                    .bind(serde_json::to_string(&after.fields).unwrap_or_else(|_| "{}".to_owned()))
                    .bind(i64::from(after.do_not_call))
                    .bind(ms(at))
                    .execute(&mut *conn)
                    .await?;
                    for c in &changes {
                        sqlx::query(
                            "INSERT INTO customer_changes (phone, field, old_value, new_value, changed_at, changed_by) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(phone.as_str())
                        .bind(&c.field)
                        .bind(c.old.clone())
                        .bind(c.new.clone())
                        .bind(ms(at))
                        .bind(by.map(|u| u.to_string()))
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok(Ok(()))
                })
            })
            .await?;
        if let Err(refused) = written {
            return Ok(Err(refused));
        }
        let stored = self.customer(&looked_up).await?;
        stored.map(Ok).ok_or(StoreError::Corrupt("customer vanished after its update".into()))
    }

    pub async fn customer(&self, phone: &Phone) -> Result<Option<Customer>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE phone = $1"));
        let row = sqlx::query(sql).bind(phone.as_str()).fetch_optional(&self.pool).await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// Customers by region (地区) and tag, by region then name (at most
    /// [`CUSTOMERS_LISTED`]).
    pub async fn customers_by(&self, region: Option<&str>, tag: Option<&str>) -> Result<Vec<Customer>> {
        // Tags are stored one per line: a tag is matched whole, with LIKE's
        // own characters escaped.
        let tag = tag.map(|t| {
            let escaped = t.replace('!', "!!").replace('%', "!%").replace('_', "!_");
            format!("%\n{escaped}\n%")
        });
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE (CAST($1 AS TEXT) IS NULL OR region = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR ('\n' || tags || '\n') LIKE $2 ESCAPE '!') \
             ORDER BY COALESCE(region, ''), COALESCE(name, ''), phone LIMIT {CUSTOMERS_LISTED}"
        ));
        let rows = sqlx::query(sql).bind(region).bind(tag).fetch_all(&self.pool).await?;
        rows.iter().map(customer_from_row).collect()
    }

    /// A customer's record's changes, newest first (at most 200).
    pub async fn customer_changes(&self, phone: &Phone) -> Result<Vec<CustomerChange>> {
        let rows = sqlx::query(
            "SELECT c.field, c.old_value, c.new_value, c.changed_at, c.changed_by, u.display_name \
             FROM customer_changes c LEFT JOIN users u ON u.id = c.changed_by \
             WHERE c.phone = $1 ORDER BY c.changed_at DESC, c.id DESC LIMIT 200",
        )
        .bind(phone.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(CustomerChange {
                    field: r.try_get("field")?,
                    old: r.try_get("old_value")?,
                    new: r.try_get("new_value")?,
                    changed_at: from_ms(r.try_get("changed_at")?)?,
                    changed_by: parse_opt(r, "changed_by")?,
                    changed_by_name: r.try_get("display_name")?,
                })
            })
            .collect()
    }

    /// The customer with their history, for the screen-pop and the CRM page.
    ///
    /// Two queries: the record, and the history's three parts as one
    /// `UNION ALL` told apart by `part` (every screen-pop runs them, and
    /// each query is a round trip).
    pub async fn customer_profile(&self, phone: &Phone) -> Result<CustomerProfile> {
        let rows = sqlx::query(
            "SELECT 'call' AS part, id AS s1, kind AS s2, agent AS s3, outcome AS s4, summary AS s5, \
                    ended_at AS n1, CAST(NULL AS BIGINT) AS n2 FROM ( \
                 SELECT t.id, t.kind, COALESCE(u.display_name, a.agent_id) AS agent, a.outcome, a.summary, a.ended_at \
                 FROM attempts a JOIN tasks t ON t.id = a.task_id LEFT JOIN users u ON u.id = a.agent_id \
                 WHERE t.customer_phone = $1 AND a.ended_at IS NOT NULL \
                 ORDER BY a.ended_at DESC LIMIT 10) AS recent \
             UNION ALL \
             SELECT 'case', id, status, merchant, category, NULL, received_at, answer_by FROM cases \
             WHERE customer_phone = $1 AND status <> 'resolved' \
             UNION ALL \
             SELECT 'registration', event_id, event_kind, event_date, customer_kind, source, registered_at, NULL \
             FROM (SELECT event_id, event_kind, event_date, customer_kind, source, registered_at FROM registrations \
                   WHERE customer_phone = $1 ORDER BY registered_at DESC LIMIT 10) AS recent_registrations",
        )
        .bind(phone.as_str())
        .fetch_all(&self.pool)
        .await?;
        let customer = self.customer(phone).await?;
        let (mut past_calls, mut open_cases, mut registrations) = (Vec::new(), Vec::new(), Vec::new());
        for r in &rows {
            match r.try_get::<String, _>("part")?.as_str() {
                "call" => past_calls.push(PastCall {
                    task_id: parse(r, "s1")?,
                    kind: parse(r, "s2")?,
                    agent: r.try_get("s3")?,
                    outcome: parse_opt(r, "s4")?,
                    summary: r.try_get("s5")?,
                    ended_at: from_ms(r.try_get("n1")?)?,
                }),
                "registration" => registrations.push(PastRegistration {
                    event_id: r.try_get("s1")?,
                    event_kind: r.try_get("s2")?,
                    event_date: r.try_get("s3")?,
                    customer_kind: r.try_get("s4")?,
                    source: r.try_get("s5")?,
                    registered_at: from_ms(r.try_get("n1")?)?,
                }),
                _ => open_cases.push(OpenCase {
                    case_id: parse(r, "s1")?,
                    status: parse(r, "s2")?,
                    merchant: r.try_get::<Option<String>, _>("s3")?.unwrap_or_default(),
                    category: r.try_get::<Option<String>, _>("s4")?.unwrap_or_default(),
                    received_at: from_ms(r.try_get("n1")?)?,
                    answer_by: from_ms(r.try_get::<Option<i64>, _>("n2")?.unwrap_or_default())?,
                }),
            }
        }
        // A UNION ALL keeps no order: newest calls first, oldest cases first.
        past_calls.sort_by_key(|c| std::cmp::Reverse(c.ended_at));
        open_cases.sort_by_key(|c| c.received_at);
        registrations.sort_by_key(|r| std::cmp::Reverse(r.registered_at));
        Ok(CustomerProfile { phone: phone.clone(), customer, past_calls, open_cases, registrations })
    }
}
