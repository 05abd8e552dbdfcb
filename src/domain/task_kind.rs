//! What a piece of work is: decides its default priority, queue, channel,
//! deadline and attempts (see `config/switchboard.toml`, `[kinds]`).
//!
//! The sixteen kinds of the manuals are built in. A centre adds its own
//! in `[kinds]` (say `order_follow_up`, 疑難訂單的追蹤): their names are
//! registered when the configuration is read, and from the store when it
//! opens (a kind since removed from the configuration still names its old
//! tasks). A kind stays a one-byte `Copy` value that the dispatcher copies
//! freely; its name is looked up in the process's register, which only
//! grows, holds at most [`MAX_CUSTOM_KINDS`] names and is never filled
//! from a request: parsing (`FromStr`, JSON) knows only the built-in and
//! registered names, so `{"kind": "no_such_kind"}` stays bad input.

use std::fmt;
use std::str::FromStr;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use super::UnknownIdentifier;

/// The most kinds a centre may add.
pub const MAX_CUSTOM_KINDS: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskKind {
    InboundCall,
    NewSignupCallback,
    MissedCallCallback,
    ReturningSignupCallback,
    EventCallback,
    MarketingAttendedNoOrder,
    MarketingAttendedOrdered,
    MarketingNoShow,
    EventRecommendation,
    CommunityOutreach,
    InnReminder,
    CarDispatch,
    InsuranceRegistration,
    ComplaintFollowUp,
    /// A warranty customer called a set number of days after delivery
    /// (seed 001 7dc、3dc回访).
    WarrantyCallback,
    /// Each morning, yesterday's after-sales callbacks still open, put before
    /// someone (对前一天的遗留售后问题进行跟踪).
    AfterSalesReview,
    /// One of the centre's own kinds.
    Custom(CustomKind),
}

/// A centre's own kind: its place in the register of names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomKind(u8);

impl CustomKind {
    /// Its place in the register, from 0.
    pub fn number(self) -> usize {
        self.0 as usize
    }
}

const BUILT_IN: [(TaskKind, &str); 16] = [
    (TaskKind::InboundCall, "inbound_call"),
    (TaskKind::NewSignupCallback, "new_signup_callback"),
    (TaskKind::MissedCallCallback, "missed_call_callback"),
    (TaskKind::ReturningSignupCallback, "returning_signup_callback"),
    (TaskKind::EventCallback, "event_callback"),
    (TaskKind::MarketingAttendedNoOrder, "marketing_attended_no_order"),
    (TaskKind::MarketingAttendedOrdered, "marketing_attended_ordered"),
    (TaskKind::MarketingNoShow, "marketing_no_show"),
    (TaskKind::EventRecommendation, "event_recommendation"),
    (TaskKind::CommunityOutreach, "community_outreach"),
    (TaskKind::InnReminder, "inn_reminder"),
    (TaskKind::CarDispatch, "car_dispatch"),
    (TaskKind::InsuranceRegistration, "insurance_registration"),
    (TaskKind::ComplaintFollowUp, "complaint_follow_up"),
    (TaskKind::WarrantyCallback, "warranty_callback"),
    (TaskKind::AfterSalesReview, "after_sales_review"),
];

/// The centre's kinds' names, each leaked once: a handful per process.
static REGISTER: RwLock<Vec<&'static str>> = RwLock::new(Vec::new());

/// Why a name cannot be a centre's own kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KindNameError {
    #[error("`{0}`: a kind's name is 2-40 of a-z, 0-9 and _, starting with a letter")]
    Invalid(String),
    #[error("`{0}` is a built-in kind")]
    BuiltIn(String),
    #[error("more than {MAX_CUSTOM_KINDS} kinds of the centre's own")]
    TooMany,
}

impl TaskKind {
    /// The built-in kinds, in order.
    pub const ALL: &'static [TaskKind] = &[
        TaskKind::InboundCall,
        TaskKind::NewSignupCallback,
        TaskKind::MissedCallCallback,
        TaskKind::ReturningSignupCallback,
        TaskKind::EventCallback,
        TaskKind::MarketingAttendedNoOrder,
        TaskKind::MarketingAttendedOrdered,
        TaskKind::MarketingNoShow,
        TaskKind::EventRecommendation,
        TaskKind::CommunityOutreach,
        TaskKind::InnReminder,
        TaskKind::CarDispatch,
        TaskKind::InsuranceRegistration,
        TaskKind::ComplaintFollowUp,
        TaskKind::WarrantyCallback,
        TaskKind::AfterSalesReview,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Custom(c) => REGISTER.read().expect("the register is never poisoned")[c.number()],
            built_in => BUILT_IN[built_in.index()].1,
        }
    }

    /// A built-in kind's position in [`TaskKind::ALL`]; a centre's own
    /// kind follows them, by its place in the register.
    pub fn index(self) -> usize {
        match self {
            TaskKind::InboundCall => 0,
            TaskKind::NewSignupCallback => 1,
            TaskKind::MissedCallCallback => 2,
            TaskKind::ReturningSignupCallback => 3,
            TaskKind::EventCallback => 4,
            TaskKind::MarketingAttendedNoOrder => 5,
            TaskKind::MarketingAttendedOrdered => 6,
            TaskKind::MarketingNoShow => 7,
            TaskKind::EventRecommendation => 8,
            TaskKind::CommunityOutreach => 9,
            TaskKind::InnReminder => 10,
            TaskKind::CarDispatch => 11,
            TaskKind::InsuranceRegistration => 12,
            TaskKind::ComplaintFollowUp => 13,
            TaskKind::WarrantyCallback => 14,
            TaskKind::AfterSalesReview => 15,
            TaskKind::Custom(c) => BUILT_IN.len() + c.number(),
        }
    }

    /// An agent phones the customer (or an inn, a driver) for this task, so
    /// an unanswered attempt is tried again. An inbound call is the
    /// customer phoning in: there is nobody to call back within the task.
    pub fn calls_out(self) -> bool {
        self != TaskKind::InboundCall
    }

    /// The centre's own kind at `number` in the register, if there is one.
    pub fn custom(number: usize) -> Option<TaskKind> {
        let register = REGISTER.read().expect("the register is never poisoned");
        (number < register.len()).then_some(TaskKind::Custom(CustomKind(number as u8)))
    }

    /// The centre's own kind of this name, registered if it is new: for
    /// names from the configuration and the store only.
    pub fn register(name: &str) -> Result<TaskKind, KindNameError> {
        let valid = (2..=40).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(KindNameError::Invalid(name.to_owned()));
        }
        if BUILT_IN.iter().any(|(_, n)| *n == name) {
            return Err(KindNameError::BuiltIn(name.to_owned()));
        }
        let mut register = REGISTER.write().expect("the register is never poisoned");
        if let Some(i) = register.iter().position(|n| *n == name) {
            return Ok(TaskKind::Custom(CustomKind(i as u8)));
        }
        if register.len() >= MAX_CUSTOM_KINDS {
            return Err(KindNameError::TooMany);
        }
        register.push(Box::leak(name.to_owned().into_boxed_str()));
        Ok(TaskKind::Custom(CustomKind((register.len() - 1) as u8)))
    }
}

impl FromStr for TaskKind {
    type Err = UnknownIdentifier;

    /// A built-in name or a registered one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((kind, _)) = BUILT_IN.iter().find(|(_, n)| *n == s) {
            return Ok(*kind);
        }
        let register = REGISTER.read().expect("the register is never poisoned");
        match register.iter().position(|n| *n == s) {
            Some(i) => Ok(TaskKind::Custom(CustomKind(i as u8))),
            None => Err(UnknownIdentifier { what: "TaskKind", value: s.to_owned() }),
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TaskKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TaskKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        name.parse().map_err(|_| {
            serde::de::Error::custom(format!("unknown task kind `{name}`: a built-in kind or one of `[kinds]`"))
        })
    }
}

impl utoipa::PartialSchema for TaskKind {
    /// The built-in kinds; the served document adds the centre's own
    /// (`api/mod.rs`).
    fn schema() -> RefOr<Schema> {
        let names = BUILT_IN.iter().map(|(_, n)| *n);
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(names))
            .description(Some("A built-in kind or one the centre configured in `[kinds]`."))
            .into()
    }
}

impl utoipa::ToSchema for TaskKind {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_text_and_json() {
        for kind in TaskKind::ALL {
            assert_eq!(kind.as_str().parse::<TaskKind>().unwrap(), *kind);
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(TaskKind::ALL[kind.index()], *kind);
        }
        assert_eq!(TaskKind::ALL.len(), 16);
        assert!("phone_call".parse::<TaskKind>().is_err());
    }

    #[test]
    fn a_centres_own_kind_is_known_once_registered_and_never_from_a_request() {
        assert!("test_order_follow_up".parse::<TaskKind>().is_err());
        assert!(serde_json::from_str::<TaskKind>("\"test_order_follow_up\"").is_err(), "a request registers nothing");
        let kind = TaskKind::register("test_order_follow_up").unwrap();
        assert_eq!(TaskKind::register("test_order_follow_up").unwrap(), kind, "once");
        assert_eq!(kind.as_str(), "test_order_follow_up");
        assert_eq!("test_order_follow_up".parse::<TaskKind>().unwrap(), kind);
        assert_eq!(serde_json::to_string(&kind).unwrap(), "\"test_order_follow_up\"");
        assert!(kind.index() >= TaskKind::ALL.len() && kind.calls_out());
        for bad in ["", "x", "Order", "9lives", "order-follow-up", &"a".repeat(41)] {
            assert!(matches!(TaskKind::register(bad), Err(KindNameError::Invalid(_))), "{bad}");
        }
        assert_eq!(TaskKind::register("inbound_call"), Err(KindNameError::BuiltIn("inbound_call".into())));
    }
}
