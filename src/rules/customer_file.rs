//! The customer file (seed 001 五: 客户资料要求按地区详细登记每个客户的完整
//! 资料 … 对客户地址、电话、负责人等有变更的要及时更改), as rules: what a
//! record holds, the centre's own fields (`[[customers.fields]]`), how a
//! change is checked and what it changed, field by field, for the record's
//! history. Pure.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Phone;

/// One of the centre's own fields (`[[customers.fields]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// 1-40 of a-z, 0-9 and `_`: the key in the record.
    pub name: String,
    /// What people call it (经销商).
    pub label: String,
    /// When given, the only values it takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

/// `[customers]` in the configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerSettings {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDef>,
}

impl CustomerSettings {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.fields.len() > MAX_OWN_FIELDS {
            problems.push(format!("customers.fields: at most {MAX_OWN_FIELDS}"));
        }
        let mut seen = BTreeSet::new();
        for f in &self.fields {
            let ok = (1..=40).contains(&f.name.len())
                && f.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                problems.push(format!("customers.fields: name {:?} must be 1-40 of a-z, 0-9 and _", f.name));
            }
            if !seen.insert(&f.name) {
                problems.push(format!("customers.fields.{}: named twice", f.name));
            }
            if !(1..=50).contains(&f.label.chars().count()) {
                problems.push(format!("customers.fields.{}.label: 1-50 characters", f.name));
            }
            if f.choices.iter().any(|c| !(1..=MAX_SHORT).contains(&c.chars().count())) {
                problems.push(format!("customers.fields.{}.choices: each 1-{MAX_SHORT} characters", f.name));
            }
        }
        problems
    }
}

const MAX_OWN_FIELDS: usize = 30;
const MAX_SHORT: usize = 50;
const MAX_NAME: usize = 100;
const MAX_NOTES: usize = 4000;
const MAX_ADDRESS: usize = 200;
const MAX_VALUE: usize = 200;
const MAX_TAGS: usize = 20;
const MAX_PHONES: usize = 5;

/// What the record says of a customer besides their main number.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CustomerFile {
    pub name: Option<String>,
    pub notes: Option<String>,
    /// Other numbers they answer on.
    #[schema(value_type = Vec<String>)]
    pub other_phones: Vec<Phone>,
    pub address: Option<String>,
    /// 地区: records are kept and listed by region.
    pub region: Option<String>,
    /// 负责人: whom to ask for at a company customer.
    pub contact_person: Option<String>,
    pub tags: Vec<String>,
    /// The centre's own fields, by name.
    pub fields: BTreeMap<String, String>,
    /// The customer asked not to be called: Switchboard places no call to
    /// their number.
    pub do_not_call: bool,
}

/// A change asked for: `None` keeps a part; an empty text clears it; a
/// list replaces the whole; a field set to `""` is removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilePatch {
    pub name: Option<String>,
    pub notes: Option<String>,
    pub other_phones: Option<Vec<Phone>>,
    pub address: Option<String>,
    pub region: Option<String>,
    pub contact_person: Option<String>,
    pub tags: Option<Vec<String>>,
    pub fields: Option<BTreeMap<String, String>>,
    pub do_not_call: Option<bool>,
}

/// One part of the record changed, as its history shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// `address`, `tags`, or `fields.<name>` for the centre's own.
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("{field}: at most {max} characters")]
    TooLong { field: String, max: usize },
    #[error("{field}: at most {max}")]
    TooMany { field: &'static str, max: usize },
    #[error("fields.{0}: not a field of this centre ([[customers.fields]])")]
    UnknownField(String),
    #[error("fields.{field}: {value:?} is not one of its choices")]
    NotAChoice { field: String, value: String },
    #[error("other_phones: the customer's own number")]
    OwnNumber,
}

fn text(field: &str, value: Option<&String>, max: usize) -> Result<Option<Option<String>>, FileError> {
    let Some(v) = value else { return Ok(None) };
    let v = v.trim();
    if v.chars().count() > max {
        return Err(FileError::TooLong { field: field.to_owned(), max });
    }
    Ok(Some((!v.is_empty()).then(|| v.to_owned())))
}

fn listed<T: ToString>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| items.iter().map(T::to_string).collect::<Vec<_>>().join(", "))
}

/// Applies `patch` to `before` (the record of `phone`): the record after,
/// and each part that changed. Nothing is changed when anything is wrong.
pub fn apply(
    settings: &CustomerSettings,
    phone: &Phone,
    before: &CustomerFile,
    patch: &FilePatch,
) -> Result<(CustomerFile, Vec<Change>), FileError> {
    let mut after = before.clone();
    let mut changes = Vec::new();
    let mut set_text = |field: &str, slot: &mut Option<String>, value: Option<&String>, max| {
        if let Some(new) = text(field, value, max)?
            && new != *slot
        {
            changes.push(Change { field: field.to_owned(), old: slot.clone(), new: new.clone() });
            *slot = new;
        }
        Ok::<(), FileError>(())
    };
    set_text("name", &mut after.name, patch.name.as_ref(), MAX_NAME)?;
    set_text("notes", &mut after.notes, patch.notes.as_ref(), MAX_NOTES)?;
    set_text("address", &mut after.address, patch.address.as_ref(), MAX_ADDRESS)?;
    set_text("region", &mut after.region, patch.region.as_ref(), MAX_SHORT)?;
    set_text("contact_person", &mut after.contact_person, patch.contact_person.as_ref(), MAX_NAME)?;
    if let Some(phones) = &patch.other_phones {
        let mut list: Vec<Phone> = Vec::new();
        for p in phones {
            if p == phone {
                return Err(FileError::OwnNumber);
            }
            if !list.contains(p) {
                list.push(p.clone());
            }
        }
        if list.len() > MAX_PHONES {
            return Err(FileError::TooMany { field: "other_phones", max: MAX_PHONES });
        }
        if list != after.other_phones {
            changes.push(Change { field: "other_phones".into(), old: listed(&after.other_phones), new: listed(&list) });
            after.other_phones = list;
        }
    }
    if let Some(tags) = &patch.tags {
        let mut list: Vec<String> = Vec::new();
        for t in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            if t.chars().count() > 30 {
                return Err(FileError::TooLong { field: "tags".into(), max: 30 });
            }
            if !list.iter().any(|x| x == t) {
                list.push(t.to_owned());
            }
        }
        if list.len() > MAX_TAGS {
            return Err(FileError::TooMany { field: "tags", max: MAX_TAGS });
        }
        if list != after.tags {
            changes.push(Change { field: "tags".into(), old: listed(&after.tags), new: listed(&list) });
            after.tags = list;
        }
    }
    if let Some(mark) = patch.do_not_call
        && mark != after.do_not_call
    {
        let old = Some(after.do_not_call.to_string());
        changes.push(Change { field: "do_not_call".into(), old, new: Some(mark.to_string()) });
        after.do_not_call = mark;
    }
    for (name, value) in patch.fields.iter().flatten() {
        let def =
            settings.fields.iter().find(|f| &f.name == name).ok_or_else(|| FileError::UnknownField(name.clone()))?;
        let value = value.trim();
        if value.chars().count() > MAX_VALUE {
            return Err(FileError::TooLong { field: format!("fields.{name}"), max: MAX_VALUE });
        }
        if !value.is_empty() && !def.choices.is_empty() && !def.choices.iter().any(|c| c == value) {
            return Err(FileError::NotAChoice { field: name.clone(), value: value.to_owned() });
        }
        let new = (!value.is_empty()).then(|| value.to_owned());
        let old = after.fields.get(name).cloned();
        if new != old {
            changes.push(Change { field: format!("fields.{name}"), old, new: new.clone() });
            match new {
                Some(v) => after.fields.insert(name.clone(), v),
                None => after.fields.remove(name),
            };
        }
    }
    Ok((after, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CustomerSettings {
        CustomerSettings {
            fields: vec![
                FieldDef { name: "dealer".into(), label: "经销商".into(), choices: vec![] },
                FieldDef { name: "level".into(), label: "客户级别".into(), choices: vec!["A".into(), "B".into()] },
            ],
        }
    }

    fn phone(s: &str) -> Phone {
        Phone::parse(s).unwrap()
    }

    #[test]
    fn a_change_says_what_it_changed_part_by_part() {
        let me = phone("13800138000");
        let before = CustomerFile { name: Some("王力".into()), region: Some("华东".into()), ..Default::default() };
        let patch = FilePatch {
            name: Some(" 王力 ".into()),
            region: Some("华南".into()),
            address: Some("广州市天河区".into()),
            tags: Some(vec!["VIP".into(), " VIP".into(), "".into(), "回头客".into()]),
            other_phones: Some(vec![phone("02088888888")]),
            fields: Some([("level".to_owned(), "A".to_owned())].into()),
            ..Default::default()
        };
        let (after, changes) = apply(&settings(), &me, &before, &patch).unwrap();
        assert_eq!(after.tags, ["VIP", "回头客"]);
        let seen: Vec<(&str, Option<&str>, Option<&str>)> =
            changes.iter().map(|c| (c.field.as_str(), c.old.as_deref(), c.new.as_deref())).collect();
        assert_eq!(
            seen,
            [
                ("address", None, Some("广州市天河区")),
                ("region", Some("华东"), Some("华南")),
                ("other_phones", None, Some("02088888888")),
                ("tags", None, Some("VIP, 回头客")),
                ("fields.level", None, Some("A")),
            ],
            "the name did not change: not in the history"
        );
        // Clearing: an empty text, a field set to "".
        let clear = FilePatch {
            address: Some(String::new()),
            fields: Some([("level".to_owned(), String::new())].into()),
            ..Default::default()
        };
        let (cleared, changes) = apply(&settings(), &me, &after, &clear).unwrap();
        assert_eq!((cleared.address, cleared.fields.len(), changes.len()), (None, 0, 2));
    }

    #[test]
    fn a_wrong_change_changes_nothing() {
        let me = phone("13800138000");
        let before = CustomerFile::default();
        let wrong = |patch: FilePatch| apply(&settings(), &me, &before, &patch).unwrap_err();
        let fields = |k: &str, v: &str| Some([(k.to_owned(), v.to_owned())].into());
        assert_eq!(
            wrong(FilePatch { fields: fields("colour", "red"), ..Default::default() }),
            FileError::UnknownField("colour".into())
        );
        assert!(matches!(
            wrong(FilePatch { fields: fields("level", "C"), ..Default::default() }),
            FileError::NotAChoice { .. }
        ));
        assert_eq!(
            wrong(FilePatch { other_phones: Some(vec![me.clone()]), ..Default::default() }),
            FileError::OwnNumber
        );
        assert!(matches!(
            wrong(FilePatch { address: Some("x".repeat(201)), ..Default::default() }),
            FileError::TooLong { .. }
        ));
        let many = (0..21).map(|i| format!("t{i}")).collect();
        assert!(matches!(wrong(FilePatch { tags: Some(many), ..Default::default() }), FileError::TooMany { .. }));
    }

    #[test]
    fn the_centres_fields_are_checked() {
        assert!(settings().problems().is_empty());
        let mut bad = settings();
        bad.fields.push(FieldDef { name: "Dealer!".into(), label: String::new(), choices: vec![] });
        bad.fields.push(FieldDef { name: "dealer".into(), label: "again".into(), choices: vec![] });
        assert_eq!(bad.problems().len(), 3, "{:?}", bad.problems());
    }
}
