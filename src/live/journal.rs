//! The journal's wire form of the dispatcher's records.
//!
//! A batch of records goes into the Redis journal before anyone outside
//! hears of its changes, and into SQL after. A node that takes over replays
//! into SQL whatever the journal holds past SQL's position, so the records
//! of a node killed between the two writes are not lost. The form is
//! explicit JSON rather than `Record` itself so that the dispatcher's types
//! stay free to change their shape without breaking a journal written by
//! the previous version during a rolling upgrade.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{AgentStatus, Outcome, ReturnReason, TaskId, TaskStatus, UserId};
use crate::rules::dispatch::Record;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "r", rename_all = "snake_case")]
enum Entry {
    Offered {
        task: TaskId,
        agent: UserId,
        at: Timestamp,
    },
    Returned {
        task: TaskId,
        agent: UserId,
        event: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        at: Timestamp,
    },
    Assigned {
        task: TaskId,
        agent: UserId,
        at: Timestamp,
    },
    Closed {
        task: TaskId,
        status: TaskStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<UserId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<Outcome>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        at: Timestamp,
    },
    AgentStatus {
        agent: UserId,
        status: AgentStatus,
        at: Timestamp,
    },
    Retry {
        task: TaskId,
        agent: UserId,
        outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        not_before: Timestamp,
        at: Timestamp,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal entry is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("journal entry names an unknown return event `{0}`")]
    UnknownEvent(String),
}

/// The records of one batch as the journal's JSON.
pub fn encode(records: &[Record]) -> String {
    let entries: Vec<Entry> = records.iter().map(entry).collect();
    serde_json::to_string(&entries).expect("records serialise")
}

/// A batch of records back from the journal's JSON.
pub fn decode(json: &str) -> Result<Vec<Record>, JournalError> {
    let entries: Vec<Entry> = serde_json::from_str(json)?;
    entries.into_iter().map(record).collect()
}

fn entry(r: &Record) -> Entry {
    match r.clone() {
        Record::TaskOffered { task, agent, at } => Entry::Offered { task, agent, at },
        Record::TaskReturned { task, agent, event, note, at } => {
            Entry::Returned { task, agent, event: event.as_str().to_owned(), note, at }
        }
        Record::TaskAssigned { task, agent, at } => Entry::Assigned { task, agent, at },
        Record::TaskClosed { task, status, agent, outcome, summary, at } => {
            Entry::Closed { task, status, agent, outcome, summary, at }
        }
        Record::AgentStatus { agent, status, at } => Entry::AgentStatus { agent, status, at },
        Record::TaskRetry { task, agent, outcome, summary, not_before, at } => {
            Entry::Retry { task, agent, outcome, summary, not_before, at }
        }
    }
}

fn record(e: Entry) -> Result<Record, JournalError> {
    Ok(match e {
        Entry::Offered { task, agent, at } => Record::TaskOffered { task, agent, at },
        Entry::Returned { task, agent, event, note, at } => {
            let event = event.parse::<ReturnReason>().map_err(|e| JournalError::UnknownEvent(e.value))?;
            Record::TaskReturned { task, agent, event, note, at }
        }
        Entry::Assigned { task, agent, at } => Record::TaskAssigned { task, agent, at },
        Entry::Closed { task, status, agent, outcome, summary, at } => {
            Record::TaskClosed { task, status, agent, outcome, summary, at }
        }
        Entry::AgentStatus { agent, status, at } => Record::AgentStatus { agent, status, at },
        Entry::Retry { task, agent, outcome, summary, not_before, at } => {
            Record::TaskRetry { task, agent, outcome, summary, not_before, at }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BreakReason;

    #[test]
    fn every_record_comes_back_as_it_went_in() {
        let (task, agent) = (TaskId::new(), UserId::new());
        let at: Timestamp = "2026-05-12T02:00:00Z".parse().unwrap();
        let mut records = vec![
            Record::TaskOffered { task, agent, at },
            Record::TaskAssigned { task, agent, at },
            Record::TaskClosed {
                task,
                status: TaskStatus::Completed,
                agent: Some(agent),
                outcome: Some(Outcome::Reached),
                summary: Some("booked 两位".into()),
                at,
            },
            Record::TaskClosed { task, status: TaskStatus::Abandoned, agent: None, outcome: None, summary: None, at },
            Record::AgentStatus { agent, status: AgentStatus::Break(BreakReason::new("lunch").unwrap()), at },
            Record::AgentStatus { agent, status: AgentStatus::WrapUp, at },
            Record::TaskRetry {
                task,
                agent,
                outcome: Outcome::NoAnswer,
                summary: None,
                not_before: at + jiff::SignedDuration::from_mins(10),
                at,
            },
        ];
        for &event in ReturnReason::ALL {
            records.push(Record::TaskReturned { task, agent, event, note: Some("note".into()), at });
        }
        assert_eq!(decode(&encode(&records)).unwrap(), records);
    }

    #[test]
    fn an_unknown_event_or_broken_json_is_an_error_not_a_guess() {
        let at = "2026-05-12T02:00:00Z";
        let json = format!(
            r#"[{{"r":"returned","task":"{}","agent":"{}","event":"teleported","at":"{at}"}}]"#,
            TaskId::new(),
            UserId::new()
        );
        assert!(matches!(decode(&json), Err(JournalError::UnknownEvent(e)) if e == "teleported"));
        assert!(matches!(decode("[{"), Err(JournalError::Json(_))));
    }
}
