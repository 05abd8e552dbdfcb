//! The shell around the live figures (`figures`): the hub sends every floor
//! event here as it happens; one task folds them in and publishes the
//! wallboard's document, whole for a newcomer and as a merge patch for
//! everyone already watching.
//!
//! Publishing is decoupled from the dispatcher: the hub only sends on an
//! unbounded channel, and a burst of events becomes one patch (at most one
//! every [`MIN_GAP`]). Patches go out on a broadcast channel, serialised
//! once for every watcher; a watcher that falls more than
//! [`PATCH_BACKLOG`] patches behind is told so by the channel and is
//! disconnected (`ws::wallboard`), so a slow screen never holds up the
//! others or the floor.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::domain::{ReturnReason, UserId};
use crate::live::LiveHealth;
use crate::metrics::{Metrics, OfferOutcome};
use crate::rules::calendar::Calendar;
use crate::rules::dispatch::{Dispatcher, Effect, Record};
use crate::rules::figures::wire::{self, Extras};
use crate::rules::figures::{FigureRules, Figures, FloorEvent, FloorFigures, SeedTask};
use crate::rules::followup::Checkpoints;
use crate::rules::planning::PlanningBoard;
use crate::rules::reports::lists::ListRules;
use crate::rules::reports::satisfaction::SatisfactionRate;
use crate::runtime::merchant_lists;
use crate::runtime::planning::{PlanningFeed, PlanningTx};
use crate::store::{Store, StoreError};

/// The least time between two patches: events closer together than this
/// go out in one.
pub const MIN_GAP: Duration = Duration::from_millis(20);
/// Patches a watcher may fall behind before it is disconnected.
pub const PATCH_BACKLOG: usize = 256;
/// How often the clock alone is looked at (rolling windows, a new day),
/// and how often the missed-call backlog is read from the store.
const TICK: Duration = Duration::from_secs(1);
const EXTRAS_EVERY: u32 = 5;

enum Input {
    Event(FloorEvent),
    Named(UserId, String),
}

/// Where the hub sends floor events. Sending never waits.
#[derive(Clone)]
pub struct FloorTx(mpsc::UnboundedSender<Input>, Arc<Metrics>, Option<PlanningTx>);

impl FloorTx {
    pub fn event(&self, event: FloorEvent) {
        if let Some(planning) = &self.2 {
            planning.event(event.clone());
        }
        let _ = self.0.send(Input::Event(event));
    }

    /// The same events go to the planner too.
    pub fn with_planning(mut self, planning: PlanningTx) -> FloorTx {
        self.2 = Some(planning);
        self
    }

    /// An agent's display name, for the board.
    pub fn named(&self, agent: UserId, name: String) {
        let _ = self.0.send(Input::Named(agent, name));
    }

    /// The floor events among a batch of dispatcher effects; offers that
    /// ended are counted for `/metrics` on the way.
    pub fn effects(&self, effects: &[Effect]) {
        for e in effects {
            let Effect::Record(r) = e else { continue };
            match r {
                Record::TaskAssigned { .. } => self.1.offer_ended(OfferOutcome::Accepted),
                Record::TaskReturned { event: ReturnReason::Declined, .. } => {
                    self.1.offer_ended(OfferOutcome::Declined)
                }
                Record::TaskReturned { event: ReturnReason::OfferTimeout, .. } => {
                    self.1.offer_ended(OfferOutcome::TimedOut)
                }
                _ => {}
            }
            self.event(FloorEvent::of(r));
        }
    }
}

/// One published version of the board.
pub struct Latest {
    pub seq: u64,
    /// When it was made (ms since the epoch).
    pub at: i64,
    /// The wallboard's document (`figures::wire::board`), shared with the
    /// publisher, which diffs the next one against it.
    pub board: Arc<Value>,
    pub figures: FloorFigures,
}

impl Latest {
    /// `{"type": "figures", "seq", "at", "board"}`, for a newcomer: written
    /// when one arrives rather than at every publication.
    pub fn full(&self) -> String {
        #[derive(serde::Serialize)]
        struct Full<'a> {
            r#type: &'static str,
            seq: u64,
            at: i64,
            board: &'a Value,
        }
        let full = Full { r#type: "figures", seq: self.seq, at: self.at, board: &self.board };
        serde_json::to_string(&full).expect("a JSON document serialises")
    }
}

/// A patch, ready to send: `{"type": "patch", "seq", "at", "patch"}`.
pub struct Patch {
    pub seq: u64,
    pub text: Arc<str>,
}

/// Followed by wallboard sessions and `/metrics`.
#[derive(Clone)]
pub struct FloorFeed {
    latest: watch::Receiver<Arc<Latest>>,
    patches: broadcast::Sender<Arc<Patch>>,
}

impl FloorFeed {
    /// The board now and every patch after it (patches with a `seq` at or
    /// below the board's are already in it).
    pub fn subscribe(&self) -> (Arc<Latest>, broadcast::Receiver<Arc<Patch>>) {
        let patches = self.patches.subscribe();
        (self.latest.borrow().clone(), patches)
    }

    pub fn latest(&self) -> Arc<Latest> {
        self.latest.borrow().clone()
    }

    /// Whether the publisher has stopped.
    pub fn is_closed(&self) -> bool {
        self.latest.has_changed().is_err()
    }
}

/// What the feed reads besides events.
pub struct Sources {
    pub store: Store,
    pub calendar: Arc<Calendar>,
    /// The configured queues, each to be covered in working hours.
    pub queues: Vec<String>,
    pub checkpoints: Arc<Checkpoints>,
    pub live: Option<Arc<LiveHealth>>,
    pub metrics: Arc<Metrics>,
    /// `[figures] satisfaction_target`.
    pub satisfaction_target: f64,
    /// `[cases]`: the monthly lists' lines.
    pub lists: ListRules,
    /// Each queue's estimated wait and the day's staffing.
    pub planning: Option<PlanningFeed>,
}

impl Sources {
    /// Today's satisfaction calls (since local midnight) against the target.
    async fn satisfaction(&self, now: Timestamp) -> SatisfactionRate {
        let today = now.to_zoned(self.calendar.time_zone().clone()).date();
        let midnight = self.calendar.at(today, jiff::civil::Time::midnight());
        // Up to and including this millisecond.
        let to = now.checked_add(jiff::SignedDuration::from_millis(1)).unwrap_or(now);
        match self.store.satisfaction_answers(midnight, to).await {
            Ok(rows) => SatisfactionRate::of(&rows, self.satisfaction_target),
            Err(e) => {
                tracing::warn!(error = %e, "reading today's satisfaction answers for the wallboard failed");
                SatisfactionRate::default()
            }
        }
    }

    /// While the centre is open, each queue with the agents who serve it
    /// (their skills); nothing when it is closed.
    async fn coverage(&self, now: Timestamp) -> BTreeMap<String, Vec<UserId>> {
        if !self.calendar.is_open(now) {
            return BTreeMap::new();
        }
        let users = self.store.users().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading the agents for the wallboard's coverage failed");
            Vec::new()
        });
        let mut coverage: BTreeMap<String, Vec<UserId>> = self.queues.iter().map(|q| (q.clone(), Vec::new())).collect();
        for user in users.iter().filter(|u| u.routable()) {
            for skill in &user.skills {
                if let Some(members) = coverage.get_mut(skill) {
                    members.push(user.id);
                }
            }
        }
        coverage
    }

    /// The planner's latest queues and staffing, for the board.
    fn planning_board(&self) -> PlanningBoard {
        let Some(feed) = &self.planning else { return PlanningBoard::default() };
        let latest = feed.latest();
        PlanningBoard { queues: latest.queues.clone(), staffing: latest.staffing.clone() }
    }

    async fn extras(&self, now: Timestamp) -> Extras {
        let missed_backlog = match self.store.missed_backlog().await {
            Ok(b) => b.len() as u32,
            Err(e) => {
                tracing::warn!(error = %e, "reading the missed-call backlog for the wallboard failed");
                0
            }
        };
        let mut escalations = self.store.escalations(now).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading the escalations for the wallboard failed");
            Default::default()
        });
        escalations.merchant_lists =
            match merchant_lists::unconfirmed(&self.store, &self.calendar, self.lists, now).await {
                Ok(month) => u32::from(month.is_some()),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the merchant lists for the wallboard failed");
                    0
                }
            };
        Extras {
            planning: self.planning_board(),
            coverage: self.coverage(now).await,
            satisfaction: self.satisfaction(now).await,
            escalations,
            missed_backlog,
            next_checkpoint_ms: self
                .calendar
                .next_time_on_working_day(now, self.checkpoints.times())
                .map(|t| t.as_millisecond()),
            redis: match &self.live {
                None => "not_configured",
                Some(h) if h.is_degraded() => "unreachable",
                Some(_) => "ok",
            },
        }
    }
}

/// Builds the figures a node starts with: the day's stored events, then
/// the dispatcher's live state (what recovery made of it).
pub async fn starting_figures(
    store: &Store,
    rules: FigureRules,
    calendar: &Calendar,
    dispatcher: &Dispatcher,
    now: Timestamp,
) -> Result<(Figures, HashMap<UserId, String>), StoreError> {
    let day_start = calendar.start_of_day(now);
    let mut figures = Figures::new(rules, day_start);
    let mut names = HashMap::new();
    for agent in dispatcher.agents_view() {
        let event = FloorEvent::Agent { agent: agent.id, status: agent.status, at: agent.status_since };
        figures.observe(&event, day_start);
        names.insert(agent.id, agent.name);
    }
    for event in store.floor_events_since(day_start).await? {
        figures.observe(&event, day_start);
    }
    let live = dispatcher.live_cards().into_iter().map(|(card, live, enqueued_at)| SeedTask {
        task: card.id,
        kind: card.kind,
        queue: card.queue.clone(),
        deadline: card.deadline,
        enqueued_at,
        status: live.status,
        agent: live.agent,
    });
    figures.seed(live.collect());
    Ok((figures, names))
}

/// Starts the feed; it runs until `shutdown` fires.
pub fn spawn(
    figures: Figures,
    names: HashMap<UserId, String>,
    sources: Sources,
    shutdown: CancellationToken,
) -> (FloorTx, FloorFeed, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (patches, _) = broadcast::channel(PATCH_BACKLOG);
    let mut publisher =
        Publisher { figures, names, sources, extras: Extras::default(), doc: Arc::new(Value::Null), seq: 0 };
    let now = Timestamp::now();
    let first = publisher.render(now).expect("the first board differs from nothing");
    let (latest_tx, latest) = watch::channel(Arc::new(first.0));
    let feed = FloorFeed { latest, patches: patches.clone() };
    let metrics = publisher.sources.metrics.clone();
    let task = tokio::spawn(publisher.run(rx, latest_tx, patches, shutdown));
    (FloorTx(tx, metrics, None), feed, task)
}

struct Publisher {
    figures: Figures,
    names: HashMap<UserId, String>,
    sources: Sources,
    extras: Extras,
    doc: Arc<Value>,
    seq: u64,
}

impl Publisher {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Input>,
        latest: watch::Sender<Arc<Latest>>,
        patches: broadcast::Sender<Arc<Patch>>,
        shutdown: CancellationToken,
    ) {
        self.extras = self.sources.extras(Timestamp::now()).await;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks = 0u32;
        let mut dirty = true;
        let mut last_publish = tokio::time::Instant::now();
        loop {
            let gap_over = tokio::time::sleep_until(last_publish + MIN_GAP);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = gap_over, if dirty => {
                    dirty = false;
                    last_publish = tokio::time::Instant::now();
                    self.publish(&latest, &patches);
                }
                input = rx.recv() => {
                    let Some(input) = input else { break };
                    self.take(input);
                    while let Ok(more) = rx.try_recv() {
                        self.take(more);
                    }
                    dirty = true;
                }
                _ = tick.tick() => {
                    ticks += 1;
                    if ticks.is_multiple_of(EXTRAS_EVERY) {
                        self.extras = self.sources.extras(Timestamp::now()).await;
                    }
                    self.extras.planning = self.sources.planning_board();
                    dirty = true;
                }
            }
        }
    }

    fn take(&mut self, input: Input) {
        match input {
            Input::Event(event) => {
                if let FloorEvent::Answered { task, at, .. } = &event
                    && let Some(since) = self.figures.waiting_since(*task)
                {
                    let waited = at.duration_since(since).unsigned_abs();
                    self.sources.metrics.answered_after(waited);
                }
                let day_start = self.sources.calendar.start_of_day(event.at());
                self.figures.observe(&event, day_start);
            }
            Input::Named(agent, name) => {
                self.names.insert(agent, name);
            }
        }
    }

    fn publish(&mut self, latest: &watch::Sender<Arc<Latest>>, patches: &broadcast::Sender<Arc<Patch>>) {
        if let Some((full, patch)) = self.render(Timestamp::now()) {
            latest.send_replace(Arc::new(full));
            // No receivers is fine: nobody watches.
            let _ = patches.send(Arc::new(patch));
        }
    }

    /// The board at `now` and the patch to it, when it changed.
    fn render(&mut self, now: Timestamp) -> Option<(Latest, Patch)> {
        let day_start = self.sources.calendar.start_of_day(now);
        let figures = self.figures.snapshot(now, day_start);
        let doc = wire::board(&figures, &self.names, &self.extras);
        let patch = wire::merge_patch(&self.doc, &doc)?;
        self.seq += 1;
        let (seq, at) = (self.seq, now.as_millisecond());
        let patch = json!({"type": "patch", "seq": seq, "at": at, "patch": patch}).to_string();
        self.doc = Arc::new(doc);
        Some((Latest { seq, at, board: self.doc.clone(), figures }, Patch { seq, text: patch.into() }))
    }
}
