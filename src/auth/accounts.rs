//! Creating and changing users, shared by the REST API and the CLI so that
//! both apply the same checks. What a change does to a running server
//! (tokens, sockets, routing) is the account watcher's job
//! (`crate::auth::account_watch`), so a change made here from the command line
//! applies the same way as one made over REST.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::auth::passwords::{self, WeakPassword};
use crate::auth::{PoolError, Standing};
use crate::domain::{Role, UserId, WorkNumber};
use crate::rules::dispatch::{MAX_LEVEL, Rules};
use crate::store::{NewUser, Store, StoreError, User, UserPatch};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error("password: {0}")]
    WeakPassword(#[from] WeakPassword),
    /// A unique field another account holds: `username` or `work_number`.
    #[error("{0} is taken")]
    Taken(&'static str),
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Hashing(#[from] PoolError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => AccountError::Taken(what),
            other => AccountError::Store(other),
        }
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> AccountError {
    AccountError::Invalid { field, problem: problem.into() }
}

/// What it takes to create a user.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub display_name: Option<String>,
    pub work_number: Option<String>,
    pub sip_uri: Option<String>,
    pub skills: Vec<String>,
    /// Levels above 1, by skill.
    pub levels: BTreeMap<String, u8>,
    pub voice_capacity: Option<u8>,
    pub back_office_capacity: Option<u8>,
}

pub fn check_username(name: &str) -> Result<(), AccountError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(()).ok_or_else(|| invalid("username", "1-64 characters of a-z, 0-9, '.', '_' and '-'"))
}

/// A `sip:` or `sips:` URI naming a user at a host. It goes into the
/// Contact of a 302 as it is, so nothing that could add to that header or
/// to the request the PBX makes from it is allowed: no URI headers (`?`),
/// no angle brackets, quotes, commas, white space or control characters.
pub fn check_sip_uri(uri: &str) -> Result<(), AccountError> {
    let rest = uri.strip_prefix("sip:").or_else(|| uri.strip_prefix("sips:"));
    let ok = rest.is_some_and(|r| r.split_once('@').is_some_and(|(user, host)| !user.is_empty() && !host.is_empty()))
        && uri.len() <= 256
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"',?".contains(c));
    ok.then_some(())
        .ok_or_else(|| invalid("sip_uri", "a sip: or sips: URI such as sip:1001@pbx.example, without headers (?...)"))
}

/// A work number (工号) as the agent says it: 1-10 digits or letters.
pub fn check_work_number(raw: &str) -> Result<WorkNumber, AccountError> {
    WorkNumber::parse(raw).map_err(|e| invalid("work_number", e.to_string()))
}

/// Skills must name configured queues: a typo would silently route nothing.
pub fn check_skills(rules: &Rules, skills: &[String]) -> Result<(), AccountError> {
    for s in skills {
        if rules.queue_index(s).is_none() {
            return Err(invalid("skills", format!("`{s}` is not a queue; queues are {}", rules.queues.join(", "))));
        }
    }
    Ok(())
}

/// Levels are 1-5 and belong to one of the agent's skills: a level for a
/// skill the agent lacks would route nothing and hide a typo.
pub fn check_levels(skills: &[String], levels: &BTreeMap<String, u8>) -> Result<(), AccountError> {
    for (skill, &level) in levels {
        if !skills.contains(skill) {
            return Err(invalid("levels", format!("`{skill}` is not one of the agent's skills")));
        }
        if !(1..=MAX_LEVEL).contains(&level) {
            return Err(invalid("levels", format!("`{skill}`: a level is 1 (learning) to 5 (expert)")));
        }
    }
    Ok(())
}

pub fn check_capacities(voice: Option<u8>, back_office: Option<u8>) -> Result<(), AccountError> {
    if voice.is_some_and(|v| v > 1) {
        return Err(invalid("voice_capacity", "0 or 1: a voice call is exclusive"));
    }
    if back_office.is_some_and(|v| v > 50) {
        return Err(invalid("back_office_capacity", "at most 50"));
    }
    Ok(())
}

pub async fn create(
    store: &Store,
    rules: &Rules,
    default_back_office: u8,
    a: NewAccount,
) -> Result<User, AccountError> {
    check_username(&a.username)?;
    passwords::check_new(&a.username, &a.password)?;
    if let Some(uri) = &a.sip_uri {
        check_sip_uri(uri)?;
    }
    check_skills(rules, &a.skills)?;
    check_levels(&a.skills, &a.levels)?;
    check_capacities(a.voice_capacity, a.back_office_capacity)?;
    let work_number = a.work_number.as_deref().map(check_work_number).transpose()?;
    let hash = passwords::pool().hash(a.password).await?;
    let new = NewUser {
        display_name: a.display_name.unwrap_or_else(|| a.username.clone()),
        username: a.username,
        role: a.role,
        password_hash: hash,
        work_number,
        sip_uri: a.sip_uri,
        skills: a.skills,
        levels: a.levels,
        voice_capacity: a.voice_capacity.unwrap_or(1),
        back_office_capacity: a.back_office_capacity.unwrap_or(default_back_office),
    };
    Ok(store.create_user(new, Timestamp::now()).await?)
}

pub fn check_patch(rules: &Rules, p: &UserPatch) -> Result<(), AccountError> {
    if let Some(Some(uri)) = &p.sip_uri {
        check_sip_uri(uri)?;
    }
    if let Some(skills) = &p.skills {
        check_skills(rules, skills)?;
    }
    if p.display_name.as_ref().is_some_and(|n| n.trim().is_empty() || n.chars().count() > 100) {
        return Err(invalid("display_name", "1-100 characters"));
    }
    check_capacities(p.voice_capacity, p.back_office_capacity)
}

pub async fn update(store: &Store, rules: &Rules, id: UserId, patch: UserPatch) -> Result<User, AccountError> {
    check_patch(rules, &patch)?;
    if let Some(levels) = &patch.levels {
        let skills = match &patch.skills {
            Some(skills) => skills.clone(),
            None => store.user(id).await?.ok_or(AccountError::NotFound)?.skills,
        };
        check_levels(&skills, levels)?;
    }
    store.update_user(id, patch, Timestamp::now()).await?.ok_or(AccountError::NotFound)
}

/// Sets a user's password (checked like a new one); the user's tokens end.
pub async fn set_password(store: &Store, id: UserId, password: String) -> Result<User, AccountError> {
    let user = store.user(id).await?.ok_or(AccountError::NotFound)?;
    passwords::check_new(&user.username, &password)?;
    let hash = passwords::pool().hash(password).await?;
    if !store.set_password(id, &hash, Timestamp::now()).await? {
        return Err(AccountError::NotFound);
    }
    store.user(id).await?.ok_or(AccountError::NotFound)
}

pub async fn delete(store: &Store, id: UserId) -> Result<(), AccountError> {
    store.delete_user(id, Timestamp::now()).await?.then_some(()).ok_or(AccountError::NotFound)
}

/// What the user's tokens may do now.
pub fn standing(user: &User) -> Standing {
    Standing { role: user.role, active: user.disabled_at.is_none(), valid_after: user.sessions_valid_after }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uris_with_headers_or_injections_are_refused() {
        assert!(check_sip_uri("sip:1001@pbx.example").is_ok());
        assert!(check_sip_uri("sips:1001@pbx.example;transport=tls").is_ok());
        for bad in [
            "sip:1001@pbx.example?Subject=hi",
            "sip:1001@pbx.example?Route=%3Csip:evil%3E",
            "sip:1001@pbx.example>,<sip:evil@x",
            "sip:1001@pbx.example\r\nX-Evil: 1",
            "sip:\"a\"@pbx",
            "sip:@pbx",
            "sip:1001@",
            "tel:1001",
        ] {
            assert!(check_sip_uri(bad).is_err(), "{bad:?} accepted");
        }
    }
}
