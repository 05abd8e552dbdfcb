//! The WebSockets open now, by user: so that a token that stops counting
//! (logout, a disabled account, a changed role or password) closes the
//! sockets opened with it at once, and so that one user cannot open
//! wallboards without end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio_util::sync::CancellationToken;

use super::{Claims, Ended};
use crate::domain::UserId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    Console,
    Wallboard,
}

struct Open {
    id: u64,
    kind: SocketKind,
    claims: Claims,
    slot: Arc<Slot>,
}

/// What a session watches: cancelled when its token stops counting, with why.
#[derive(Default)]
struct Slot {
    ended: CancellationToken,
    why: OnceLock<Ended>,
}

#[derive(Default)]
pub(super) struct Registry {
    inner: Arc<Mutex<HashMap<UserId, Vec<Open>>>>,
    next: AtomicU64,
}

impl Registry {
    pub(super) fn open(&self, claims: Claims, kind: SocketKind, max: usize) -> Option<SocketGuard> {
        let mut all = self.inner.lock().expect("socket registry lock");
        let mine = all.entry(claims.user).or_default();
        if mine.iter().filter(|o| o.kind == kind).count() >= max {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        mine.push(Open { id, kind, claims, slot: slot.clone() });
        Some(SocketGuard { registry: self.inner.clone(), user: claims.user, id, slot })
    }

    pub(super) fn end_where(&self, matches: impl Fn(&Claims) -> bool, why: Ended) {
        self.end_each(|c| matches(c).then_some(why));
    }

    /// Ends each open socket for which `why` gives a reason.
    pub(super) fn end_each(&self, why: impl Fn(&Claims) -> Option<Ended>) {
        let all = self.inner.lock().expect("socket registry lock");
        for open in all.values().flatten() {
            if let Some(reason) = why(&open.claims) {
                let _ = open.slot.why.set(reason);
                open.slot.ended.cancel();
            }
        }
    }
}

/// An open socket's place in the registry, given back when dropped.
pub struct SocketGuard {
    registry: Arc<Mutex<HashMap<UserId, Vec<Open>>>>,
    user: UserId,
    id: u64,
    slot: Arc<Slot>,
}

impl SocketGuard {
    /// Resolves when the socket's token stops counting.
    pub async fn ended(&self) -> Ended {
        self.slot.ended.cancelled().await;
        self.slot.why.get().copied().unwrap_or(Ended::LoggedOut)
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let mut all = self.registry.lock().expect("socket registry lock");
        if let Some(mine) = all.get_mut(&self.user) {
            mine.retain(|o| o.id != self.id);
            if mine.is_empty() {
                all.remove(&self.user);
            }
        }
    }
}
