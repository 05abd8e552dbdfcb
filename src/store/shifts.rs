//! Agents' weekly schedules and handover notes.

use std::collections::BTreeMap;

use jiff::Timestamp;
use sqlx::Row;

use super::*;
use crate::domain::UserId;

/// A weekly schedule as stored: weekday key (`mon` .. `sun`) to shift hours.
pub type ScheduleSpec = BTreeMap<String, Vec<String>>;

fn decode(agent: &str, json: &str) -> Result<ScheduleSpec> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("schedule of {agent}: {e}")))
}

impl Store {
    /// Sets (or, with `None`, removes) an agent's schedule; false when no
    /// such agent exists.
    pub async fn set_schedule(&self, agent: UserId, schedule: Option<&ScheduleSpec>) -> Result<bool> {
        let json = schedule.map(|s| serde_json::to_string(s).expect("a map of strings serialises"));
        let id = agent.to_string();
        self.write_tx(move |conn| {
            Box::pin(async move {
                let changed = sqlx::query("UPDATE users SET schedule = $1 WHERE id = $2")
                    .bind(json)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                Ok(changed == 1)
            })
        })
        .await
    }

    /// An agent's schedule; `None` when the agent has none.
    pub async fn schedule(&self, agent: UserId) -> Result<Option<ScheduleSpec>> {
        let row = sqlx::query("SELECT schedule FROM users WHERE id = $1")
            .bind(agent.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let json: Option<String> = match row {
            Some(row) => row.try_get("schedule")?,
            None => None,
        };
        json.map(|j| decode(&agent.to_string(), &j)).transpose()
    }

    /// Every agent with a schedule.
    pub async fn schedules(&self) -> Result<Vec<(UserId, ScheduleSpec)>> {
        let rows = sqlx::query("SELECT id, schedule FROM users WHERE schedule IS NOT NULL ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                let json: String = r.try_get("schedule")?;
                Ok((parse(r, "id")?, decode(&id, &json)?))
            })
            .collect()
    }

    /// Keeps the note an agent leaves for the end of the shift (replacing
    /// an earlier one); false when no such agent exists.
    pub async fn set_handover_note(&self, agent: UserId, note: &str, at: Timestamp) -> Result<bool> {
        let (id, note, at) = (agent.to_string(), note.to_owned(), ms(at));
        self.write_tx(move |conn| {
            Box::pin(async move {
                let changed = sqlx::query("UPDATE users SET handover_note = $1, handover_note_at = $2 WHERE id = $3")
                    .bind(note)
                    .bind(at)
                    .bind(&id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                Ok(changed == 1)
            })
        })
        .await
    }

    /// The agent's handover note and when it was written.
    pub async fn handover_note(&self, agent: UserId) -> Result<Option<(String, Timestamp)>> {
        let row = sqlx::query(
            "SELECT handover_note, handover_note_at FROM users WHERE id = $1 AND handover_note IS NOT NULL",
        )
        .bind(agent.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((row.try_get("handover_note")?, from_ms(row.try_get("handover_note_at")?)?)))
    }

    /// Clears the note once its shift has ended, unless the agent wrote a
    /// new one meanwhile (`written_at` is the one that was applied).
    pub async fn clear_handover_note(&self, agent: UserId, written_at: Timestamp) -> Result<()> {
        let (id, at) = (agent.to_string(), ms(written_at));
        self.write_tx(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "UPDATE users SET handover_note = NULL, handover_note_at = NULL \
                     WHERE id = $1 AND handover_note_at = $2",
                )
                .bind(&id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            })
        })
        .await
    }
}
