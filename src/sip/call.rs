//! One call Switchboard places for an agent (RFC 3725, third-party call
//! control, its Flow IV), as a pure state machine at the level above the
//! transactions: it is told of responses, time-outs, the far ends' BYEs
//! and the clock, and answers with the requests to send and what the call
//! has come to. No media passes through Switchboard; it stays in the
//! signalling of both legs, so it sees how the call went.
//!
//! 1. The agent's phone is called with no offer; its 2xx carries the
//!    phone's offer, answered at once by a silent "black hole" answer so
//!    the agent's leg is settled however long the customer takes (what
//!    breaks Flow I).
//! 2. The customer is called through the PBX with the agent's offer as
//!    ours. Their final answer is the attempt's outcome (`rules::
//!    dialling::DialOutcome`); no answer in the ring time is a CANCEL and
//!    `no_answer`.
//! 3. On the customer's 2xx, their answer goes to the agent's phone as a
//!    re-INVITE; the phones now talk to each other.
//! 4. Either side's BYE ends the other; so does the longest call allowed.
//!
//! The agent's phone not answering is not an attempt on the customer.

use std::net::SocketAddr;

use super::dialog::{self, Dialog, NewLeg};
use super::message::{Method, Request, Response};
use super::sdp::{self, Origin};
use super::stored::{StoredCall, StoredLeg};
use crate::rules::dialling::DialOutcome;

/// Which leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    Agent,
    Customer,
}

/// Who ended a connected call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HungUp {
    Agent,
    Customer,
    /// The longest call allowed, or Switchboard stopping.
    Switchboard,
}

/// What a call came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEnd {
    /// The agent's phone did not answer (or refused): no attempt on the
    /// customer; the task goes back to its place.
    AgentUnreachable { code: Option<u16> },
    /// An attempt on the customer, with its times in milliseconds.
    /// `code`: the customer leg's final response, when one came.
    Attempt {
        outcome: DialOutcome,
        code: Option<u16>,
        ringing_ms: Option<i64>,
        talk_ms: Option<i64>,
        hung_up: Option<HungUp>,
    },
}

impl CallEnd {
    /// An attempt that reached the customer, with its ringing and talk.
    fn talked(ringing_at: Option<i64>, answered_at: i64, now: i64, hung_up: HungUp) -> CallEnd {
        CallEnd::Attempt {
            outcome: DialOutcome::Reached,
            code: Some(200),
            ringing_ms: ringing_at.map(|r| answered_at - r),
            talk_ms: Some(now - answered_at),
            hung_up: Some(hung_up),
        }
    }

    /// An attempt that ended before the customer answered.
    fn unanswered(
        outcome: DialOutcome,
        code: Option<u16>,
        ringing_at: Option<i64>,
        now: i64,
        hung_up: Option<HungUp>,
    ) -> CallEnd {
        CallEnd::Attempt { outcome, code, ringing_ms: ringing_at.map(|r| now - r), talk_ms: None, hung_up }
    }
}

/// What the shell must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send a request. `transaction`: in a client transaction of its own
    /// (INVITE, CANCEL, BYE); otherwise sent as is (the ACK of a 2xx).
    Send {
        leg: Leg,
        request: Request,
        transaction: bool,
    },
    /// Answer a request from a far end (their BYE) with this code.
    Answer {
        request: Request,
        code: u16,
    },
    /// The agent's phone rings; then, answered.
    AgentRinging,
    AgentAnswered,
    /// The customer's phone rings.
    CustomerRinging,
    /// Both talk, from now.
    Connected,
    /// The call is over: nothing more will be sent.
    Ended(CallEnd),
}

/// The call's settings: addresses and time limits.
#[derive(Clone, Debug)]
pub struct CallSettings {
    pub local: SocketAddr,
    pub transport: &'static str,
    /// The agent's phone (`sip_uri`).
    pub agent_uri: String,
    /// The customer through the PBX (its template filled in).
    pub customer_uri: String,
    /// What the customer sees as the caller.
    pub caller_id_uri: String,
    pub caller_id_name: Option<String>,
    pub agent_ring_ms: i64,
    pub customer_ring_ms: i64,
    pub max_call_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    CallingAgent {
        invite: Request,
    },
    CallingCustomer {
        agent: Dialog,
        invite: Request,
        ringing_at: Option<i64>,
        cancelled: bool,
    },
    /// The customer answered; the agent's phone is being re-offered.
    Joining {
        agent: Dialog,
        customer: Dialog,
        reinvite: Request,
        ringing_at: Option<i64>,
        answered_at: i64,
    },
    Connected {
        agent: Dialog,
        customer: Dialog,
        ringing_at: Option<i64>,
        answered_at: i64,
    },
    Over,
}

/// One placed call.
#[derive(Debug)]
pub struct Call {
    settings: CallSettings,
    /// Makes every branch, tag and Call-ID of this call unique.
    id: String,
    seq: u32,
    origin: Origin,
    /// The agent's and the customer's leg's description versions.
    versions: (u64, u64),
    started_at: i64,
    state: State,
    /// Every INVITE and every 2xx ACK this call sent: a 2xx that comes
    /// again (its ACK was lost) is ACKed again, and one that comes after
    /// the call ended (it crossed our CANCEL) is ACKed and hung up.
    invites: Vec<Request>,
    acks: Vec<Request>,
    /// Asked to end (Switchboard stopping after its drain time).
    ending: bool,
}

impl Call {
    /// Starts a call at `now`: the INVITE to the agent's phone.
    /// `id` is unique (the attempt's), and makes the SIP identifiers.
    pub fn start(settings: CallSettings, id: &str, now: i64) -> (Call, Vec<Action>) {
        let origin =
            Origin { session_id: u64::from(now.unsigned_abs() as u32), address: settings.local.ip().to_string() };
        let mut call = Call {
            settings,
            id: id.to_owned(),
            seq: 0,
            origin,
            versions: (0, 0),
            started_at: now,
            state: State::Over,
            invites: Vec::new(),
            acks: Vec::new(),
            ending: false,
        };
        call.seq = 1;
        let invite = agent_invite(&call.settings, id);
        call.state = State::CallingAgent { invite: invite.clone() };
        call.invites.push(invite.clone());
        (call, vec![Action::Send { leg: Leg::Agent, request: invite, transaction: true }])
    }

    /// What a call stores before its first INVITE leaves, known before it
    /// starts: the caller records it with the call, so the first INVITE
    /// waits for no second write.
    pub fn stored_at_start(settings: &CallSettings, id: &str) -> StoredCall {
        let invite = agent_invite(settings, id);
        StoredCall {
            agent: Some(StoredLeg::Ringing { invite: String::from_utf8_lossy(&invite.to_bytes()).into_owned() }),
            customer: None,
        }
    }

    pub fn is_over(&self) -> bool {
        self.state == State::Over
    }

    fn branch(&mut self) -> String {
        self.seq += 1;
        format!("z9hG4bK{}x{}", self.id, self.seq)
    }

    /// When the call must next be looked at (a ring time or the longest
    /// call ending).
    pub fn deadline(&self) -> Option<i64> {
        let settled = matches!(self.state, State::Over | State::CallingCustomer { cancelled: true, .. });
        if self.ending && !settled {
            return Some(self.started_at);
        }
        match &self.state {
            State::CallingAgent { .. } => Some(self.started_at + self.settings.agent_ring_ms),
            State::CallingCustomer { cancelled: false, .. } => Some(self.started_at + self.settings.customer_ring_ms),
            State::Joining { answered_at, .. } | State::Connected { answered_at, .. } => {
                Some(answered_at + self.settings.max_call_ms)
            }
            _ => None,
        }
    }

    /// A response on a leg (already past its client transaction).
    pub fn on_response(&mut self, now: i64, leg: Leg, resp: &Response) -> Vec<Action> {
        let state = std::mem::replace(&mut self.state, State::Over);
        let (state, actions) = self.step(now, leg, resp, state);
        self.state = state;
        for a in &actions {
            if let Action::Send { request, .. } = a {
                match request.method {
                    Method::Invite => self.invites.push(request.clone()),
                    Method::Ack => self.acks.push(request.clone()),
                    _ => {}
                }
            }
        }
        actions
    }

    /// A 2xx the call's state did not wait for: ACKed again if it was
    /// ACKed before; otherwise (the call ended while it was on its way)
    /// ACKed and hung up, so no phone keeps a call nobody is on.
    fn stray_success(&mut self, leg: Leg, resp: &Response) -> Vec<Action> {
        let same = |req: &Request| {
            req.headers.get("Call-ID") == resp.headers.get("Call-ID")
                && req.headers.get("CSeq").and_then(|c| c.split_whitespace().next())
                    == resp.headers.get("CSeq").and_then(|c| c.split_whitespace().next())
        };
        if let Some(ack) = self.acks.iter().find(|a| same(a)) {
            return vec![Action::Send { leg, request: ack.clone(), transaction: false }];
        }
        let Some(invite) = self.invites.iter().find(|i| same(i)).cloned() else { return Vec::new() };
        let Ok(mut dialog) = Dialog::from_success(&invite, resp, self.settings.local, self.settings.transport) else {
            return Vec::new();
        };
        let ack = dialog.ack(&self.branch(), None);
        self.acks.push(ack.clone());
        vec![
            Action::Send { leg, request: ack, transaction: false },
            Action::Send { leg, request: dialog.bye(&self.branch()), transaction: true },
        ]
    }

    fn step(&mut self, now: i64, leg: Leg, resp: &Response, state: State) -> (State, Vec<Action>) {
        let code = resp.code;
        match (state, leg) {
            (State::CallingAgent { invite }, Leg::Agent) => match code {
                180 | 183 => (State::CallingAgent { invite }, vec![Action::AgentRinging]),
                100..=199 => (State::CallingAgent { invite }, vec![]),
                200..=299 => self.agent_answered(now, &invite, resp),
                _ => (State::Over, vec![Action::Ended(CallEnd::AgentUnreachable { code: Some(code) })]),
            },
            (State::CallingCustomer { mut agent, invite, ringing_at, cancelled }, Leg::Customer) => match code {
                180 | 183 => {
                    let first = ringing_at.is_none();
                    let at = ringing_at.or(Some(now));
                    let actions = if first { vec![Action::CustomerRinging] } else { vec![] };
                    (State::CallingCustomer { agent, invite, ringing_at: at, cancelled }, actions)
                }
                100..=199 => (State::CallingCustomer { agent, invite, ringing_at, cancelled }, vec![]),
                200..=299 if cancelled => {
                    // Answered as our CANCEL crossed it: hang up at once, so
                    // no phone keeps a call nobody is on.
                    let mut actions =
                        vec![Action::Send { leg: Leg::Agent, request: agent.bye(&self.branch()), transaction: true }];
                    if let Ok(mut customer) =
                        Dialog::from_success(&invite, resp, self.settings.local, self.settings.transport)
                    {
                        actions.push(Action::Send {
                            leg: Leg::Customer,
                            request: customer.ack(&self.branch(), None),
                            transaction: false,
                        });
                        actions.push(Action::Send {
                            leg: Leg::Customer,
                            request: customer.bye(&self.branch()),
                            transaction: true,
                        });
                    }
                    let end = CallEnd::unanswered(
                        DialOutcome::NoAnswer,
                        Some(code),
                        ringing_at,
                        now,
                        Some(HungUp::Switchboard),
                    );
                    actions.push(Action::Ended(end));
                    (State::Over, actions)
                }
                200..=299 => self.customer_answered(now, agent, &invite, resp, ringing_at),
                _ => {
                    // A 487 after our CANCEL is the ring time running out.
                    let outcome =
                        if cancelled && code == 487 { DialOutcome::NoAnswer } else { DialOutcome::of_final(code) };
                    let bye = agent.bye(&self.branch());
                    let end = CallEnd::unanswered(outcome, Some(code), ringing_at, now, None);
                    (
                        State::Over,
                        vec![Action::Send { leg: Leg::Agent, request: bye, transaction: true }, Action::Ended(end)],
                    )
                }
            },
            (State::Joining { mut agent, mut customer, reinvite, ringing_at, answered_at }, Leg::Agent) => match code {
                200..=299 => {
                    // The agent's phone answers the customer's description.
                    let version = self.next_version(Leg::Customer);
                    let answer = sdp::as_ours(&resp.body, &self.origin, version);
                    let ack_agent = agent.ack(&self.branch(), None);
                    let ack_customer = customer.ack(&self.branch(), Some(&answer));
                    let actions = vec![
                        Action::Send { leg: Leg::Agent, request: ack_agent, transaction: false },
                        Action::Send { leg: Leg::Customer, request: ack_customer, transaction: false },
                        Action::Connected,
                    ];
                    (State::Connected { agent, customer, ringing_at, answered_at }, actions)
                }
                100..=199 => (State::Joining { agent, customer, reinvite, ringing_at, answered_at }, vec![]),
                _ => {
                    // The phone refused the re-offer: end both legs.
                    let byes = self.bye_both(&mut agent, &mut customer);
                    let end = CallEnd::talked(ringing_at, answered_at, now, HungUp::Switchboard);
                    (State::Over, byes.into_iter().chain([Action::Ended(end)]).collect())
                }
            },
            (state, leg) if (200..=299).contains(&code) => {
                let actions = self.stray_success(leg, resp);
                (state, actions)
            }
            (state, _) => (state, vec![]),
        }
    }

    /// Each leg's description has its own version, one higher with each
    /// change (RFC 3264 8).
    fn next_version(&mut self, leg: Leg) -> u64 {
        let v = match leg {
            Leg::Agent => &mut self.versions.0,
            Leg::Customer => &mut self.versions.1,
        };
        *v += 1;
        *v
    }

    fn agent_answered(&mut self, now: i64, invite: &Request, resp: &Response) -> (State, Vec<Action>) {
        let Ok(agent) = Dialog::from_success(invite, resp, self.settings.local, self.settings.transport) else {
            return (State::Over, vec![Action::Ended(CallEnd::AgentUnreachable { code: Some(resp.code) })]);
        };
        if !sdp::is_sdp(&resp.body) {
            // A phone that answers without an offer cannot be joined.
            let mut agent = agent;
            let ack = agent.ack(&self.branch(), None);
            let bye = agent.bye(&self.branch());
            return (
                State::Over,
                vec![
                    Action::Send { leg: Leg::Agent, request: ack, transaction: false },
                    Action::Send { leg: Leg::Agent, request: bye, transaction: true },
                    Action::Ended(CallEnd::AgentUnreachable { code: Some(resp.code) }),
                ],
            );
        }
        let version = self.next_version(Leg::Agent);
        let hold = sdp::black_hole(&resp.body, &self.origin, version);
        let ack = agent.ack(&self.branch(), Some(&hold));
        let version = self.next_version(Leg::Customer);
        let offer = sdp::as_ours(&resp.body, &self.origin, version);
        let branch = self.branch();
        let (call_id, tag) = (format!("{}-c", self.id), format!("{}c", self.id));
        let invite = dialog::invite(&NewLeg {
            request_uri: &self.settings.customer_uri,
            to_uri: &self.settings.customer_uri,
            from_uri: &self.settings.caller_id_uri,
            from_display: self.settings.caller_id_name.as_deref(),
            call_id: &call_id,
            local_tag: &tag,
            branch: &branch,
            local: self.settings.local,
            transport: self.settings.transport,
            sdp: Some(&offer),
        });
        let actions = vec![
            Action::Send { leg: Leg::Agent, request: ack, transaction: false },
            Action::AgentAnswered,
            Action::Send { leg: Leg::Customer, request: invite.clone(), transaction: true },
        ];
        // The customer's ring time counts from their INVITE.
        self.started_at = now;
        (State::CallingCustomer { agent, invite, ringing_at: None, cancelled: false }, actions)
    }

    fn customer_answered(
        &mut self,
        now: i64,
        mut agent: Dialog,
        invite: &Request,
        resp: &Response,
        ringing_at: Option<i64>,
    ) -> (State, Vec<Action>) {
        let Ok(customer) = Dialog::from_success(invite, resp, self.settings.local, self.settings.transport) else {
            let bye = agent.bye(&self.branch());
            let end = CallEnd::Attempt {
                outcome: DialOutcome::Failed { code: resp.code },
                code: Some(resp.code),
                ringing_ms: None,
                talk_ms: None,
                hung_up: None,
            };
            return (
                State::Over,
                vec![Action::Send { leg: Leg::Agent, request: bye, transaction: true }, Action::Ended(end)],
            );
        };
        let version = self.next_version(Leg::Agent);
        let reoffer = sdp::as_ours(&resp.body, &self.origin, version);
        let reinvite = agent.reinvite(&self.branch(), &reoffer);
        let actions = vec![Action::Send { leg: Leg::Agent, request: reinvite.clone(), transaction: true }];
        (State::Joining { agent, customer, reinvite, ringing_at, answered_at: now }, actions)
    }

    fn bye_both(&mut self, agent: &mut Dialog, customer: &mut Dialog) -> Vec<Action> {
        vec![
            Action::Send { leg: Leg::Agent, request: agent.bye(&self.branch()), transaction: true },
            Action::Send { leg: Leg::Customer, request: customer.bye(&self.branch()), transaction: true },
        ]
    }

    /// A request from a far end: a BYE ends the call and the other leg.
    /// Anything else inside the call is answered 200 and changes nothing
    /// (a phone refreshing its session); a request of no leg of ours is
    /// `None`.
    pub fn on_request(&mut self, now: i64, req: &Request) -> Option<Vec<Action>> {
        let from = match &self.state {
            State::Connected { agent, customer, .. } | State::Joining { agent, customer, .. } => {
                if agent.owns(req) {
                    Leg::Agent
                } else if customer.owns(req) {
                    Leg::Customer
                } else {
                    return None;
                }
            }
            State::CallingCustomer { agent, .. } if agent.owns(req) => Leg::Agent,
            _ => return None,
        };
        let answer = Action::Answer { request: req.clone(), code: 200 };
        if req.method != Method::Bye {
            return Some(vec![answer]);
        }
        let actions = match std::mem::replace(&mut self.state, State::Over) {
            State::Connected { mut agent, mut customer, ringing_at, answered_at }
            | State::Joining { mut agent, mut customer, ringing_at, answered_at, .. } => {
                let (leg, bye, hung_up) = match from {
                    Leg::Agent => (Leg::Customer, customer.bye(&self.branch()), HungUp::Agent),
                    Leg::Customer => (Leg::Agent, agent.bye(&self.branch()), HungUp::Customer),
                };
                let end = CallEnd::talked(ringing_at, answered_at, now, hung_up);
                vec![answer, Action::Send { leg, request: bye, transaction: true }, Action::Ended(end)]
            }
            State::CallingCustomer { invite, ringing_at, cancelled, .. } => {
                // The agent gave up before the customer answered.
                let mut actions = vec![answer];
                if !cancelled {
                    actions.push(Action::Send {
                        leg: Leg::Customer,
                        request: dialog::cancel(&invite),
                        transaction: true,
                    });
                }
                let end = CallEnd::unanswered(DialOutcome::NoAnswer, None, ringing_at, now, Some(HungUp::Agent));
                actions.push(Action::Ended(end));
                actions
            }
            _ => unreachable!("matched above"),
        };
        Some(actions)
    }

    /// Ends the call at the next tick, whatever its state: a ringing leg is
    /// cancelled, answered ones get BYE (hung up by Switchboard).
    pub fn end_soon(&mut self) {
        self.ending = true;
    }

    /// What must be stored so that the call's legs can be ended after a
    /// crash: each leg's INVITE while it rings, its dialog once answered.
    pub fn stored(&self) -> StoredCall {
        let ringing = |invite: &Request| {
            Some(StoredLeg::Ringing { invite: String::from_utf8_lossy(&invite.to_bytes()).into_owned() })
        };
        let up = |dialog: &Dialog| Some(StoredLeg::Up { dialog: dialog.clone() });
        match &self.state {
            State::CallingAgent { invite } => StoredCall { agent: ringing(invite), customer: None },
            State::CallingCustomer { agent, invite, .. } => StoredCall { agent: up(agent), customer: ringing(invite) },
            State::Joining { agent, customer, .. } | State::Connected { agent, customer, .. } => {
                StoredCall { agent: up(agent), customer: up(customer) }
            }
            State::Over => StoredCall::default(),
        }
    }

    /// The clock: ring times and the longest call.
    pub fn on_tick(&mut self, now: i64) -> Vec<Action> {
        if self.deadline().is_none_or(|d| now < d) {
            return Vec::new();
        }
        let state = std::mem::replace(&mut self.state, State::Over);
        let (state, actions) = match state {
            State::CallingAgent { invite } => (
                State::Over,
                vec![
                    Action::Send { leg: Leg::Agent, request: dialog::cancel(&invite), transaction: true },
                    Action::Ended(CallEnd::AgentUnreachable { code: None }),
                ],
            ),
            State::CallingCustomer { agent, invite, ringing_at, .. } => {
                let cancel = dialog::cancel(&invite);
                // Ended when the 487 (or a late final) comes.
                (
                    State::CallingCustomer { agent, invite, ringing_at, cancelled: true },
                    vec![Action::Send { leg: Leg::Customer, request: cancel, transaction: true }],
                )
            }
            State::Joining { mut agent, mut customer, ringing_at, answered_at, .. }
            | State::Connected { mut agent, mut customer, ringing_at, answered_at } => {
                let byes = self.bye_both(&mut agent, &mut customer);
                let end = CallEnd::talked(ringing_at, answered_at, now, HungUp::Switchboard);
                (State::Over, byes.into_iter().chain([Action::Ended(end)]).collect())
            }
            State::Over => (State::Over, vec![]),
        };
        self.state = state;
        actions
    }

    /// A leg's transaction timed out (no final response at all): the far
    /// end is gone.
    pub fn on_timeout(&mut self, now: i64, leg: Leg) -> Vec<Action> {
        // As if the far end had answered 408 (RFC 3261 8.1.3.1).
        let resp = Response { code: 408, reason: "Request Timeout".into(), headers: Default::default(), body: vec![] };
        match (&self.state, leg) {
            (State::CallingAgent { .. }, Leg::Agent) | (State::CallingCustomer { .. }, Leg::Customer) => {
                self.on_response(now, leg, &resp)
            }
            _ => Vec::new(),
        }
    }
}

/// The INVITE to the agent's phone that starts call `id` (branch 1 of
/// the call, no offer: RFC 3725 Flow IV).
fn agent_invite(settings: &CallSettings, id: &str) -> Request {
    let (call_id, tag, branch) = (format!("{id}-a"), format!("{id}a"), format!("z9hG4bK{id}x1"));
    dialog::invite(&NewLeg {
        request_uri: &settings.agent_uri,
        to_uri: &settings.agent_uri,
        from_uri: &settings.caller_id_uri,
        from_display: Some("Switchboard"),
        call_id: &call_id,
        local_tag: &tag,
        branch: &branch,
        local: settings.local,
        transport: settings.transport,
        sdp: None,
    })
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
