//! Proficiency and routing steps on the virtual clock: a task widens from
//! step to step at the configured times, keeps its place in the queue, and
//! the offer's explanation names the step and the levels.

use super::*;
use crate::domain::PassReason;

/// The hotline's calls want level 4 for 20 s, then level 2 for 40 s, then
/// anyone serving the hotline.
fn stepped_rules() -> Rules {
    let mut rules = Rules::manual_defaults();
    let hotline = rules.queue_index("hotline").unwrap();
    rules.kinds[TaskKind::InboundCall.index()].steps = vec![
        RoutingStep { wants: vec![(hotline, 4)], wait: secs(20) },
        RoutingStep { wants: vec![(hotline, 2)], wait: secs(40) },
    ];
    rules
}

fn offer_to(effects: &[Effect], agent: UserId) -> Option<Offer> {
    effects.iter().find_map(|e| match e {
        Effect::Offer { agent: a, offer } if *a == agent => Some(offer.clone()),
        _ => None,
    })
}

fn level(skill: &str, level: u8) -> SkillLevel {
    SkillLevel { skill: skill.into(), level }
}

#[test]
fn a_call_widens_from_level_four_to_level_two_to_anyone_on_time() {
    let mut sim = Sim::with_rules(stepped_rules());
    let novice = sim.agent("novice", &["hotline"]);
    sim.advance(secs(1));
    let able = sim.agent("able", &["hotline:2"]);
    let call = sim.task(TaskKind::InboundCall, None);
    assert!(sim.drain().iter().all(|e| !matches!(e, Effect::Offer { .. })), "nobody has level 4");
    assert_eq!(sim.d.live_task(call).unwrap().status, TaskStatus::Waiting);

    sim.advance(SignedDuration::from_millis(19_999));
    assert!(offer_to(&sim.drain(), able).is_none(), "the first step lasts 20 s");
    sim.advance(SignedDuration::from_millis(1));
    let offer = offer_to(&sim.drain(), able).expect("level 2 is enough from 20 s");
    let step = offer.why.step.clone().expect("the step is named");
    assert_eq!((step.step, step.of), (2, 2));
    assert_eq!(step.wants, [level("hotline", 2)]);
    assert_eq!(step.agent_levels, [level("hotline", 2)]);
    assert_eq!(step.below_level, 1, "the novice is free but below level 2");
    assert_eq!(offer.why.passed_over, [PassedOver { agent: novice, reason: PassReason::BelowStepLevel }]);

    // Declined: only the novice is left, and it is below the step.
    sim.ok(Command::Decline { agent: able, task: call });
    sim.advance(secs(39));
    assert!(offer_to(&sim.drain(), novice).is_none(), "the second step lasts until 60 s");
    sim.advance(secs(1));
    let offer = offer_to(&sim.drain(), novice).expect("anyone serving the hotline from 60 s");
    let step = offer.why.step.expect("past the last step is named too");
    assert_eq!((step.step, step.of), (3, 2));
    assert!(step.wants.is_empty() && step.agent_levels.is_empty());
}

#[test]
fn a_level_five_is_preferred_over_a_level_three_only_while_the_rule_says() {
    let mut rules = Rules::manual_defaults();
    let complaints = rules.queue_index("complaints").unwrap();
    rules.kinds[TaskKind::ComplaintFollowUp.index()].steps =
        vec![RoutingStep { wants: vec![(complaints, 5)], wait: secs(30) }];
    let mut sim = Sim::with_rules(rules);
    let three = sim.agent("three", &["complaints:3", "callbacks:3"]);
    sim.advance(secs(5));
    let five = sim.agent("five", &["complaints:5", "callbacks:5"]);

    // The complaint's step wants level 5: the expert, though the other
    // has been idle longer.
    let complaint = sim.task(TaskKind::ComplaintFollowUp, None);
    let offer = offer_to(&sim.drain(), five).expect("the expert first");
    assert_eq!(offer.task.id, complaint);
    assert_eq!(offer.why.step.unwrap().agent_levels, [level("complaints", 5)]);

    // A callback has no steps: levels do not count, the longest idle does.
    let callback = sim.task(TaskKind::MissedCallCallback, None);
    let offer = offer_to(&sim.drain(), three).expect("longest idle");
    assert_eq!(offer.task.id, callback);
    assert!(offer.why.step.is_none(), "no step to name");

    // With the expert busy, the next complaint waits out its step, then
    // goes to the level 3 agent once it is free.
    sim.ok(Command::Accept { agent: five, task: complaint });
    sim.ok(Command::Decline { agent: three, task: callback });
    let second = sim.task(TaskKind::ComplaintFollowUp, None);
    assert!(offer_to(&sim.drain(), three).is_none());
    sim.advance(secs(30));
    assert_eq!(offer_to(&sim.drain(), three).map(|o| o.task.id), Some(second));
}

#[test]
fn a_task_keeps_its_place_through_its_steps() {
    let mut sim = Sim::with_rules(stepped_rules());
    let first = sim.task(TaskKind::InboundCall, None);
    sim.advance(secs(10));
    let second = sim.task(TaskKind::InboundCall, None);
    assert_eq!(sim.d.waiting_order(sim.d.rules().queue_index("hotline").unwrap()), [first, second]);
    // At 20 s the first call wants level 2 and the second still level 4;
    // a level 4 agent may take either, and takes the first, as queued.
    sim.advance(secs(10));
    let expert = sim.agent("expert", &["hotline:4"]);
    assert_eq!(sim.offers_to(expert), [first]);
}

#[test]
fn a_freed_agent_takes_the_best_task_it_meets_the_step_of() {
    let mut sim = Sim::with_rules(stepped_rules());
    let novice = sim.agent("novice", &["hotline", "callbacks"]);
    sim.ok(Command::SetStatus { agent: novice, status: AgentStatus::Break(BreakReason::new("rest").unwrap()) });
    let call = sim.task(TaskKind::InboundCall, None);
    sim.advance(secs(1));
    let callback = sim.task(TaskKind::MissedCallCallback, None);
    sim.drain();
    // The call (priority 100) is ahead, but wants level 4: the novice, back
    // from the break, is offered the callback.
    sim.ok(Command::SetStatus { agent: novice, status: AgentStatus::Available });
    assert_eq!(sim.offers_to(novice), [callback]);
    assert_eq!(sim.d.live_task(call).unwrap().status, TaskStatus::Waiting);
}

#[test]
fn a_recovered_task_is_at_the_step_its_age_says() {
    let mut sim = Sim::with_rules(stepped_rules());
    let able = sim.agent("able", &["hotline:2"]);
    let plan = sim.d.rules().plan(TaskKind::InboundCall, sim.now, None, None);
    let card = Arc::new(sim.card(TaskKind::InboundCall, &plan));
    let id = card.id;
    // Queued 25 s ago (before a restart): past the first step.
    let enqueued_at = sim.now - secs(25);
    sim.ok(Command::AddTask(NewTask { card, plan, enqueued_at, held_by: None }));
    assert_eq!(sim.offers_to(able), [id]);
}

#[test]
fn a_level_raised_live_counts_at_the_next_decision() {
    let mut sim = Sim::with_rules(stepped_rules());
    let agent = sim.agent("li", &["hotline"]);
    let call = sim.task(TaskKind::InboundCall, None);
    assert!(sim.offers_to(agent).is_empty());
    let rules = sim.d.rules().clone();
    let mut profile = sim.d.agent_profile(agent).unwrap().clone();
    profile.levels = rules.levels([("hotline", 4)]);
    sim.ok(Command::UpsertAgent(profile));
    assert_eq!(sim.offers_to(agent), [call], "no reconnecting needed");
}

#[test]
fn a_preferred_agent_is_waited_for_then_anyone_may_take_it() {
    let mut sim = Sim::new();
    let other = sim.agent("other", &["callbacks"]);
    let own = sim.agent("own", &["callbacks"]);
    sim.ok(Command::SetStatus { agent: own, status: AgentStatus::Break(BreakReason::new("lunch").unwrap()) });
    let stickiness = Stickiness { stick_to_last_agent_minutes: 60, wait_for_preferred_secs: 90 };
    assert!(stickiness.looks_back_to(TaskKind::InboundCall, sim.now).is_none(), "a caller is not called");
    assert_eq!(stickiness.looks_back_to(TaskKind::MissedCallCallback, sim.now), Some(sim.now - secs(3600)));
    let plan = sim.d.rules().plan(TaskKind::MissedCallCallback, sim.now, None, None);
    let card =
        TaskCard { reserved: Some(stickiness.prefer(own, sim.now)), ..sim.card(TaskKind::MissedCallCallback, &plan) };
    let id = card.id;
    sim.ok(Command::AddTask(NewTask { card: Arc::new(card), plan, enqueued_at: sim.now, held_by: None }));
    assert!(sim.offers_to(other).is_empty(), "kept for the customer's own agent");
    sim.advance(secs(60));
    sim.ok(Command::SetStatus { agent: own, status: AgentStatus::Available });
    assert_eq!(sim.offers_to(own), [id], "back within the wait: the own agent gets it");
    sim.ok(Command::Decline { agent: own, task: id });
    sim.advance(secs(30));
    assert_eq!(sim.offers_to(other), [id], "after the wait, anyone");
}

#[test]
fn an_avoided_agent_is_never_offered_the_task() {
    let mut sim = Sim::new();
    let avoided = sim.agent("avoided", &["complaints"]);
    let plan = sim.d.rules().plan(TaskKind::ComplaintFollowUp, sim.now, None, None);
    let card = TaskCard { avoid_agent: Some(avoided), ..sim.card(TaskKind::ComplaintFollowUp, &plan) };
    let id = card.id;
    sim.ok(Command::AddTask(NewTask { card: Arc::new(card), plan, enqueued_at: sim.now, held_by: None }));
    sim.advance(secs(3600));
    assert!(sim.offers_to(avoided).is_empty(), "not even after an hour alone on the floor");
    let other = sim.agent("other", &["complaints"]);
    assert_eq!(sim.offers_to(other), [id], "another agent, as soon as there is one");
    sim.ok(Command::Accept { agent: other, task: id });
    sim.ok(Command::Complete { agent: other, task: id, outcome: Outcome::Reached, summary: None });
    sim.advance(secs(30));
    // A second such task: the avoided agent, idle longest, is passed over
    // by name.
    let card = TaskCard { avoid_agent: Some(avoided), ..sim.card(TaskKind::ComplaintFollowUp, &plan) };
    sim.ok(Command::AddTask(NewTask { card: Arc::new(card), plan, enqueued_at: sim.now, held_by: None }));
    let offer = offer_to(&sim.drain(), other).expect("the other agent again");
    assert_eq!(offer.why.passed_over, [PassedOver { agent: avoided, reason: PassReason::AvoidedAgent }]);
}
