//! The shell around planning (`rules::planning`): one task that folds the
//! floor's events into what it measures, and four times a second publishes each
//! waiting task's position and estimated wait, each queue's wait for a
//! newcomer, and the day's staffing plan.
//!
//! The floor is read from the hub as a plain view (a query, as the REST
//! reads do); the estimate and the Erlang formulas run here, off the hub,
//! so a long queue never holds up a decision. Readers (`GET
//! /api/v1/tasks/{id}`, the wallboard, the SIP connector's `182 Queued`)
//! take the latest published version and never wait.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::domain::{TaskId, TaskKind, UserId};
use crate::rules::calendar::Calendar;
use crate::rules::figures::FloorEvent;
use crate::rules::planning::estimate::{self, Estimate, WaitEstimate, whole_secs};
use crate::rules::planning::floor::{self, ASSUMED_PATIENCE_SECS, Measurements, UNMEASURED_HANDLING_SECS};
use crate::rules::planning::measure::FloorMeasure;
use crate::rules::planning::staffing::{self, Targets};
use crate::rules::planning::{QueueWait, StaffingBoard};
use crate::rules::shifts::WeeklySchedule;
use crate::runtime::hub::Hub;
use crate::store::Store;

/// How often the estimates are made again, at the most: a caller's first
/// `182 Queued` reads the latest, and on a busy floor a second-old figure
/// has already moved. A long queue takes longer to estimate: the gap is at
/// least twenty times the last estimate's cost, so planning never takes
/// more than a twentieth of a core.
const TICK: Duration = Duration::from_millis(250);
/// The longest gap between two estimates.
const MAX_TICK: Duration = Duration::from_secs(2);
/// How often the schedules are read again (a changed shift shows within).
const SCHEDULES_EVERY: Duration = Duration::from_secs(60);
/// Past weeks of the same weekday the forecast averages.
const PAST_WEEKS: i64 = 4;

/// `[planning]`, as the publisher needs it.
#[derive(Clone, Copy, Debug)]
pub struct PlanningSettings {
    pub interval_minutes: u32,
    pub break_minutes: u32,
    pub targets_service_level_secs: f64,
    pub service_level_share: f64,
    pub max_abandon_share: f64,
    pub wind_down: SignedDuration,
}

impl PlanningSettings {
    /// What the staffing rules target, per interval.
    fn targets(&self) -> Targets {
        Targets {
            interval_secs: f64::from(self.interval_minutes) * 60.0,
            service_level_secs: self.targets_service_level_secs,
            service_level_share: self.service_level_share,
            max_abandon_share: self.max_abandon_share,
        }
    }

    fn interval_secs(&self) -> i64 {
        i64::from(self.interval_minutes) * 60
    }

    fn intervals(&self) -> usize {
        (86_400 / self.interval_secs()) as usize
    }

    pub fn of(
        planning: &crate::rules::planning::PlanningRules,
        figures: &crate::rules::figures::FigureRules,
        wind_down_minutes: u32,
    ) -> PlanningSettings {
        PlanningSettings {
            interval_minutes: planning.interval_minutes,
            break_minutes: planning.break_minutes,
            targets_service_level_secs: f64::from(figures.service_level_secs),
            service_level_share: figures.service_level_target,
            max_abandon_share: figures.abandon_target,
            wind_down: SignedDuration::from_mins(i64::from(wind_down_minutes)),
        }
    }
}

/// One published version.
#[derive(Clone, Debug, Default)]
pub struct Planning {
    pub at: Option<Timestamp>,
    pub tasks: HashMap<TaskId, Estimate>,
    pub queues: BTreeMap<String, QueueWait>,
    pub staffing: StaffingBoard,
}

/// What readers follow; cloning is cheap.
#[derive(Clone)]
pub struct PlanningFeed(watch::Receiver<Arc<Planning>>);

impl PlanningFeed {
    pub fn latest(&self) -> Arc<Planning> {
        self.0.borrow().clone()
    }

    /// A waiting task's position and wait, as last estimated (up to a
    /// quarter second ago, a little more on a long queue), less the time
    /// since: a caller told a figure counts from when they hear it.
    pub fn task(&self, id: TaskId) -> Option<WaitEstimate> {
        let latest = self.0.borrow();
        let e = *latest.tasks.get(&id)?;
        let wait = e.wait_secs - age_secs(latest.at);
        Some(WaitEstimate { position: e.position, estimated_wait_secs: whole_secs(wait) })
    }

    /// A queue's waiting work and a newcomer's wait, aged like [`Self::task`].
    pub fn queue(&self, name: &str) -> Option<(QueueWait, Option<Timestamp>)> {
        let latest = self.0.borrow();
        let mut q = latest.queues.get(name)?.clone();
        let age = age_secs(latest.at);
        q.estimated_wait_secs = q.estimated_wait_secs.map(|w| (f64::from(w) - age).max(0.0).round() as u32);
        Some((q, latest.at))
    }
}

/// Seconds since an estimate made `at`.
fn age_secs(at: Option<Timestamp>) -> f64 {
    at.map_or(0.0, |at| Timestamp::now().duration_since(at).as_secs_f64().max(0.0))
}

/// A feed that never publishes.
impl Default for PlanningFeed {
    fn default() -> PlanningFeed {
        PlanningFeed(watch::channel(Arc::new(Planning::default())).1)
    }
}

/// Where the hub's floor events reach the planner. Sending never waits.
#[derive(Clone)]
pub struct PlanningTx(mpsc::UnboundedSender<FloorEvent>);

impl PlanningTx {
    pub fn event(&self, event: FloorEvent) {
        let _ = self.0.send(event);
    }
}

/// The planner's input and output, made before the hub that feeds it and
/// the wallboard that reads it.
pub struct PlanningRx(mpsc::UnboundedReceiver<FloorEvent>, watch::Sender<Arc<Planning>>);

pub fn channel() -> (PlanningTx, PlanningRx, PlanningFeed) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (latest_tx, latest) = watch::channel(Arc::new(Planning::default()));
    (PlanningTx(tx), PlanningRx(rx, latest_tx), PlanningFeed(latest))
}

/// Starts the planner; it runs until `shutdown` fires.
pub fn spawn(
    rx: PlanningRx,
    store: Store,
    hub: Hub,
    calendar: Arc<Calendar>,
    settings: PlanningSettings,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let now = Timestamp::now();
    let planner = Planner {
        store,
        hub,
        measure: FloorMeasure::new(calendar.start_of_day(now), settings.interval_secs()),
        calendar,
        settings,
        past: Vec::new(),
        schedules: Vec::new(),
    };
    tokio::spawn(planner.run(rx.0, rx.1, shutdown))
}

struct Planner {
    store: Store,
    hub: Hub,
    calendar: Arc<Calendar>,
    settings: PlanningSettings,
    measure: FloorMeasure,
    /// The same weekday's arrivals per interval in past weeks.
    past: Vec<Vec<u32>>,
    schedules: Vec<(UserId, WeeklySchedule)>,
}

impl Planner {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<FloorEvent>,
        latest: watch::Sender<Arc<Planning>>,
        shutdown: CancellationToken,
    ) {
        self.start_day().await;
        let mut next = tokio::time::Instant::now();
        let mut schedules_read = tokio::time::Instant::now();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                event = rx.recv() => {
                    let Some(event) = event else { break };
                    self.measure.observe(&event);
                    while let Ok(more) = rx.try_recv() {
                        self.measure.observe(&more);
                    }
                }
                _ = tokio::time::sleep_until(next) => {
                    let started = tokio::time::Instant::now();
                    let now = Timestamp::now();
                    if self.calendar.start_of_day(now) != self.measure.day_start() {
                        self.start_day().await;
                    } else if started.duration_since(schedules_read) >= SCHEDULES_EVERY {
                        self.schedules = read_schedules(&self.store).await;
                        schedules_read = started;
                    }
                    match self.plan(now).await {
                        Some(planning) => { latest.send_replace(Arc::new(planning)); }
                        None => break,
                    }
                    next = started + (started.elapsed() * 20).clamp(TICK, MAX_TICK);
                }
            }
        }
    }

    /// Today's events so far, the past weeks' same weekday, the schedules.
    async fn start_day(&mut self) {
        let now = Timestamp::now();
        let day_start = self.calendar.start_of_day(now);
        self.measure.new_day(day_start);
        match self.store.floor_events_since(day_start).await {
            Ok(events) => events.iter().for_each(|e| self.measure.observe(e)),
            Err(e) => tracing::warn!(error = %e, "reading today's floor events for planning failed"),
        }
        self.past = past_weeks(&self.store, &self.calendar, day_start, self.settings.interval_secs()).await;
        self.schedules = read_schedules(&self.store).await;
    }

    /// The estimates and the staffing at `now`; `None` once the hub stopped.
    async fn plan(&self, now: Timestamp) -> Option<Planning> {
        let mut m = Measurements {
            handling: self.measure.handling(),
            leaves_at: HashMap::new(),
            patience_secs: staffing::mean_patience_secs(self.measure.intervals()).unwrap_or(ASSUMED_PATIENCE_SECS),
            break_secs: f64::from(self.settings.break_minutes) * 60.0,
        };
        for (agent, schedule) in &self.schedules {
            if let Some((_, end)) = schedule.shift_at(&self.calendar, now) {
                m.leaves_at.insert(*agent, end - self.settings.wind_down);
            }
        }
        let m = Arc::new(m);
        let view = {
            let m = m.clone();
            self.hub.query(move |d, now| {
                let view = floor::floor_view(d, now, &m);
                let queues = d.rules().queues.clone();
                let newcomers: Vec<_> = (0..queues.len()).map(|q| floor::newcomer(d, q as u8, now, &m)).collect();
                let wrap = d.rules().wrap_up.as_secs_f64();
                (view, queues, newcomers, wrap)
            })
        };
        let (view, queue_names, newcomers, wrap) = view.await.ok()?;
        let (agents, tasks, at_work) = (view.agents, view.tasks, view.on_line);
        let answer_secs = self.measure.answer_secs();
        let estimates = estimate::estimate(&agents, &tasks, answer_secs);
        let mut queues: BTreeMap<String, QueueWait> =
            queue_names.iter().map(|q| (q.clone(), QueueWait::default())).collect();
        for t in &tasks {
            if let Some(q) = queue_names.get(usize::from(t.queue)) {
                queues.entry(q.clone()).or_default().waiting += 1;
            }
        }
        for (name, newcomer) in queue_names.iter().zip(newcomers) {
            let Some(newcomer) = newcomer else { continue };
            let mut with = tasks.clone();
            with.push(newcomer);
            let wait = estimate::estimate(&agents, &with, answer_secs).into_iter().find(|e| e.task == newcomer.id);
            queues.entry(name.clone()).or_default().estimated_wait_secs = wait.and_then(|e| whole_secs(e.wait_secs));
        }
        let staffing = self.staffing(now, at_work, wrap, m.patience_secs);
        Some(Planning { at: Some(now), tasks: estimates.into_iter().map(|e| (e.task, e)).collect(), queues, staffing })
    }

    fn staffing(&self, now: Timestamp, at_work: u32, wrap: f64, patience_secs: f64) -> StaffingBoard {
        let s = &self.settings;
        let current = self.measure.interval_of(now).unwrap_or(0);
        let scheduled = scheduled(&self.schedules, &self.calendar, self.measure.day_start(), s);
        let plan = staffing::plan_day(
            self.measure.intervals(),
            current,
            &self.past,
            &scheduled,
            call_handling(&self.measure, wrap),
            patience_secs,
            &s.targets(),
        );
        StaffingBoard { interval_minutes: s.interval_minutes, current, at_work, intervals: plan }
    }
}

/// A hotline call's measured talk time and wrap-up (the assumed length
/// until a call has been measured).
fn call_handling(measure: &FloorMeasure, wrap: f64) -> f64 {
    measure.mean_handling(TaskKind::InboundCall).map_or(UNMEASURED_HANDLING_SECS, |h| h + wrap)
}

async fn read_schedules(store: &Store) -> Vec<(UserId, WeeklySchedule)> {
    let specs = store.schedules().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "reading the schedules for planning failed");
        Vec::new()
    });
    specs
        .into_iter()
        .filter_map(|(agent, spec)| Some((agent, WeeklySchedule::parse(&spec, &Default::default()).ok()?)))
        .collect()
}

/// The same weekday's hotline arrivals per interval in each of the past
/// weeks that had any.
async fn past_weeks(store: &Store, calendar: &Calendar, day_start: Timestamp, interval_secs: i64) -> Vec<Vec<u32>> {
    let mut past = Vec::new();
    for week in 1..=PAST_WEEKS {
        // Midday of that day, so a change of clocks cannot shift the day.
        let start = calendar.start_of_day(day_start - SignedDuration::from_hours(24 * 7 * week - 12));
        let end = start + SignedDuration::from_hours(24);
        match store.floor_events_between(start, Some(end)).await {
            Ok(events) => {
                let mut day = FloorMeasure::new(start, interval_secs);
                events.iter().for_each(|e| day.observe(e));
                let arrivals: Vec<u32> = day.intervals().iter().map(|m| m.arrivals).collect();
                if !arrivals.is_empty() {
                    past.push(arrivals);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading a past week's floor events for the forecast failed"),
        }
    }
    past
}

/// Agents whose shift covers each interval's middle.
fn scheduled(
    schedules: &[(UserId, WeeklySchedule)],
    calendar: &Calendar,
    day_start: Timestamp,
    settings: &PlanningSettings,
) -> Vec<u32> {
    let interval_secs = settings.interval_secs();
    (0..settings.intervals())
        .map(|i| {
            let middle = day_start + SignedDuration::from_secs((i as i64 * 2 + 1) * interval_secs / 2);
            schedules.iter().filter(|(_, w)| w.shift_at(calendar, middle).is_some()).count() as u32
        })
        .collect()
}

/// A day looked back on for the daily report: forecast against actual
/// arrivals, needed against scheduled and present agents, per interval.
/// Schedules are those stored now (a changed schedule changes the past
/// day's "scheduled").
pub async fn review(
    store: &Store,
    calendar: &Calendar,
    settings: &PlanningSettings,
    wrap_up_secs: f64,
    date: jiff::civil::Date,
) -> Result<Vec<staffing::IntervalReview>, crate::store::StoreError> {
    let interval_secs = settings.interval_secs();
    let day_start = calendar.start_of_day(calendar.at(date, jiff::civil::Time::constant(12, 0, 0, 0)));
    let end = day_start + SignedDuration::from_hours(24);
    let mut day = FloorMeasure::new(day_start, interval_secs);
    store.floor_events_between(day_start, Some(end)).await?.iter().for_each(|e| day.observe(e));
    let past = past_weeks(store, calendar, day_start, interval_secs).await;
    let scheduled = scheduled(&read_schedules(store).await, calendar, day_start, settings);
    // A day back, for whoever had not changed status since.
    let log = store.agent_statuses_between(day_start - SignedDuration::from_hours(24), end).await?;
    let at_work = staffing::on_line_per_interval(&log, day_start, interval_secs, settings.intervals());
    let targets = settings.targets();
    let handling = call_handling(&day, wrap_up_secs);
    let patience = staffing::mean_patience_secs(day.intervals()).unwrap_or(ASSUMED_PATIENCE_SECS);
    Ok(staffing::review_day(day.intervals(), &past, &scheduled, &at_work, handling, patience, &targets))
}
