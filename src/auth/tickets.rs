//! Outstanding WebSocket tickets. Issuing one costs the same however many
//! are out: expired ones leave from the front of a queue ordered by expiry
//! (every ticket lives equally long), not by a sweep of the whole table
//! under the lock, which made issuing three times slower once 100,000 had
//! piled up. A user may hold only a few unused tickets at a time.

use std::collections::{HashMap, VecDeque};

use super::{AuthError, Claims};
use crate::domain::UserId;

/// Unused tickets one user may hold: a console needs one per connection attempt.
pub(super) const MAX_PER_USER: u32 = 8;

pub(super) struct Tickets {
    by_ticket: HashMap<String, (Claims, i64)>,
    /// Tickets in order of expiry; some may have been redeemed already.
    expiry: VecDeque<(i64, String)>,
    per_user: HashMap<UserId, u32>,
    max_per_user: u32,
}

impl Tickets {
    pub(super) fn new(max_per_user: u32) -> Self {
        Tickets { by_ticket: HashMap::new(), expiry: VecDeque::new(), per_user: HashMap::new(), max_per_user }
    }

    pub(super) fn insert(&mut self, ticket: String, claims: Claims, expires: i64, now: i64) -> Result<(), AuthError> {
        self.expire(now);
        let held = self.per_user.entry(claims.user).or_default();
        if *held >= self.max_per_user {
            return Err(AuthError::TooManyTickets);
        }
        *held += 1;
        self.expiry.push_back((expires, ticket.clone()));
        self.by_ticket.insert(ticket, (claims, expires));
        Ok(())
    }

    pub(super) fn redeem(&mut self, ticket: &str, now: i64) -> Option<Claims> {
        self.expire(now);
        let (claims, expires) = self.by_ticket.remove(ticket)?;
        self.release(claims.user);
        (expires > now).then_some(claims)
    }

    fn expire(&mut self, now: i64) {
        while let Some((expires, _)) = self.expiry.front()
            && *expires <= now
        {
            let (_, ticket) = self.expiry.pop_front().expect("front exists");
            if let Some((claims, _)) = self.by_ticket.remove(&ticket) {
                self.release(claims.user);
            }
        }
    }

    fn release(&mut self, user: UserId) {
        if let Some(held) = self.per_user.get_mut(&user) {
            *held -= 1;
            if *held == 0 {
                self.per_user.remove(&user);
            }
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.by_ticket.len()
    }
}
