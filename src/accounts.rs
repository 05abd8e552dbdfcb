//! Creating and changing users, shared by the REST API and the CLI so that
//! both apply the same checks.

use jiff::Timestamp;

use crate::auth;
use crate::dispatch::{AgentProfile, Rules};
use crate::domain::Role;
use crate::store::{AgentPatch, NewUser, Store, StoreError, User};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error("username is taken")]
    Taken,
    #[error(transparent)]
    Store(StoreError),
    #[error("password hashing failed")]
    Hashing,
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => AccountError::Taken,
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
    pub sip_uri: Option<String>,
    pub skills: Vec<String>,
    pub voice_capacity: Option<u8>,
    pub back_office_capacity: Option<u8>,
}

pub const MIN_PASSWORD_CHARS: usize = 8;

pub fn check_username(name: &str) -> Result<(), AccountError> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(()).ok_or_else(|| invalid("username", "1-64 characters of a-z, 0-9, '.', '_' and '-'"))
}

pub fn check_sip_uri(uri: &str) -> Result<(), AccountError> {
    let ok = (uri.starts_with("sip:") || uri.starts_with("sips:"))
        && uri.len() <= 256
        && uri.contains('@')
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    ok.then_some(()).ok_or_else(|| invalid("sip_uri", "a sip: or sips: URI such as sip:1001@pbx.example"))
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
    if a.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid("password", format!("at least {MIN_PASSWORD_CHARS} characters")));
    }
    if let Some(uri) = &a.sip_uri {
        check_sip_uri(uri)?;
    }
    check_skills(rules, &a.skills)?;
    check_capacities(a.voice_capacity, a.back_office_capacity)?;
    let password = a.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| AccountError::Hashing)?
        .map_err(|_| AccountError::Hashing)?;
    let new = NewUser {
        display_name: a.display_name.unwrap_or_else(|| a.username.clone()),
        username: a.username,
        role: a.role,
        password_hash: hash,
        sip_uri: a.sip_uri,
        skills: a.skills,
        voice_capacity: a.voice_capacity.unwrap_or(1),
        back_office_capacity: a.back_office_capacity.unwrap_or(default_back_office),
    };
    Ok(store.create_user(new, Timestamp::now()).await?)
}

pub fn check_patch(rules: &Rules, p: &AgentPatch) -> Result<(), AccountError> {
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

/// The dispatcher's view of a user who takes work.
pub fn profile(rules: &Rules, user: &User) -> AgentProfile {
    AgentProfile {
        id: user.id,
        name: user.display_name.clone(),
        queues: rules.queue_set(user.skills.iter().map(String::as_str)),
        voice_capacity: user.voice_capacity,
        back_office_capacity: user.back_office_capacity,
        sip_uri: user.sip_uri.clone(),
    }
}
