//! Who is asking: bearer tokens, one-time WebSocket tickets, which tokens
//! still stand, and the sockets opened with them.
//!
//! Tokens are signed (HMAC-SHA256) with a secret every node shares, so a
//! node checks a token another node issued without a lookup. A signature
//! alone cannot be taken back, so each token also names its own id and the
//! moment it was issued, and [`Auth`] keeps in memory, per user, the
//! account's [`Standing`]: its role, whether it may log in, and since when
//! its tokens count. Logging out adds the token's id to a short list of
//! revoked ids; changing a password, a role, or disabling or deleting a user
//! changes the standing, and every token and open socket that no longer
//! fits it stops working at once (`docs/security.md`). The standing is
//! loaded from the store at start and kept up to date by the account
//! watcher (`crate::auth::account_watch`), so a change made on the command line
//! or through another node applies here too.
//!
//! WebSocket tickets are one-time and short-lived: a browser cannot set
//! headers on a WebSocket, and a long-lived token in a URL ends up in logs,
//! so the console trades its token for a ticket over REST and sends the
//! ticket in the first frame.

pub mod account_watch;
pub mod accounts;
pub mod limiter;
pub mod passwords;
mod sockets;
mod tickets;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, RwLock};

use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

use crate::domain::{Role, UserId};
use crate::store::random_hex;
pub use passwords::{HashPool, PoolError, WeakPassword};
pub use sockets::{SocketGuard, SocketKind};
use tickets::Tickets;

/// One token's own id, so that it alone can be revoked (logout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenId(pub u64);

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for TokenId {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, AuthError> {
        if s.len() != 16 {
            return Err(AuthError::Malformed);
        }
        u64::from_str_radix(s, 16).map(TokenId).map_err(|_| AuthError::Malformed)
    }
}

/// Who made a request, as proven by a token or ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Claims {
    pub user: UserId,
    pub role: Role,
    pub token: TokenId,
    pub issued_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What an account may do with its tokens now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub role: Role,
    /// False once an admin disabled the account.
    pub active: bool,
    /// Tokens issued before this no longer count (a password changed).
    pub valid_after: Timestamp,
}

/// Why a token or ticket no longer counts; the text is shown to its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    LoggedOut,
    Disabled,
    Deleted,
    RoleChanged,
    PasswordChanged,
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::LoggedOut => "logged out",
            Ended::Disabled => "the account is disabled",
            Ended::Deleted => "the account was deleted",
            Ended::RoleChanged => "the account's role changed; log in again",
            Ended::PasswordChanged => "the password changed; log in again",
        }
    }

    /// Whether `claims` still count against `standing` (`None`: no such account).
    fn of(standing: Option<&Standing>, claims: &Claims) -> Option<Ended> {
        match standing {
            None => Some(Ended::Deleted),
            Some(s) if !s.active => Some(Ended::Disabled),
            Some(s) if s.role != claims.role => Some(Ended::RoleChanged),
            // Milliseconds, as tokens and the store carry them.
            Some(s) if claims.issued_at.as_millisecond() < s.valid_after.as_millisecond() => {
                Some(Ended::PasswordChanged)
            }
            Some(_) => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("malformed token")]
    Malformed,
    #[error("token signature does not match")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("session ended: {}", .0.as_str())]
    Ended(Ended),
    #[error("too many open tickets for this user; use one before asking for more")]
    TooManyTickets,
}

pub struct Auth {
    key: Vec<u8>,
    token_ttl: SignedDuration,
    ticket_ttl: SignedDuration,
    tickets: Mutex<Tickets>,
    standing: RwLock<HashMap<UserId, Standing>>,
    /// Logged-out tokens, until they would have expired anyway.
    revoked: Mutex<HashMap<TokenId, i64>>,
    sockets: sockets::Registry,
}

impl Auth {
    pub fn new(secret: &str, token_ttl: SignedDuration, ticket_ttl: SignedDuration) -> Auth {
        Auth {
            key: secret.as_bytes().to_vec(),
            token_ttl,
            ticket_ttl,
            tickets: Mutex::new(Tickets::new(tickets::MAX_PER_USER)),
            standing: RwLock::default(),
            revoked: Mutex::default(),
            sockets: sockets::Registry::default(),
        }
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        mac
    }

    /// A bearer token: `v2.<id>.<user>.<role>.<issued ms>.<expiry ms>.<hex signature>`.
    pub fn issue_token(&self, user: UserId, role: Role, now: Timestamp) -> (String, Claims) {
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).expect("the operating system's random generator failed");
        let claims = Claims {
            user,
            role,
            token: TokenId(u64::from_le_bytes(id)),
            issued_at: now,
            expires_at: now + self.token_ttl,
        };
        let payload = format!(
            "v2.{}.{user}.{role}.{}.{}",
            claims.token,
            now.as_millisecond(),
            claims.expires_at.as_millisecond()
        );
        let sig: String = self.mac(&payload).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        (format!("{payload}.{sig}"), claims)
    }

    /// The claims of a token that is signed, unexpired and still stands.
    pub fn verify_token(&self, token: &str, now: Timestamp) -> Result<Claims, AuthError> {
        let claims = self.signed_claims(token)?;
        if claims.expires_at <= now {
            return Err(AuthError::Expired);
        }
        match self.ended(&claims) {
            Some(why) => Err(AuthError::Ended(why)),
            None => Ok(claims),
        }
    }

    fn signed_claims(&self, token: &str) -> Result<Claims, AuthError> {
        let (payload, sig) = token.rsplit_once('.').ok_or(AuthError::Malformed)?;
        let sig = decode_hex(sig).ok_or(AuthError::Malformed)?;
        self.mac(payload).verify_slice(&sig).map_err(|_| AuthError::BadSignature)?;
        let parts: Vec<&str> = payload.split('.').collect();
        let ["v2", id, user, role, issued, expires] = parts[..] else {
            return Err(AuthError::Malformed);
        };
        let time = |ms: &str| ms.parse::<i64>().ok().and_then(|ms| Timestamp::from_millisecond(ms).ok());
        Ok(Claims {
            user: user.parse().map_err(|_| AuthError::Malformed)?,
            role: role.parse().map_err(|_| AuthError::Malformed)?,
            token: id.parse()?,
            issued_at: time(issued).ok_or(AuthError::Malformed)?,
            expires_at: time(expires).ok_or(AuthError::Malformed)?,
        })
    }

    /// Why `claims` no longer count, if they do not.
    fn ended(&self, claims: &Claims) -> Option<Ended> {
        if self.revoked.lock().expect("revoked lock").contains_key(&claims.token) {
            return Some(Ended::LoggedOut);
        }
        Ended::of(self.standing.read().expect("standing lock").get(&claims.user), claims)
    }

    /// Ends one token (logout), and the sockets opened with it.
    pub fn revoke(&self, token: TokenId, expires_at: Timestamp, now: Timestamp) {
        let mut revoked = self.revoked.lock().expect("revoked lock");
        let now = now.as_millisecond();
        revoked.retain(|_, exp| *exp > now);
        revoked.insert(token, expires_at.as_millisecond());
        drop(revoked);
        self.sockets.end_where(|c| c.token == token, Ended::LoggedOut);
    }

    /// Replaces an account's standing (`None`: deleted) and ends every
    /// socket whose token no longer fits it.
    pub fn set_standing(&self, user: UserId, standing: Option<Standing>) {
        let mut all = self.standing.write().expect("standing lock");
        let changed = all.get(&user) != standing.as_ref();
        match standing {
            Some(s) => all.insert(user, s),
            None => all.remove(&user),
        };
        drop(all);
        if changed {
            self.sockets.end_each(|c| if c.user == user { Ended::of(standing.as_ref(), c) } else { None });
        }
    }

    /// A one-time ticket for opening a WebSocket with these claims.
    pub fn issue_ticket(&self, claims: Claims, now: Timestamp) -> Result<(String, Timestamp), AuthError> {
        let ticket = random_hex(24);
        let expires_at = now + self.ticket_ttl;
        let mut tickets = self.tickets.lock().expect("ticket table lock");
        tickets.insert(ticket.clone(), claims, expires_at.as_millisecond(), now.as_millisecond())?;
        Ok((ticket, expires_at))
    }

    /// Redeems a ticket; it cannot be used twice, and its token must still stand.
    pub fn redeem_ticket(&self, ticket: &str, now: Timestamp) -> Result<Claims, AuthError> {
        let claims = self
            .tickets
            .lock()
            .expect("ticket table lock")
            .redeem(ticket, now.as_millisecond())
            .ok_or(AuthError::Malformed)?;
        match self.ended(&claims) {
            Some(why) => Err(AuthError::Ended(why)),
            None => Ok(claims),
        }
    }

    /// Registers an open socket of `kind`, refused when the user already
    /// has `max` of that kind open. The guard tells the session when its
    /// token stops counting.
    pub fn open_socket(&self, claims: Claims, kind: SocketKind, max: usize) -> Option<SocketGuard> {
        self.sockets.open(claims, kind, max)
    }
}

#[cfg(test)]
impl Auth {
    /// A token of an active account, for tests with no store behind them.
    pub(crate) fn token_for_tests(&self, user: UserId, role: Role) -> (String, Claims) {
        self.set_standing(user, Some(Standing { role, active: true, valid_after: Timestamp::UNIX_EPOCH }));
        self.issue_token(user, role, Timestamp::now())
    }

    /// A ticket of an active account, as [`Auth::token_for_tests`].
    pub(crate) fn ticket_for_tests(&self, user: UserId, role: Role) -> String {
        let (_, claims) = self.token_for_tests(user, role);
        self.issue_ticket(claims, Timestamp::now()).expect("a ticket").0
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests;
