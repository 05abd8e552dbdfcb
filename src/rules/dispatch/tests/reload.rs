//! New rules applied to a running floor (a configuration reload): nothing
//! dropped, priorities kept unless re-evaluated, enqueue order kept.

use super::*;

fn marketing(sim: &Sim) -> QueueIdx {
    sim.d.rules().queue_index("marketing").unwrap()
}

/// Three marketing tasks, a second apart: priorities 51, 50 and 55.
fn three_waiting() -> (Sim, [TaskId; 3]) {
    let mut sim = Sim::new();
    let no_show = sim.task(TaskKind::MarketingNoShow, None);
    sim.advance(secs(1));
    let recommendation = sim.task(TaskKind::EventRecommendation, None);
    sim.advance(secs(1));
    let attended = sim.task(TaskKind::MarketingAttendedNoOrder, None);
    assert_eq!(sim.d.waiting_order(marketing(&sim)), [attended, no_show, recommendation]);
    (sim, [no_show, recommendation, attended])
}

fn marketing_at(priority: u8) -> Rules {
    let mut rules = Rules::manual_defaults();
    for kind in [TaskKind::MarketingNoShow, TaskKind::EventRecommendation, TaskKind::MarketingAttendedNoOrder] {
        rules.kinds[kind.index()].priority = priority;
    }
    rules
}

#[test]
fn re_evaluation_applies_the_new_priorities_in_the_original_enqueue_order() {
    let (mut sim, [no_show, recommendation, attended]) = three_waiting();
    let mut out = Vec::new();
    let applied = sim.d.apply_rules(sim.now, marketing_at(60), true, &mut out).unwrap();
    sim.d.check_invariants(sim.now).unwrap();
    assert_eq!(applied.replanned.len(), 3);
    assert!(applied.replanned.iter().all(|&(_, p)| p == 60));
    // One priority now: the order they were queued in.
    assert_eq!(sim.d.waiting_order(marketing(&sim)), [no_show, recommendation, attended]);
    let agent = sim.agent("li", &["marketing"]);
    let offered = sim.d.agent_snapshot(agent).unwrap().offers[0].task.clone();
    assert_eq!((offered.id, offered.priority), (no_show, 60), "the screen-pop shows the new priority");
}

#[test]
fn without_re_evaluation_waiting_tasks_keep_their_priority() {
    let (mut sim, [no_show, recommendation, attended]) = three_waiting();
    let mut out = Vec::new();
    let applied = sim.d.apply_rules(sim.now, marketing_at(60), false, &mut out).unwrap();
    sim.d.check_invariants(sim.now).unwrap();
    assert!(applied.replanned.is_empty());
    assert_eq!(sim.d.waiting_order(marketing(&sim)), [attended, no_show, recommendation]);
    // A new task is planned by the new rules (the shell plans it): 60 goes
    // ahead of all three.
    let newer = sim.task(TaskKind::EventRecommendation, None);
    assert_eq!(sim.d.waiting_order(marketing(&sim))[0], newer);
}

#[test]
fn an_offer_made_before_keeps_its_expiry_and_the_next_gets_the_new_timeout() {
    let mut sim = Sim::new();
    let li = sim.agent("li", &["callbacks"]);
    let first = sim.task(TaskKind::MissedCallCallback, None);
    assert_eq!(sim.offers_to(li), [first]);
    let mut rules = Rules::manual_defaults();
    rules.offer_timeout = secs(40);
    let mut out = Vec::new();
    sim.d.apply_rules(sim.now, rules, false, &mut out).unwrap();
    assert!(out.is_empty(), "nothing withdrawn, nothing offered again: {out:?}");
    let offer = sim.d.agent_snapshot(li).unwrap().offers[0].clone();
    assert_eq!(offer.expires_at, sim.now + secs(15), "the offer keeps the timeout it was made with");
    sim.advance(secs(15));
    let effects = sim.drain();
    assert!(effects.contains(&Effect::OfferRescinded { agent: li, task: first, reason: WithdrawReason::Timeout }));
    // Passed over for a minute, the task goes back to li after it, with
    // the new timeout.
    sim.advance(secs(60));
    let offer = sim.d.agent_snapshot(li).unwrap().offers[0].clone();
    assert_eq!(offer.expires_at, sim.now + secs(40));
}

#[test]
fn new_steps_apply_to_waiting_tasks_at_the_step_their_age_says() {
    let mut sim = Sim::new();
    let novice = sim.agent("novice", &["hotline"]);
    sim.ok(Command::SetStatus { agent: novice, status: AgentStatus::Break(BreakReason::new("rest").unwrap()) });
    let call = sim.task(TaskKind::InboundCall, None);
    sim.advance(secs(10));
    let mut rules = Rules::manual_defaults();
    let hotline = rules.queue_index("hotline").unwrap();
    rules.kinds[TaskKind::InboundCall.index()].steps = vec![RoutingStep { wants: vec![(hotline, 3)], wait: secs(30) }];
    let mut out = Vec::new();
    sim.d.apply_rules(sim.now, rules, false, &mut out).unwrap();
    sim.d.check_invariants(sim.now).unwrap();
    sim.ok(Command::SetStatus { agent: novice, status: AgentStatus::Available });
    assert!(sim.offers_to(novice).is_empty(), "10 s old: in the level 3 step");
    sim.advance(secs(20));
    assert_eq!(sim.offers_to(novice), [call], "30 s old: anyone");
}

#[test]
fn a_changed_list_of_queues_is_refused_and_nothing_changes() {
    let (mut sim, _) = three_waiting();
    let before = sim.d.waiting_order(marketing(&sim));
    let mut rules = marketing_at(60);
    rules.queues.push("vip".into());
    let mut out = Vec::new();
    assert_eq!(sim.d.apply_rules(sim.now, rules, true, &mut out), Err(RulesRefused::QueuesChanged));
    assert_eq!(sim.d.waiting_order(marketing(&sim)), before);
    assert_eq!(sim.d.rules().kind(TaskKind::MarketingNoShow).priority, 51);
}
