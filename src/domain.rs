//! Domain vocabulary shared by every layer: what a task, an agent and an
//! outcome are. Wire formats (JSON, SQL rows) convert into these at the edge,
//! so the core never handles raw strings where a meaning exists.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Declares a closed set of snake_case identifiers with `as_str`, `FromStr`
/// and an `ALL` list, so API, config and database use one spelling.
macro_rules! identifiers {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// Position in `ALL`, for table lookups without hashing.
            pub fn index(self) -> usize { self as usize }
        }

        impl FromStr for $name {
            type Err = UnknownIdentifier;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownIdentifier { what: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

/// A string that is not one of a closed set of identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`")]
pub struct UnknownIdentifier {
    pub what: &'static str,
    pub value: String,
}

mod task_kind;
pub use task_kind::{CustomKind, KindNameError, MAX_CUSTOM_KINDS, TaskKind};

identifiers! {
    /// How a task occupies an agent. A voice task is exclusive: an agent on a
    /// call is offered nothing else. Back-office work (paperwork, case notes)
    /// can run concurrently up to the agent's back-office capacity.
    Channel {
        Voice = "voice",
        BackOffice = "back_office",
    }
}

identifiers! {
    /// How an attempt at a task ended: as the agent reports it, or, for a
    /// call Switchboard placed, as SIP answered it. `failed` is a final
    /// answer that is none of the others (a trunk's 503, a barred route's
    /// 403); `interrupted` is a call cut by a crash or a take-over.
    Outcome {
        Reached = "reached",
        NoAnswer = "no_answer",
        Busy = "busy",
        WrongNumber = "wrong_number",
        Done = "done",
        Failed = "failed",
        Interrupted = "interrupted",
    }
}

impl Outcome {
    /// The call did not reach the customer: worth another attempt.
    pub fn is_failed_call(self) -> bool {
        matches!(self, Outcome::NoAnswer | Outcome::Busy | Outcome::Failed | Outcome::Interrupted)
    }
}

identifiers! {
    /// How a call Switchboard placed ended: the customer leg's outcome
    /// (`reached` ... `failed`, its code kept beside it), the agent's own
    /// phone not answering (`agent_unreachable`: no attempt on the
    /// customer), or cut by a crash or a take-over (`interrupted`).
    PlacedOutcome {
        Reached = "reached",
        Busy = "busy",
        NoAnswer = "no_answer",
        WrongNumber = "wrong_number",
        Failed = "failed",
        AgentUnreachable = "agent_unreachable",
        Interrupted = "interrupted",
    }
}

identifiers! {
    /// Who ended a connected call Switchboard placed.
    HungUpBy {
        Agent = "agent",
        Customer = "customer",
        Switchboard = "switchboard",
    }
}

identifiers! {
    /// What a placed call is for: a held task, a trip's driver, an inn's
    /// front desk.
    CallPurpose {
        Task = "task",
        Driver = "driver",
        Inn = "inn",
    }
}

identifiers! {
    /// Where a task is in its life. `scheduled` waits for its start time
    /// (or its next attempt) before it joins a queue; `completed`,
    /// `cancelled`, `abandoned` (the caller hung up or waited too long) and
    /// `unreachable` (every attempt allowed went unanswered) are terminal.
    TaskStatus {
        Scheduled = "scheduled",
        Waiting = "waiting",
        Offered = "offered",
        Assigned = "assigned",
        Completed = "completed",
        Cancelled = "cancelled",
        Abandoned = "abandoned",
        Unreachable = "unreachable",
    }
}

impl TaskStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Cancelled | TaskStatus::Abandoned | TaskStatus::Unreachable)
    }
}

identifiers! {
    /// Where a complaint case came in.
    CaseChannel {
        Phone = "phone",
        Forum = "forum",
        Wechat = "wechat",
        Weibo = "weibo",
    }
}

identifiers! {
    /// Where a complaint case is: `open` until the customer has had an
    /// answer, `answered` while the responsible team works on it, `resolved`
    /// when it is done (the customer is then called to confirm they are
    /// satisfied).
    CaseStatus {
        Open = "open",
        Answered = "answered",
        Resolved = "resolved",
    }
}

identifiers! {
    /// A step recorded on a complaint case: `answered` (the customer was
    /// given an answer, the 24-hour rule), `party_answered` (the party
    /// complained about was answered too: 答复用户及被投诉方),
    /// `merchant_replied` (forum and Weibo), `sent` (to the department
    /// responsible, notified in writing), `department_replied` (its written
    /// answer), `resolved` (a callback to confirm satisfaction follows),
    /// `satisfied` / `not_satisfied` (that callback's answer; the second
    /// reopens the case), `marked_major` (a major complaint, on the weekly
    /// warning until resolved), `reopened`, `note` (the status stays),
    /// `reassigned` (a new owner).
    CaseStep {
        Answered = "answered",
        PartyAnswered = "party_answered",
        MerchantReplied = "merchant_replied",
        Sent = "sent",
        DepartmentReplied = "department_replied",
        Resolved = "resolved",
        Satisfied = "satisfied",
        NotSatisfied = "not_satisfied",
        MarkedMajor = "marked_major",
        Reopened = "reopened",
        Note = "note",
        Reassigned = "reassigned",
    }
}

identifiers! {
    /// Which deadline of a complaint case: answering the customer, the
    /// merchant's reply, or the written reply of the department it was sent to.
    CaseDeadline {
        Answer = "answer",
        MerchantReply = "merchant_reply",
        DepartmentReply = "department_reply",
    }
}

identifiers! {
    /// Where a shift swap is: asked for, then approved or rejected by a
    /// supervisor, or withdrawn by the agent who asked.
    SwapStatus {
        Requested = "requested",
        Approved = "approved",
        Rejected = "rejected",
        Cancelled = "cancelled",
    }
}

identifiers! {
    /// Whose violation (违规行为): a partner driver's or a partner inn's.
    ViolationParty {
        Driver = "driver",
        Inn = "inn",
    }
}

identifiers! {
    /// Which report: a day, its Monday-to-Sunday week, or its month.
    ReportPeriod {
        Daily = "daily",
        Weekly = "weekly",
        Monthly = "monthly",
    }
}

identifiers! {
    /// What a private-car order is: meet a passenger at the airport, hire
    /// the car for a time, or take passengers to the airport (the one kind
    /// that is pooled).
    CarOrderKind {
        Pickup = "pickup",
        Charter = "charter",
        Dropoff = "dropoff",
    }
}

identifiers! {
    /// Where a private-car order is: `open` until a driver is dispatched.
    CarOrderStatus {
        Open = "open",
        Dispatched = "dispatched",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

identifiers! {
    /// Where a trip is: `planned` until a driver confirms on the phone,
    /// `confirmed`, then `dispatched` (the passengers told, insurance
    /// due), `completed` when every order is; or `cancelled`.
    TripStatus {
        Planned = "planned",
        Confirmed = "confirmed",
        Dispatched = "dispatched",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

identifiers! {
    /// Why a task went back to its queue; the name of the event it leaves
    /// in the task's history.
    ReturnReason {
        Declined = "declined",
        OfferTimeout = "offer_timeout",
        AgentUnavailable = "agent_unavailable",
        Disconnected = "disconnected",
        Released = "released",
        ShiftEnded = "shift_ended",
        Restart = "restart",
        AgentRemoved = "agent_removed",
        PhoneUnanswered = "phone_unanswered",
    }
}

identifiers! {
    /// Why an agent who might have taken a waiting task was passed over
    /// (an offer's `why`).
    PassReason {
        AtCapacity = "at_capacity",
        PassedRecently = "passed_recently",
        ReservedForAnotherAgent = "reserved_for_another_agent",
        BelowStepLevel = "below_step_level",
        AvoidedAgent = "avoided_agent",
    }
}

identifiers! {
    /// Why a call went into the missed-call backlog.
    MissReason {
        /// The caller hung up while queued.
        Abandoned = "abandoned",
        /// The caller waited `sip.max_wait_secs` and was sent away.
        QueueTimeout = "queue_timeout",
        /// Redirected to an agent who did not answer.
        UnansweredRedirect = "unanswered_redirect",
        /// Reported by the PBX over the CTI API.
        Reported = "reported",
        /// The server shut down while the caller waited.
        ServerShutdown = "server_shutdown",
        /// Found waiting after a restart: the caller was lost with the process.
        ServerRestart = "server_restart",
    }
}

identifiers! {
    /// How a dispatcher's phone call to a driver about a trip ended.
    DriverCallOutcome {
        Confirmed = "confirmed",
        Declined = "declined",
        NoAnswer = "no_answer",
    }
}

identifiers! {
    /// A booking at an inn as its back office reports it: the centre
    /// phones the inn about one left `unprocessed` too long.
    InnOrderStatus {
        Unprocessed = "unprocessed",
        Processed = "processed",
        Cancelled = "cancelled",
    }
}

identifiers! {
    /// Where a private-car driver is in the day: the dispatcher sets it
    /// (and, once dispatched, the trip does).
    DriverStatus {
        OffDuty = "off_duty",
        Available = "available",
        Assigned = "assigned",
        OnTrip = "on_trip",
    }
}

identifiers! {
    /// What a user may do. Agents and dispatchers receive work; supervisors
    /// watch and steer; admins manage users.
    Role {
        Agent = "agent",
        Dispatcher = "dispatcher",
        Supervisor = "supervisor",
        Admin = "admin",
    }
}

impl Role {
    /// Users of this role are routed work by the dispatcher.
    pub fn takes_work(self) -> bool {
        matches!(self, Role::Agent | Role::Dispatcher)
    }
    /// Supervisors and admins may see and steer everyone's work.
    pub fn oversees(self) -> bool {
        matches!(self, Role::Supervisor | Role::Admin)
    }
}

/// An agent's availability. `busy` and `wrap_up` are set by the dispatcher
/// (a call started, a call ended); the others are chosen by the agent or a
/// supervisor, except `break(missed_offers)`, which the dispatcher sets when
/// offers keep timing out at an empty desk.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum AgentStatus {
    Offline,
    Available,
    Busy,
    WrapUp,
    Break(BreakReason),
}

impl AgentStatus {
    pub fn name(&self) -> &'static str {
        match self {
            AgentStatus::Offline => "offline",
            AgentStatus::Available => "available",
            AgentStatus::Busy => "busy",
            AgentStatus::WrapUp => "wrap_up",
            AgentStatus::Break(_) => "break",
        }
    }
    /// Whether an agent in this status answers customers: available, on a
    /// call or writing one up (not on a break, not offline). A queue with
    /// nobody on the line in working hours is uncovered.
    pub fn is_on_line(&self) -> bool {
        matches!(self, AgentStatus::Available | AgentStatus::Busy | AgentStatus::WrapUp)
    }
    pub fn break_reason(&self) -> Option<&str> {
        match self {
            AgentStatus::Break(r) => Some(r.as_str()),
            _ => None,
        }
    }
    /// Rebuilds a status from its stored name and reason.
    pub fn from_parts(name: &str, reason: Option<&str>) -> Result<Self, UnknownIdentifier> {
        Ok(match name {
            "offline" => AgentStatus::Offline,
            "available" => AgentStatus::Available,
            "busy" => AgentStatus::Busy,
            "wrap_up" => AgentStatus::WrapUp,
            "break" => AgentStatus::Break(BreakReason::new(reason.unwrap_or("other")).map_err(|_| {
                UnknownIdentifier { what: "break reason", value: reason.unwrap_or_default().to_owned() }
            })?),
            other => {
                return Err(UnknownIdentifier { what: "agent status", value: other.to_owned() });
            }
        })
    }
}

/// Why an agent is on break: a short lowercase word such as `lunch`,
/// `meeting` or `missed_offers`, so reports can group by it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct BreakReason(String);

impl BreakReason {
    pub const MISSED_OFFERS: &'static str = "missed_offers";

    pub fn new(s: &str) -> Result<Self, InvalidBreakReason> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok { Ok(BreakReason(s.to_owned())) } else { Err(InvalidBreakReason) }
    }
    pub fn missed_offers() -> Self {
        BreakReason(Self::MISSED_OFFERS.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a break reason is 1-32 characters of a-z, 0-9 and _")]
pub struct InvalidBreakReason;

impl TryFrom<String> for BreakReason {
    type Error = InvalidBreakReason;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        BreakReason::new(&s)
    }
}

impl From<BreakReason> for String {
    fn from(r: BreakReason) -> String {
        r.0
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self { $name(Uuid::now_v7()) }
        }
        impl Default for $name {
            fn default() -> Self { Self::new() }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { self.0.fmt(f) }
        }
        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> { Uuid::parse_str(s).map($name) }
        }
    };
}

id_type!(
    /// Identifies a task for its whole life, across restarts and nodes.
    TaskId
);
id_type!(
    /// Identifies a complaint case.
    CaseId
);
id_type!(
    /// Identifies a department: a team of users with a lead, responsible for
    /// the complaint cases sent to it (上报所属的运营小组).
    DepartmentId
);
id_type!(
    /// Identifies a user; for agents and dispatchers also their seat in the dispatcher.
    UserId
);
id_type!(
    /// Identifies a private-car order (pickup, charter or drop-off).
    CarOrderId
);
id_type!(
    /// Identifies a private-car driver.
    DriverId
);
id_type!(
    /// Identifies a trip: the orders one driver drives together.
    TripId
);
id_type!(
    /// Identifies an inn whose bookings the centre watches.
    InnId
);
id_type!(
    /// Identifies a shift swap an agent asked for (调班).
    SwapId
);
id_type!(
    /// Identifies a violation recorded against a partner inn or driver.
    ViolationId
);
id_type!(
    /// Identifies a booking at an inn, as the centre stores it.
    InnOrderId
);

/// A telephone number as the customer record keys it: digits with an
/// optional leading `+`, 3 to 20 digits. Spaces and dashes are dropped.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

#[derive(Debug, thiserror::Error)]
#[error("a phone number is 3-20 digits, optionally starting with +")]
pub struct InvalidPhone;

impl Phone {
    /// ```
    /// use switchboard::domain::Phone;
    /// assert_eq!(Phone::parse("+86 138-0013-8000").unwrap().as_str(), "+8613800138000");
    /// assert!(Phone::parse("ask for Li").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let cleaned: String = raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let digits = cleaned.strip_prefix('+').unwrap_or(&cleaned);
        if (3..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Phone(cleaned))
        } else {
            Err(InvalidPhone)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = InvalidPhone;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An agent's work number (工号), as they say it on the phone: "我的工号是
/// 010". 1 to 10 ASCII digits or letters, kept as written (leading zeros
/// count).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct WorkNumber(String);

#[derive(Debug, thiserror::Error)]
#[error("a work number is 1-10 digits or letters, such as 010")]
pub struct InvalidWorkNumber;

impl WorkNumber {
    pub fn parse(raw: &str) -> Result<Self, InvalidWorkNumber> {
        let ok = (1..=10).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then(|| WorkNumber(raw.to_owned())).ok_or(InvalidWorkNumber)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkNumber {
    type Error = InvalidWorkNumber;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        WorkNumber::parse(&s)
    }
}

impl From<WorkNumber> for String {
    fn from(w: WorkNumber) -> String {
        w.0
    }
}

impl fmt::Display for WorkNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_status_serialises_with_reason_only_for_breaks() {
        let s = serde_json::to_value(AgentStatus::Break(BreakReason::new("lunch").unwrap())).unwrap();
        assert_eq!(s, serde_json::json!({"status": "break", "reason": "lunch"}));
        let s = serde_json::to_value(AgentStatus::WrapUp).unwrap();
        assert_eq!(s, serde_json::json!({"status": "wrap_up"}));
        let back: AgentStatus = serde_json::from_value(serde_json::json!({"status": "available"})).unwrap();
        assert_eq!(back, AgentStatus::Available);
        assert!(
            serde_json::from_value::<AgentStatus>(serde_json::json!({"status": "break", "reason": "Lunch!"})).is_err()
        );
    }

    #[test]
    fn phones_are_normalised_and_checked() {
        assert_eq!(Phone::parse(" +86 138-0013-8000 ").unwrap().as_str(), "+8613800138000");
        assert!(Phone::parse("12").is_err());
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("").is_err());
    }
}
id_type!(
    /// Identifies a what-if run a supervisor asked for.
    SimulationId
);
