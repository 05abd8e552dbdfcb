//! Scenarios on a virtual clock, and property tests of the invariants.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::domain::{AgentStatus, BreakReason, Channel, Outcome, Phone, TaskId, TaskKind, TaskStatus, UserId};

/// A dispatcher plus a virtual clock and the effects seen so far.
struct Sim {
    d: Dispatcher,
    now: Timestamp,
    effects: Vec<Effect>,
    agents: Vec<UserId>,
}

/// `["hotline:4", "callbacks"]` as the skills and the levels above 1.
fn skills_with_levels<'a>(skills: &[&'a str]) -> (Vec<&'a str>, Vec<(&'a str, u8)>) {
    let names = skills.iter().map(|s| s.split(':').next().unwrap_or(s)).collect();
    let levels = skills
        .iter()
        .filter_map(|s| s.split_once(':'))
        .map(|(skill, level)| (skill, level.parse().expect("a level")))
        .collect();
    (names, levels)
}

impl Sim {
    fn new() -> Self {
        Self::with_rules(Rules::manual_defaults())
    }

    fn with_rules(rules: Rules) -> Self {
        Sim {
            d: Dispatcher::new(rules),
            now: "2026-03-02T01:00:00Z".parse().unwrap(),
            effects: Vec::new(),
            agents: Vec::new(),
        }
    }

    fn cmd(&mut self, cmd: Command) -> Result<Reply, DispatchError> {
        let r = self.d.handle(self.now, cmd, &mut self.effects);
        self.d.check_invariants(self.now).unwrap();
        r
    }

    fn ok(&mut self, cmd: Command) {
        self.cmd(cmd).unwrap();
    }

    fn advance(&mut self, d: SignedDuration) {
        let target = self.now + d;
        while let Some(at) = self.d.next_wakeup().filter(|&at| at <= target) {
            self.now = self.now.max(at);
            self.d.tick(self.now, &mut self.effects);
            self.d.check_invariants(self.now).unwrap();
        }
        self.now = target;
        self.d.tick(self.now, &mut self.effects);
        self.d.check_invariants(self.now).unwrap();
    }

    /// Adds a connected, available agent serving the given queues, each
    /// with a level after a colon where above 1 (`hotline:4`).
    fn agent(&mut self, name: &str, queues: &[&str]) -> UserId {
        let id = UserId::new();
        let (names, levels) = skills_with_levels(queues);
        let set = self.d.rules().queue_set(names.iter().copied());
        self.ok(Command::UpsertAgent(AgentProfile {
            id,
            name: name.into(),
            queues: set,
            levels: self.d.rules().levels(levels),
            voice_capacity: 1,
            back_office_capacity: 2,
            sip_uri: None,
        }));
        self.ok(Command::Connect { agent: id, winding_down: false });
        self.agents.push(id);
        id
    }

    fn task(&mut self, kind: TaskKind, deadline: Option<Timestamp>) -> TaskId {
        let plan = self.d.rules().plan(kind, self.now, None, deadline);
        let card = Arc::new(self.card(kind, &plan));
        let id = card.id;
        self.ok(Command::AddTask(NewTask { card, plan, enqueued_at: self.now, held_by: None }));
        id
    }

    /// A first attempt's card for `kind` as planned now; tests change what they need.
    fn card(&self, kind: TaskKind, plan: &TaskPlan) -> TaskCard {
        TaskCard {
            id: TaskId::new(),
            kind,
            customer_phone: Phone::parse("13800138000").unwrap(),
            reason: None,
            deadline: plan.deadline,
            priority: plan.priority,
            queue: self.d.rules().queue_name(plan.queue).to_owned(),
            created_at: self.now,
            attempt: 1,
            attempts_allowed: 2,
            first_tried_at: None,
            last_outcome: None,
            handover_note: None,
            reserved: None,
            avoid_agent: None,
        }
    }

    /// Takes the effects produced since the last call.
    fn drain(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn offers_to(&mut self, agent: UserId) -> Vec<TaskId> {
        self.drain()
            .into_iter()
            .filter_map(|e| match e {
                Effect::Offer { agent: a, offer } if a == agent => Some(offer.task.id),
                _ => None,
            })
            .collect()
    }

    /// An agent who just finished a call (so is in wrap-up) and whose
    /// console then dropped.
    fn disconnected_in_wrap_up() -> (Sim, UserId) {
        let mut sim = Sim::new();
        let a = sim.agent("a", &["hotline"]);
        let t = sim.task(TaskKind::InboundCall, None);
        sim.ok(Command::Accept { agent: a, task: t });
        sim.ok(Command::Complete { agent: a, task: t, outcome: Outcome::Reached, summary: None });
        sim.ok(Command::Disconnect { agent: a });
        (sim, a)
    }

    fn status(&self, agent: UserId) -> AgentStatus {
        self.d.agent_snapshot(agent).unwrap().status
    }
}

mod coverage;
mod properties;
mod reload;
mod retries;
mod shifts;
mod steps;

fn secs(s: i64) -> SignedDuration {
    SignedDuration::from_secs(s)
}

/// The manual's table of mediums (DOMAIN.md rows 6-9): attended without
/// an order first, then attended and ordered, then registered but absent,
/// then the special-event recommendations, whatever order they came in.
#[test]
fn the_mediums_are_offered_in_the_manuals_order() {
    let mut sim = Sim::new();
    let order = [
        TaskKind::MarketingAttendedNoOrder,
        TaskKind::MarketingAttendedOrdered,
        TaskKind::MarketingNoShow,
        TaskKind::EventRecommendation,
    ];
    let mut ids = std::collections::HashMap::new();
    for kind in order.iter().rev() {
        ids.insert(sim.task(*kind, None), *kind);
        sim.advance(secs(1));
    }
    let agent = sim.agent("li", &["marketing"]);
    let mut served = Vec::new();
    for _ in 0..order.len() {
        let offered = sim.offers_to(agent);
        assert_eq!(offered.len(), 1, "one offer at a time");
        let task = offered[0];
        served.push(ids[&task]);
        sim.ok(Command::Accept { agent, task });
        sim.ok(Command::Complete { agent, task, outcome: Outcome::Reached, summary: None });
        sim.advance(secs(30));
    }
    assert_eq!(served, order);
}

#[test]
fn fifty_tasks_are_drained_by_five_agents_in_rule_order() {
    let mut sim = Sim::new();
    let all_queues = ["hotline", "callbacks", "marketing", "travel", "complaints"];
    // Fifty tasks of mixed kinds and deadlines, created one second apart.
    let kinds = [
        TaskKind::CommunityOutreach,
        TaskKind::MarketingNoShow,
        TaskKind::NewSignupCallback,
        TaskKind::MarketingAttendedNoOrder,
        TaskKind::InboundCall,
        TaskKind::ReturningSignupCallback,
        TaskKind::MissedCallCallback,
        TaskKind::CarDispatch,
        TaskKind::EventRecommendation,
        TaskKind::ComplaintFollowUp,
    ];
    let mut created = Vec::new();
    for i in 0..50 {
        let kind = kinds[(i * 7) % kinds.len()];
        // Every third task gets an explicit deadline, some sooner than others.
        let deadline = (i % 3 == 0).then(|| sim.now + secs(3600 - (i as i64) * 50));
        let plan = sim.d.rules().plan(kind, sim.now, None, deadline);
        let id = sim.task(kind, deadline);
        // The rule, restated independently: priority (higher first), then
        // deadline (none last), then enqueue time.
        let key =
            (255 - plan.priority, plan.deadline.map_or(i64::MAX, |d| d.as_millisecond()), sim.now.as_millisecond(), i);
        created.push((key, id));
        sim.advance(secs(1));
    }
    created.sort();
    let expected: Vec<TaskId> = created.iter().map(|(_, id)| *id).collect();
    // The expected order follows the stated rule: priority, deadline, enqueue time.
    for pair in created.windows(2) {
        let ((p1, d1, e1, ..), (p2, d2, e2, ..)) = (pair[0].0, pair[1].0);
        assert!(p1 < p2 || (p1 == p2 && (d1 < d2 || (d1 == d2 && e1 <= e2))));
    }

    let agents: Vec<UserId> = (0..5).map(|i| sim.agent(&format!("agent{i}"), &all_queues)).collect();
    let mut served = Vec::new();
    // Agents accept and complete whatever they are offered, round after round.
    while served.len() < 50 {
        let offers: Vec<(UserId, TaskId)> = sim
            .drain()
            .into_iter()
            .filter_map(|e| match e {
                Effect::Offer { agent, offer } => Some((agent, offer.task.id)),
                _ => None,
            })
            .collect();
        assert!(!offers.is_empty(), "dispatcher stalled after {} tasks", served.len());
        for &(agent, task) in &offers {
            served.push(task);
            sim.ok(Command::Accept { agent, task });
        }
        for &(agent, task) in &offers {
            sim.ok(Command::Complete { agent, task, outcome: Outcome::Reached, summary: None });
        }
        sim.advance(secs(30)); // wrap-up ends, the next round is offered
    }
    assert_eq!(served, expected);
    assert_eq!(sim.d.live_task_count(), 0);
    assert!(agents.iter().all(|a| sim.status(*a) == AgentStatus::Available));
}

#[test]
fn longest_idle_agent_gets_the_call() {
    let mut sim = Sim::new();
    let first = sim.agent("first", &["hotline"]);
    sim.advance(secs(10));
    let _second = sim.agent("second", &["hotline"]);
    sim.drain();
    let t = sim.task(TaskKind::InboundCall, None);
    let effects = sim.drain();
    let offer = effects
        .iter()
        .find_map(|e| match e {
            Effect::Offer { agent, offer } => Some((*agent, offer.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(offer.0, first);
    assert_eq!(offer.1.task.id, t);
    assert_eq!(offer.1.why.rule, "longest_idle_agent");
    assert_eq!(offer.1.why.agents_in_queue, 2);
}

#[test]
fn an_agent_without_the_skill_is_passed_over_and_explained() {
    let mut sim = Sim::new();
    let _travel = sim.agent("travel", &["travel"]);
    let hotline = sim.agent("hotline", &["hotline"]);
    sim.drain();
    sim.task(TaskKind::InboundCall, None);
    let effects = sim.drain();
    let Some(Effect::Offer { agent, offer }) = effects.iter().find(|e| matches!(e, Effect::Offer { .. })) else {
        panic!("no offer")
    };
    assert_eq!(*agent, hotline);
    assert_eq!(offer.why.lacking_skill, 1);
}

#[test]
fn an_offer_that_times_out_twice_puts_the_agent_on_break() {
    let mut sim = Sim::new();
    let sleepy = sim.agent("sleepy", &["callbacks"]);
    let t1 = sim.task(TaskKind::NewSignupCallback, None);
    assert_eq!(sim.offers_to(sleepy), vec![t1]);
    sim.advance(secs(15));
    assert_eq!(sim.status(sleepy), AgentStatus::Available);
    assert_eq!(sim.d.agents_view()[0].missed_offers_in_a_row, 1);
    // t1 is kept away from the agent for the cool-down; a new task is offered.
    let t2 = sim.task(TaskKind::NewSignupCallback, None);
    assert_eq!(sim.offers_to(sleepy), vec![t2]);
    sim.advance(secs(15));
    assert_eq!(sim.status(sleepy), AgentStatus::Break(BreakReason::missed_offers()));
    let effects = sim.drain();
    assert!(effects.iter().any(|e| matches!(e, Effect::OfferRescinded { reason: WithdrawReason::Timeout, .. })));
    // Both tasks wait; nothing was lost.
    assert_eq!(sim.d.live_task(t1).unwrap().status, TaskStatus::Waiting);
    assert_eq!(sim.d.live_task(t2).unwrap().status, TaskStatus::Waiting);
    // Back from break once the cool-down is over, the agent is offered work again.
    sim.advance(secs(60));
    sim.ok(Command::SetStatus { agent: sleepy, status: AgentStatus::Available });
    assert_eq!(sim.offers_to(sleepy).len(), 1);
}

#[test]
fn an_earlier_offers_timeout_never_expires_a_later_offer() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["travel"]);
    // Back-office work has no wrap-up, so the next offer follows at once.
    let first = sim.task(TaskKind::InsuranceRegistration, None);
    sim.ok(Command::Accept { agent: a, task: first });
    sim.ok(Command::Complete { agent: a, task: first, outcome: Outcome::Done, summary: None });
    sim.advance(secs(1));
    // The next task reuses the first one's storage; its offer is fresh.
    let second = sim.task(TaskKind::InsuranceRegistration, None);
    sim.drain();
    sim.advance(secs(14)); // the first offer's timeout has passed
    assert_eq!(sim.d.live_task(second).unwrap().status, TaskStatus::Offered);
    assert!(!sim.drain().iter().any(|e| matches!(e, Effect::OfferRescinded { .. })));
    sim.advance(secs(1)); // the second offer's own timeout
    assert_eq!(sim.d.live_task(second).unwrap().status, TaskStatus::Waiting);
}

#[test]
fn a_declined_task_goes_to_the_next_agent_and_keeps_its_place() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["callbacks"]);
    sim.advance(secs(1));
    let b = sim.agent("b", &["callbacks"]);
    sim.ok(Command::SetStatus { agent: b, status: AgentStatus::Break(BreakReason::new("lunch").unwrap()) });
    let first = sim.task(TaskKind::NewSignupCallback, None);
    sim.advance(secs(1));
    let second = sim.task(TaskKind::NewSignupCallback, None);
    assert_eq!(sim.offers_to(a), vec![first]);
    sim.ok(Command::Decline { agent: a, task: first });
    // `a` is not offered the declined task again: it gets the second one.
    assert_eq!(sim.offers_to(a), vec![second]);
    let queue = sim.d.rules().queue_index("callbacks").unwrap();
    assert_eq!(sim.d.waiting_order(queue), vec![first]);
    sim.ok(Command::SetStatus { agent: b, status: AgentStatus::Available });
    assert_eq!(sim.offers_to(b), vec![first]);
}

#[test]
fn a_voice_task_is_followed_by_wrap_up() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["hotline"]);
    let t = sim.task(TaskKind::InboundCall, None);
    sim.ok(Command::Accept { agent: a, task: t });
    assert_eq!(sim.status(a), AgentStatus::Busy);
    sim.drain();
    let next = sim.task(TaskKind::InboundCall, None);
    assert!(sim.offers_to(a).is_empty(), "an agent on a call is offered nothing");
    sim.ok(Command::Complete { agent: a, task: t, outcome: Outcome::Reached, summary: Some("booked".into()) });
    assert_eq!(sim.status(a), AgentStatus::WrapUp);
    assert!(sim.offers_to(a).is_empty());
    sim.advance(secs(29));
    assert_eq!(sim.status(a), AgentStatus::WrapUp);
    sim.advance(secs(1));
    assert_eq!(sim.status(a), AgentStatus::Available);
    assert_eq!(sim.offers_to(a), vec![next]);
}

#[test]
fn a_break_asked_for_during_a_call_starts_after_wrap_up() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["hotline"]);
    let t = sim.task(TaskKind::InboundCall, None);
    sim.ok(Command::Accept { agent: a, task: t });
    let lunch = AgentStatus::Break(BreakReason::new("lunch").unwrap());
    sim.ok(Command::SetStatus { agent: a, status: lunch.clone() });
    assert_eq!(sim.status(a), AgentStatus::Busy);
    sim.ok(Command::Complete { agent: a, task: t, outcome: Outcome::Reached, summary: None });
    sim.advance(secs(30));
    assert_eq!(sim.status(a), lunch);
}

#[test]
fn a_supervisor_can_free_an_agent_stuck_on_a_call() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["hotline"]);
    let t = sim.task(TaskKind::InboundCall, None);
    sim.ok(Command::Accept { agent: a, task: t });
    sim.ok(Command::ForceStatus { agent: a, status: AgentStatus::Offline });
    assert_eq!(sim.status(a), AgentStatus::Offline);
    assert_eq!(sim.d.live_task(t).unwrap().status, TaskStatus::Waiting);
    let b = sim.agent("b", &["hotline"]);
    assert_eq!(sim.offers_to(b), vec![t]);
}

#[test]
fn back_office_work_runs_concurrently_up_to_capacity() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["travel"]);
    let tasks: Vec<TaskId> = (0..3).map(|_| sim.task(TaskKind::InsuranceRegistration, None)).collect();
    assert_eq!(sim.offers_to(a), tasks[..2].to_vec());
    sim.ok(Command::Accept { agent: a, task: tasks[0] });
    assert_eq!(sim.status(a), AgentStatus::Available);
    sim.ok(Command::Complete { agent: a, task: tasks[0], outcome: Outcome::Done, summary: None });
    assert_eq!(sim.offers_to(a), vec![tasks[2]]);
}

#[test]
fn a_reconnect_within_grace_keeps_the_task() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["callbacks"]);
    let t = sim.task(TaskKind::NewSignupCallback, None);
    sim.ok(Command::Accept { agent: a, task: t });
    sim.ok(Command::Disconnect { agent: a });
    sim.advance(secs(59));
    let Reply::Snapshot(snap) = sim.cmd(Command::Connect { agent: a, winding_down: false }).unwrap() else { panic!() };
    assert_eq!(snap.held.iter().map(|c| c.id).collect::<Vec<_>>(), vec![t]);
    sim.advance(secs(120));
    assert_eq!(sim.d.live_task(t).unwrap().status, TaskStatus::Assigned);
}

#[test]
fn wrap_up_ends_even_if_the_console_reconnects_during_it() {
    let (mut sim, a) = Sim::disconnected_in_wrap_up();
    sim.advance(secs(5));
    sim.ok(Command::Connect { agent: a, winding_down: false });
    sim.advance(secs(25));
    assert_eq!(sim.status(a), AgentStatus::Available);
}

#[test]
fn grace_runs_out_even_if_wrap_up_ends_while_disconnected() {
    let (mut sim, a) = Sim::disconnected_in_wrap_up();
    sim.advance(secs(30));
    assert_eq!(sim.status(a), AgentStatus::Available);
    sim.advance(secs(30));
    assert_eq!(sim.status(a), AgentStatus::Offline);
}

#[test]
fn a_held_task_returns_to_the_queue_when_grace_runs_out() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["callbacks"]);
    let t = sim.task(TaskKind::NewSignupCallback, None);
    sim.ok(Command::Accept { agent: a, task: t });
    sim.ok(Command::Disconnect { agent: a });
    sim.advance(secs(60));
    assert_eq!(sim.d.live_task(t).unwrap().status, TaskStatus::Waiting);
    assert_eq!(sim.status(a), AgentStatus::Offline);
    let b = sim.agent("b", &["callbacks"]);
    assert_eq!(sim.offers_to(b), vec![t]);
}

#[test]
fn a_disconnected_agents_offer_goes_to_the_next_agent_at_once() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["callbacks"]);
    sim.advance(secs(1));
    let b = sim.agent("b", &["callbacks"]);
    sim.drain();
    let t = sim.task(TaskKind::NewSignupCallback, None);
    assert_eq!(sim.offers_to(a), vec![t]);
    sim.ok(Command::Disconnect { agent: a });
    assert_eq!(sim.offers_to(b), vec![t]);
}

#[test]
fn wrong_agent_cannot_touch_anothers_offer_and_nothing_changes() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["callbacks"]);
    let b = sim.agent("b", &["hotline"]);
    let t = sim.task(TaskKind::NewSignupCallback, None);
    sim.drain();
    assert_eq!(sim.cmd(Command::Accept { agent: b, task: t }), Err(DispatchError::NotOfferedToYou));
    assert_eq!(sim.cmd(Command::Decline { agent: b, task: t }), Err(DispatchError::NotOfferedToYou));
    let done = Command::Complete { agent: b, task: t, outcome: Outcome::Done, summary: None };
    assert_eq!(sim.cmd(done), Err(DispatchError::NotHeldByYou));
    assert!(sim.drain().is_empty());
    assert_eq!(sim.d.live_task(t).unwrap().agent, Some(a));
    assert_eq!(
        sim.cmd(Command::SetStatus { agent: a, status: AgentStatus::Busy }),
        Err(DispatchError::StatusNotSettable("busy"))
    );
}

#[test]
fn cancelling_an_offered_task_rescinds_it_and_closes_it() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["callbacks"]);
    let t = sim.task(TaskKind::NewSignupCallback, None);
    sim.drain();
    sim.ok(Command::CancelTask { task: t });
    let effects = sim.drain();
    assert!(effects.contains(&Effect::OfferRescinded { agent: a, task: t, reason: WithdrawReason::Cancelled }));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Record(Record::TaskClosed { status: TaskStatus::Cancelled, .. })))
    );
    assert!(sim.d.live_task(t).is_none());
}

#[test]
fn settling_a_held_task_takes_it_back_and_closes_it_done() {
    let mut sim = Sim::new();
    let a = sim.agent("a", &["travel"]);
    let t = sim.task(TaskKind::CarDispatch, None);
    sim.ok(Command::Accept { agent: a, task: t });
    sim.drain();
    let summary = "dispatched in trip 7 with Wang".to_owned();
    sim.ok(Command::Settle { task: t, outcome: Outcome::Done, summary: summary.clone() });
    let effects = sim.drain();
    assert!(effects.contains(&Effect::TaskRevoked { agent: a, task: t, reason: WithdrawReason::Settled }));
    assert!(effects.iter().any(|e| matches!(e, Effect::Record(Record::TaskClosed {
        status: TaskStatus::Completed, outcome: Some(Outcome::Done), summary: Some(s), agent: Some(x), ..
    }) if *s == summary && *x == a)));
    assert!(sim.d.live_task(t).is_none());
    assert_eq!(sim.cmd(Command::Settle { task: t, outcome: Outcome::Done, summary }), Err(DispatchError::UnknownTask));
}

#[test]
fn a_task_recovered_as_held_waits_for_its_agent() {
    let mut sim = Sim::new();
    let a = UserId::new();
    sim.ok(Command::UpsertAgent(AgentProfile {
        id: a,
        name: "a".into(),
        queues: sim.d.rules().queue_set(["callbacks"]),
        levels: Default::default(),
        voice_capacity: 1,
        back_office_capacity: 2,
        sip_uri: None,
    }));
    let id = TaskId::new();
    let plan = sim.d.rules().plan(TaskKind::NewSignupCallback, sim.now, None, None);
    let card = Arc::new(TaskCard { id, ..sim.card(TaskKind::NewSignupCallback, &plan) });
    sim.ok(Command::AddTask(NewTask { card, plan, enqueued_at: sim.now, held_by: Some(a) }));
    assert_eq!(sim.d.live_task(id).unwrap().status, TaskStatus::Assigned);
    let Reply::Snapshot(snap) = sim.cmd(Command::Connect { agent: a, winding_down: false }).unwrap() else { panic!() };
    assert_eq!(snap.held.len(), 1);
}

#[test]
fn a_task_past_its_deadline_is_counted_overdue_and_still_served() {
    let mut sim = Sim::new();
    let soon = sim.now + SignedDuration::from_mins(15);
    let later = sim.now + SignedDuration::from_mins(60);
    let first = sim.task(TaskKind::NewSignupCallback, Some(later));
    let second = sim.task(TaskKind::NewSignupCallback, Some(soon));
    let queue = sim.d.rules().queue_index("callbacks").unwrap();
    let stats = |sim: &Sim| sim.d.queue_stats(sim.now).into_iter().find(|q| q.name == "callbacks").unwrap();
    assert_eq!((stats(&sim).overdue, stats(&sim).nearest_deadline), (0, Some(soon)));
    // The nearest deadline goes first inside one priority.
    assert_eq!(sim.d.waiting_order(queue), vec![second, first]);
    sim.advance(SignedDuration::from_mins(30));
    assert_eq!(stats(&sim).overdue, 1);
    assert_eq!(stats(&sim).waiting, 2, "an overdue task is kept");
    let a = sim.agent("a", &["callbacks"]);
    assert_eq!(sim.offers_to(a), vec![second], "and served first");
    sim.advance(SignedDuration::from_mins(31));
    assert_eq!(stats(&sim).overdue, 2);
}
