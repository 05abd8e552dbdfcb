//! The state every handler of the edges (REST, WebSocket, the pages) is
//! given: built once, complete, by the server (`app/server.rs`), and kept
//! here so that the edges take it sideways rather than from the wiring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::ApiError;
use crate::api::simulations::Simulations;
use crate::auth::account_watch::AccountWatch;
use crate::auth::limiter::{LimitRule, LoginLimits};
use crate::auth::{Auth, passwords};
use crate::config::Config;
use crate::domain::UserId;
use crate::limits::{KeyedBuckets, Rate};
use crate::live::LiveHealth;
use crate::metrics::Metrics;
use crate::rules::followup::Checkpoints;
use crate::rules::greetings::Greeter;
use crate::runtime::figures::FloorFeed;
use crate::runtime::hub::{ConnId, Hub};
use crate::runtime::live_rules::LiveRules;
use crate::runtime::planning::PlanningFeed;
use crate::runtime::travel_board::Board;
use crate::sip::placer::Placer;
use crate::store::Store;

/// What the server's other parts share with the handlers; tests take the
/// default (no Redis, an empty board, no figures feed).
#[derive(Clone, Default)]
pub struct Shared {
    /// Fires when the server starts shutting down.
    pub shutdown: CancellationToken,
    pub live: Option<Arc<LiveHealth>>,
    pub board: Board,
    pub floor: Option<FloorFeed>,
    pub planning: PlanningFeed,
    pub metrics: Arc<Metrics>,
    /// Calls Switchboard places, with `[sip.outbound]`.
    pub placer: Option<Placer>,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub auth: Arc<Auth>,
    pub config: Arc<Config>,
    /// The rules in force, with the centre's calendar (`rules.calendar`);
    /// a configuration reload replaces them.
    pub rules: LiveRules,
    /// The configuration as last applied (at start, or by a reload); held
    /// while a reload is checked and applied, so reloads go one at a time.
    pub running: Arc<tokio::sync::Mutex<Arc<Config>>>,
    pub checkpoints: Arc<Checkpoints>,
    /// Fires when the server starts shutting down; sessions close on it.
    pub shutdown: CancellationToken,
    pub sessions: TaskTracker,
    /// Checked against when a login names an unknown user, to take as long
    /// as a real check. Computed once at start (one argon2 hash, ~10 ms).
    pub decoy_hash: String,
    /// With Redis: whether it answers and how much waits for it.
    pub live: Option<Arc<LiveHealth>>,
    /// The dispatchers' board: touched by whatever changes travel work.
    pub board: Board,
    /// The live figures, followed by wallboards and `/metrics`.
    pub floor: Option<FloorFeed>,
    /// Waiting tasks' positions and estimated waits, the day's staffing.
    pub planning: PlanningFeed,
    pub metrics: Arc<Metrics>,
    /// Failed logins by client address and username.
    pub login_limits: Arc<Mutex<LoginLimits>>,
    /// Agents' own status changes, per agent (`websocket.status_changes_per_minute`).
    pub status_limits: Arc<Mutex<KeyedBuckets<UserId>>>,
    /// The opening line of each screen-pop (`[greetings]`).
    pub greeter: Arc<Greeter>,
    /// Calls Switchboard places, with `[sip.outbound]`.
    pub placer: Option<Placer>,
    /// What-if runs asked for over REST, one at a time.
    pub simulations: Simulations,
    conn_ids: Arc<AtomicU64>,
}

impl AppState {
    pub fn new(
        store: Store,
        hub: Hub,
        auth: Arc<Auth>,
        config: Config,
        rules: LiveRules,
        checkpoints: Checkpoints,
        shared: Shared,
    ) -> Self {
        AppState {
            store,
            hub,
            auth,
            greeter: Arc::new(Greeter::new(config.greetings.clone(), rules.get())),
            rules,
            running: Arc::new(tokio::sync::Mutex::new(Arc::new(config.clone()))),
            checkpoints: Arc::new(checkpoints),
            shutdown: shared.shutdown,
            sessions: TaskTracker::new(),
            decoy_hash: passwords::decoy_hash(),
            live: shared.live,
            board: shared.board,
            floor: shared.floor,
            planning: shared.planning,
            metrics: shared.metrics,
            placer: shared.placer,
            simulations: Simulations::default(),
            login_limits: Arc::new(Mutex::new(LoginLimits::new(LimitRule {
                allowed: config.auth.login_failures_per_minute,
                window_ms: 60_000,
                lockout_ms: config.auth.login_lockout_secs as i64 * 1000,
                max_lockout_ms: config.auth.login_max_lockout_secs as i64 * 1000,
                ..LimitRule::default()
            }))),
            status_limits: Arc::new(Mutex::new(KeyedBuckets::new(
                Rate::per_minute(config.websocket.status_changes_per_minute),
                100_000,
            ))),
            conn_ids: Arc::new(AtomicU64::new(1)),
            config: Arc::new(config),
        }
    }

    /// Applies account changes to this running server.
    pub fn accounts(&self) -> AccountWatch {
        AccountWatch {
            store: self.store.clone(),
            auth: self.auth.clone(),
            hub: self.hub.clone(),
            rules: self.rules.clone(),
        }
    }

    /// An agent's own status change, within `websocket.status_changes_per_minute`.
    pub fn status_change_allowed(&self, agent: UserId) -> Result<(), ApiError> {
        let now = Timestamp::now().as_millisecond();
        self.status_limits
            .lock()
            .expect("status limits lock")
            .take(&agent, now)
            .map_err(|wait| ApiError::rate_limited("too many status changes; wait a moment before the next", wait))
    }

    pub fn next_conn_id(&self) -> ConnId {
        self.conn_ids.fetch_add(1, Ordering::Relaxed)
    }
}
