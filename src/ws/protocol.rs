//! The agent WebSocket protocol: JSON messages tagged by `type`. Documented
//! for console authors in `docs/protocol.md`; this file is the source of truth.

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::domain::{AgentStatus, CaseId, DepartmentId, Outcome, Role, TaskId, UserId, WorkNumber};
use crate::rules::dispatch::{AgentSnapshot, Explanation, TaskCard, WithdrawReason};
use crate::runtime::hub::CallState;
use crate::runtime::travel_board::DispatchBoard;
use crate::store::CustomerProfile;

/// From the console. Any message may carry a `ref`, echoed in the `ack` or
/// `error` that answers it.
#[derive(Debug, Deserialize, PartialEq)]
pub struct Incoming {
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    #[serde(flatten)]
    pub msg: ClientMsg,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Must be the first message.
    Auth {
        ticket: String,
    },
    Accept {
        task_id: TaskId,
    },
    Decline {
        task_id: TaskId,
    },
    Complete {
        task_id: TaskId,
        outcome: Outcome,
        summary: Option<String>,
    },
    /// `{"type": "set_status", "status": "break", "reason": "lunch"}`
    SetStatus {
        #[serde(flatten)]
        status: AgentStatus,
    },
    /// Hand a held task back to the queue with a note for the next agent.
    Release {
        task_id: TaskId,
        note: Option<String>,
    },
    /// Place the call of a held task (its kind dialled `preview`): your
    /// phone rings first, then the customer's; `call` messages follow.
    Dial {
        task_id: TaskId,
    },
    /// The call summary for a task already finished (a call the PBX ended,
    /// during wrap-up); replaces the one of your last attempt at it.
    Summary {
        task_id: TaskId,
        summary: String,
    },
    Ping,
}

/// To the console. `seq` counts messages on this connection from 1, so a
/// console can tell it missed none.
#[derive(Debug, Serialize)]
pub struct Outgoing<'a> {
    pub seq: u64,
    #[serde(flatten)]
    pub msg: &'a ServerMsg,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First message after authentication: who you are and what you hold.
    Hello {
        user: UserId,
        name: String,
        /// The agent's work number (工号), `null` if none is set.
        work_number: Option<WorkNumber>,
        role: Role,
        snapshot: AgentSnapshot,
        /// The kinds whose calls Switchboard places, with their mode
        /// (`preview`: press Call / send `dial`; `progressive`: placed on
        /// accept); a kind not listed is dialled by hand.
        #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        dialling: std::collections::BTreeMap<crate::domain::TaskKind, crate::rules::dialling::DialMode>,
    },
    /// The screen-pop: a task for you to accept or decline before `expires_at`.
    Offer {
        task: Arc<TaskCard>,
        expires_at: Timestamp,
        why: Explanation,
        /// What the CRM knows of the number; `null` if the lookup failed.
        customer: Option<Box<CustomerProfile>>,
        /// The line to open the call with, with the agent's work number
        /// (`[greetings]`); `null` for back-office work or an agent without
        /// a work number.
        greeting: Option<String>,
    },
    OfferRescinded {
        task_id: TaskId,
        reason: WithdrawReason,
    },
    TaskAssigned {
        task: Arc<TaskCard>,
    },
    TaskRevoked {
        task_id: TaskId,
        reason: WithdrawReason,
    },
    Status {
        #[serde(flatten)]
        status: AgentStatus,
        since: Timestamp,
    },
    /// A complaint case was sent to your department (上报所属的运营小组):
    /// read it at `GET /api/v1/cases/{case_id}`; its written reply is due
    /// by `reply_by`, after which the department's lead is given it.
    CaseSent {
        case_id: CaseId,
        department: DepartmentId,
        department_name: String,
        about: String,
        reply_by: Timestamp,
    },
    /// A call Switchboard places for you: `calling_you`, `ringing_customer`,
    /// `connected` (with `connected_at`; warn past `target_secs`), `ended`
    /// (with `outcome`).
    Call {
        #[serde(flatten)]
        call: Arc<CallState>,
    },
    /// Dispatchers only: the whole dispatch board, sent after `hello` and
    /// again whenever anything on it changes (the latest replaces the last).
    Board {
        board: Arc<DispatchBoard>,
    },
    Ack {
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// A `set_status` asked during a call: it takes effect when the
        /// call and its wrap-up end.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        deferred: bool,
        /// A break or going offline that leaves these queues with nobody
        /// online in working hours: done, and the agent told, so they hand
        /// over first.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        uncovered: Vec<String>,
    },
    Pong,
    Error {
        code: &'static str,
        message: String,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
}

impl ServerMsg {
    pub fn error(code: &'static str, message: impl Into<String>, reference: Option<String>) -> Self {
        ServerMsg::Error { code, message: message.into(), reference }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::BreakReason;
    use crate::rules::dispatch::DispatchError;

    /// A console written from the document knows every refusal the
    /// dispatcher can send it, under the code REST uses too.
    #[test]
    fn every_refusal_of_the_dispatcher_is_in_the_protocol_document() {
        let doc = include_str!("../../docs/protocol.md");
        for e in DispatchError::all() {
            assert!(doc.contains(&format!("`{}`", e.code())), "docs/protocol.md lacks `{}`", e.code());
        }
        for code in crate::sip::placer::DialError::codes() {
            assert!(doc.contains(&format!("`{code}`")), "docs/protocol.md lacks `{code}`");
        }
    }

    #[test]
    fn client_messages_parse_with_their_ref() {
        let m: Incoming =
            serde_json::from_str(r#"{"type":"set_status","status":"break","reason":"lunch","ref":"7"}"#).unwrap();
        assert_eq!(m.reference.as_deref(), Some("7"));
        assert_eq!(m.msg, ClientMsg::SetStatus { status: AgentStatus::Break(BreakReason::new("lunch").unwrap()) });
        let id = TaskId::new();
        let m: Incoming =
            serde_json::from_str(&format!(r#"{{"type":"complete","task_id":"{id}","outcome":"no_answer"}}"#)).unwrap();
        assert_eq!(m.msg, ClientMsg::Complete { task_id: id, outcome: Outcome::NoAnswer, summary: None });
        assert!(serde_json::from_str::<Incoming>(r#"{"type":"teleport"}"#).is_err());
        assert!(serde_json::from_str::<Incoming>(r#"{"type":"accept"}"#).is_err());
    }

    #[test]
    fn server_messages_carry_seq_and_type() {
        let msg = ServerMsg::OfferRescinded { task_id: TaskId::new(), reason: WithdrawReason::Timeout };
        let v = serde_json::to_value(Outgoing { seq: 3, msg: &msg }).unwrap();
        assert_eq!(v["seq"], 3);
        assert_eq!(v["type"], "offer_rescinded");
        assert_eq!(v["reason"], "timeout");
        let v = serde_json::to_value(Outgoing {
            seq: 4,
            msg: &ServerMsg::Ack { reference: None, deferred: false, uncovered: vec![] },
        })
        .unwrap();
        assert_eq!(v, serde_json::json!({"seq": 4, "type": "ack"}));
    }
}
