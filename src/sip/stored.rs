//! What survives a crash of a placed call: each leg's INVITE while it
//! rings and its dialog once answered, stored (as JSON the store keeps
//! opaque) before each INVITE leaves and whenever a dialog changes. The
//! next leader turns what it finds into the requests that end every leg
//! left open: CANCEL for a ringing leg, BYE for an answered one, so no
//! phone keeps a ghost call.

use serde::{Deserialize, Serialize};

use super::call::Leg;
use super::dialog::{self, Dialog};
use super::message::{Message, Request};
use super::parse::{Transport, parse};

/// One leg as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum StoredLeg {
    /// The INVITE is out and unanswered: the bytes sent.
    Ringing { invite: String },
    /// Answered: the dialog.
    Up { dialog: Dialog },
}

/// A placed call as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<StoredLeg>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<StoredLeg>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error("a stored call that does not read back: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a stored INVITE that does not parse")]
    Invite,
}

impl StoredCall {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("a stored call serialises")
    }

    pub fn from_text(text: &str) -> Result<StoredCall, StoredError> {
        if text.is_empty() {
            return Ok(StoredCall::default());
        }
        Ok(serde_json::from_str(text)?)
    }

    /// The requests that end every leg left open, each in a client
    /// transaction of its own; `id` makes their branches (the call's id
    /// with a suffix no live call uses).
    pub fn ending_requests(&self, id: &str) -> Result<Vec<(Leg, Request)>, StoredError> {
        let mut out = Vec::new();
        for (n, (leg, stored)) in [(Leg::Agent, &self.agent), (Leg::Customer, &self.customer)].into_iter().enumerate() {
            let branch = format!("z9hG4bK{id}r{n}");
            match stored {
                None => {}
                Some(StoredLeg::Ringing { invite }) => {
                    let Ok((Message::Request(invite), _)) = parse(invite.as_bytes(), Transport::Datagram, 65_535)
                    else {
                        return Err(StoredError::Invite);
                    };
                    out.push((leg, dialog::cancel(&invite)));
                }
                Some(StoredLeg::Up { dialog }) => {
                    // Past any CSeq the call may have used after the last store.
                    let mut dialog = dialog.clone();
                    dialog.local_cseq += 10;
                    out.push((leg, dialog.bye(&branch)));
                }
            }
        }
        Ok(out)
    }
}
