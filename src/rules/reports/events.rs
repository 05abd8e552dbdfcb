//! The events held in a period: registered, the attendance the calls
//! expected (预到场人数) and who came.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Phone;
use crate::rules::events::{Attendance, AttendanceAnswer, attendance};

/// One event as the store has it (store query).
#[derive(Clone, Debug, PartialEq)]
pub struct EventInputs {
    pub id: String,
    pub name: Option<String>,
    pub date: Date,
    pub registered: BTreeSet<Phone>,
    pub answers: BTreeMap<Phone, AttendanceAnswer>,
    /// `None` until the event has ended.
    pub came: Option<BTreeSet<Phone>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct EventFigures {
    pub id: String,
    pub name: Option<String>,
    #[schema(value_type = String)]
    pub date: Date,
    #[serde(flatten)]
    pub attendance: Attendance,
}

/// Each event of the period, by date.
pub fn events(inputs: &[EventInputs]) -> Vec<EventFigures> {
    let mut list: Vec<EventFigures> = inputs
        .iter()
        .map(|e| EventFigures {
            id: e.id.clone(),
            name: e.name.clone(),
            date: e.date,
            attendance: attendance(&e.registered, &e.answers, e.came.as_ref()),
        })
        .collect();
    list.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
    list
}
