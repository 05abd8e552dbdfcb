//! Passwords, bearer tokens and one-time WebSocket tickets.
//!
//! Tokens are stateless and signed (HMAC-SHA256) with a secret shared
//! through the database, so any node can check a token another node issued
//! without a lookup. WebSocket tickets are one-time and short-lived: a
//! browser cannot set headers on a WebSocket, and a long-lived token in a
//! URL ends up in logs, so the console trades its token for a ticket over
//! REST and sends the ticket in the first frame.

use std::collections::HashMap;
use std::sync::Mutex;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

use crate::domain::{Role, UserId};
use crate::store::random_hex;

/// Who made a request, as proven by a token or ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    pub user: UserId,
    pub role: Role,
    pub expires_at: Timestamp,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("malformed token")]
    Malformed,
    #[error("token signature does not match")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("password hashing failed")]
    Hashing,
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|_| AuthError::Hashing)
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash of a random password, checked when a username does not exist so
/// that a wrong name takes as long as a wrong password.
pub fn decoy_hash() -> String {
    hash_password(&random_hex(16)).unwrap_or_default()
}

pub struct Auth {
    key: Vec<u8>,
    token_ttl: SignedDuration,
    ticket_ttl: SignedDuration,
    tickets: Mutex<HashMap<String, Claims>>,
}

impl Auth {
    pub fn new(secret: &str, token_ttl: SignedDuration, ticket_ttl: SignedDuration) -> Auth {
        Auth { key: secret.as_bytes().to_vec(), token_ttl, ticket_ttl, tickets: Mutex::new(HashMap::new()) }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }

    /// A bearer token: `v1.<user>.<role>.<expiry ms>.<hex signature>`.
    pub fn issue_token(&self, user: UserId, role: Role, now: Timestamp) -> (String, Timestamp) {
        let expires_at = now + self.token_ttl;
        let payload = format!("v1.{user}.{role}.{}", expires_at.as_millisecond());
        let sig: String = self.mac(&payload).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        (format!("{payload}.{sig}"), expires_at)
    }

    pub fn verify_token(&self, token: &str, now: Timestamp) -> Result<Claims, AuthError> {
        let (payload, sig) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
        let sig = decode_hex(sig).ok_or(AuthError::Malformed)?;
        self.mac(payload).verify_slice(&sig).map_err(|_| AuthError::BadSignature)?;
        let mut parts = payload.split('.');
        let (Some("v1"), Some(user), Some(role), Some(exp), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed);
        };
        let claims = Claims {
            user: user.parse().map_err(|_| AuthError::Malformed)?,
            role: role.parse().map_err(|_| AuthError::Malformed)?,
            expires_at: exp
                .parse::<i64>()
                .ok()
                .and_then(|ms| Timestamp::from_millisecond(ms).ok())
                .ok_or(AuthError::Malformed)?,
        };
        if claims.expires_at <= now {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }

    /// A one-time ticket for opening a WebSocket as this user.
    pub fn issue_ticket(&self, user: UserId, role: Role, now: Timestamp) -> (String, Timestamp) {
        let ticket = random_hex(24);
        let expires_at = now + self.ticket_ttl;
        let mut tickets = self.tickets.lock().expect("ticket table lock");
        tickets.retain(|_, c| c.expires_at > now);
        tickets.insert(ticket.clone(), Claims { user, role, expires_at });
        (ticket, expires_at)
    }

    /// Redeems a ticket; it cannot be used twice.
    pub fn redeem_ticket(&self, ticket: &str, now: Timestamp) -> Option<Claims> {
        let claims = self.tickets.lock().expect("ticket table lock").remove(ticket)?;
        (claims.expires_at > now).then_some(claims)
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new("0123456789abcdef0123456789abcdef", SignedDuration::from_mins(60), SignedDuration::from_secs(30))
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let now: Timestamp = "2026-03-02T02:00:00Z".parse().unwrap();
        let a = auth();
        let user = UserId::new();
        let (token, exp) = a.issue_token(user, Role::Agent, now);
        let claims = a.verify_token(&token, now).unwrap();
        assert_eq!((claims.user, claims.role, claims.expires_at), (user, Role::Agent, exp));
        assert_eq!(a.verify_token(&token, exp), Err(AuthError::Expired));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let now = Timestamp::now();
        let a = auth();
        let (token, _) = a.issue_token(UserId::new(), Role::Agent, now);
        let forged = token.replace(".agent.", ".admin.");
        assert_eq!(a.verify_token(&forged, now), Err(AuthError::BadSignature));
        let other = Auth::new(
            "another secret that is long enough!!",
            SignedDuration::from_mins(1),
            SignedDuration::from_secs(1),
        );
        assert_eq!(other.verify_token(&token, now), Err(AuthError::BadSignature));
        assert_eq!(a.verify_token("garbage", now), Err(AuthError::Malformed));
        assert_eq!(a.verify_token("a.b.zz", now), Err(AuthError::Malformed));
    }

    #[test]
    fn tickets_work_once_and_expire() {
        let now = Timestamp::now();
        let a = auth();
        let (t, _) = a.issue_ticket(UserId::new(), Role::Agent, now);
        assert!(a.redeem_ticket(&t, now).is_some());
        assert!(a.redeem_ticket(&t, now).is_none());
        let (t, exp) = a.issue_ticket(UserId::new(), Role::Agent, now);
        assert!(a.redeem_ticket(&t, exp).is_none());
    }

    #[test]
    fn passwords_verify_only_when_right() {
        let h = hash_password("s3cret").unwrap();
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("secret", &h));
        assert!(!verify_password("s3cret", "not a hash"));
    }
}
