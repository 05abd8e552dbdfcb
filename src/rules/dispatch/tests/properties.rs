//! The property test of the dispatcher: random command sequences keep the
//! invariants, and no task disappears.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

#[derive(Clone, Debug)]
enum Op {
    Task(usize),
    /// A task kept for an agent for a while (`true`), or avoiding one.
    TaskFor(usize, usize, bool),
    Connect(usize),
    Disconnect(usize),
    Available(usize),
    Break(usize),
    Offline(usize),
    ForceOffline(usize),
    ForceBreak(usize),
    Accept(usize),
    Decline(usize),
    Complete(usize, usize),
    Release(usize),
    Cancel(usize),
    /// Closed from outside as done (a car order dispatched).
    Settle(usize),
    ShiftEnding(usize),
    EndShift(usize),
    /// A supervisor sets the agent's level in every queue it serves.
    Relevel(usize, u8),
    /// The configuration reloaded: the stepped rules or the other ones,
    /// re-evaluating the live tasks or not.
    Reload(bool, bool),
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TaskKind::ALL.len()).prop_map(Op::Task),
        1 => ((0..TaskKind::ALL.len()), (0..6usize), any::<bool>()).prop_map(|(k, a, p)| Op::TaskFor(k, a, p)),
        1 => (0..6usize).prop_map(Op::Connect),
        1 => (0..6usize).prop_map(Op::Disconnect),
        1 => (0..6usize).prop_map(Op::Available),
        1 => (0..6usize).prop_map(Op::Break),
        1 => (0..6usize).prop_map(Op::Offline),
        1 => (0..6usize).prop_map(Op::ForceOffline),
        1 => (0..6usize).prop_map(Op::ForceBreak),
        3 => (0..6usize).prop_map(Op::Accept),
        1 => (0..6usize).prop_map(Op::Decline),
        2 => ((0..6usize), (0..Outcome::ALL.len())).prop_map(|(a, o)| Op::Complete(a, o)),
        1 => (0..6usize).prop_map(Op::Release),
        1 => (0..64usize).prop_map(Op::Cancel),
        1 => (0..64usize).prop_map(Op::Settle),
        1 => (0..6usize).prop_map(Op::ShiftEnding),
        1 => (0..6usize).prop_map(Op::EndShift),
        1 => ((0..6usize), (1..=5u8)).prop_map(|(a, l)| Op::Relevel(a, l)),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(s, r)| Op::Reload(s, r)),
        2 => (1..90i64).prop_map(Op::Wait),
    ]
}

/// Steps on several kinds and queues, some sharing their wanted levels:
/// the hotline's calls want level 4, then 2; callbacks want level 3 or a
/// marketing skill too; complaints want level 5 for a while.
fn stepped_rules() -> Rules {
    let mut rules = Rules::manual_defaults();
    let q = |name: &str| rules.queue_index(name).unwrap();
    let (hotline, callbacks, marketing, complaints) = (q("hotline"), q("callbacks"), q("marketing"), q("complaints"));
    let step = |wants: Vec<(QueueIdx, u8)>, s: i64| RoutingStep { wants, wait: secs(s) };
    let mut set = |kind: TaskKind, steps: Vec<RoutingStep>| rules.kinds[kind.index()].steps = steps;
    set(TaskKind::InboundCall, vec![step(vec![(hotline, 4)], 20), step(vec![(hotline, 2)], 40)]);
    set(TaskKind::NewSignupCallback, vec![step(vec![(callbacks, 3)], 30)]);
    set(
        TaskKind::MissedCallCallback,
        vec![step(vec![(callbacks, 3)], 45), step(vec![(callbacks, 1), (marketing, 3)], 60)],
    );
    set(TaskKind::ComplaintFollowUp, vec![step(vec![(complaints, 5)], 120)]);
    rules
}

/// Other priorities (callbacks above calls) and other steps, for reloads.
fn reordered_rules() -> Rules {
    let mut rules = Rules::manual_defaults();
    let callbacks = rules.queue_index("callbacks").unwrap();
    let travel = rules.queue_index("travel").unwrap();
    rules.kinds[TaskKind::InboundCall.index()].priority = 40;
    rules.kinds[TaskKind::MissedCallCallback.index()].priority = 120;
    rules.kinds[TaskKind::EventCallback.index()].steps =
        vec![RoutingStep { wants: vec![(callbacks, 2)], wait: secs(25) }];
    rules.kinds[TaskKind::CarDispatch.index()].steps = vec![RoutingStep { wants: vec![(travel, 5)], wait: secs(50) }];
    rules.offer_timeout = secs(25);
    rules
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any sequence of commands keeps the invariants (checked after every
    /// step by `Sim`), and every task ends up either live or closed with a
    /// recorded outcome: none disappears.
    #[test]
    fn invariants_hold_and_no_task_disappears(ops in proptest::collection::vec(op(), 1..120)) {
        let mut sim = Sim::with_rules(stepped_rules());
        let skills: [&[&str]; 6] = [
            &["hotline:5"], &["hotline:2", "callbacks:4"], &["callbacks", "marketing:3"],
            &["travel"], &["complaints:4", "hotline"], &["marketing", "travel:5", "callbacks:2"],
        ];
        for (i, s) in skills.iter().enumerate() {
            let id = sim.agent(&format!("a{i}"), s);
            if i % 2 == 1 {
                sim.ok(Command::Disconnect { agent: id });
            }
        }
        let mut created: Vec<TaskId> = Vec::new();
        let mut closed: HashSet<TaskId> = HashSet::new();
        for op in ops {
            let agents = sim.agents.clone();
            // Holdings of an agent right now, from the dispatcher's own view.
            let held = |sim: &Sim, i: usize, offered: bool| -> Option<TaskId> {
                let snap = sim.d.agent_snapshot(agents[i])?;
                if offered { snap.offers.first().map(|o| o.task.id) } else { snap.held.first().map(|c| c.id) }
            };
            let result = match op {
                Op::Task(k) => { created.push(sim.task(TaskKind::ALL[k], None)); Ok(Reply::Done) }
                Op::TaskFor(k, i, prefer) => {
                    let kind = TaskKind::ALL[k];
                    let plan = sim.d.rules().plan(kind, sim.now, None, None);
                    let mut card = sim.card(kind, &plan);
                    if prefer {
                        card.reserved = Some(Reservation { agent: agents[i], until: sim.now + secs(45) });
                    } else {
                        card.avoid_agent = Some(agents[i]);
                    }
                    created.push(card.id);
                    sim.cmd(Command::AddTask(NewTask { card: Arc::new(card), plan, enqueued_at: sim.now, held_by: None }))
                }
                Op::Connect(i) => sim.cmd(Command::Connect { agent: agents[i], winding_down: false }),
                Op::Disconnect(i) => sim.cmd(Command::Disconnect { agent: agents[i] }),
                Op::Available(i) => sim.cmd(Command::SetStatus { agent: agents[i], status: AgentStatus::Available }),
                Op::Break(i) => sim.cmd(Command::SetStatus { agent: agents[i], status: AgentStatus::Break(BreakReason::new("rest").unwrap()) }),
                Op::Offline(i) => sim.cmd(Command::SetStatus { agent: agents[i], status: AgentStatus::Offline }),
                Op::ForceOffline(i) => sim.cmd(Command::ForceStatus { agent: agents[i], status: AgentStatus::Offline }),
                Op::ForceBreak(i) => sim.cmd(Command::ForceStatus {
                    agent: agents[i],
                    status: AgentStatus::Break(BreakReason::new("meeting").unwrap()),
                }),
                Op::Accept(i) => match held(&sim, i, true) { Some(t) => sim.cmd(Command::Accept { agent: agents[i], task: t }), None => Ok(Reply::Done) },
                Op::Decline(i) => match held(&sim, i, true) { Some(t) => sim.cmd(Command::Decline { agent: agents[i], task: t }), None => Ok(Reply::Done) },
                Op::Complete(i, o) => match held(&sim, i, false) {
                    Some(t) => sim.cmd(Command::Complete { agent: agents[i], task: t, outcome: Outcome::ALL[o], summary: None }),
                    None => Ok(Reply::Done),
                },
                Op::Release(i) => match held(&sim, i, false) { Some(t) => sim.cmd(Command::Release { agent: agents[i], task: t, note: None }), None => Ok(Reply::Done) },
                Op::ShiftEnding(i) => sim.cmd(Command::ShiftEnding { agent: agents[i] }),
                Op::EndShift(i) => sim.cmd(Command::EndShift { agent: agents[i], note: Some("handed over".into()) }),
                Op::Relevel(i, level) => {
                    let mut profile = sim.d.agent_profile(agents[i]).unwrap().clone();
                    let served: Vec<QueueIdx> = (0..5u8).map(QueueIdx).filter(|q| profile.queues & (1 << q.0) != 0).collect();
                    profile.levels = Levels::from_pairs(served.into_iter().map(|q| (q, level)));
                    sim.cmd(Command::UpsertAgent(profile))
                }
                Op::Cancel(n) => match created.get(n) {
                    Some(&t) if sim.d.live_task(t).is_some() => sim.cmd(Command::CancelTask { task: t }),
                    _ => Ok(Reply::Done),
                },
                Op::Settle(n) => match created.get(n) {
                    Some(&t) if sim.d.live_task(t).is_some() => {
                        sim.cmd(Command::Settle { task: t, outcome: Outcome::Done, summary: "done elsewhere".into() })
                    }
                    _ => Ok(Reply::Done),
                },
                Op::Reload(stepped, reevaluate) => {
                    let rules = if stepped { stepped_rules() } else { reordered_rules() };
                    let applied = sim.d.apply_rules(sim.now, rules, reevaluate, &mut sim.effects);
                    prop_assert!(applied.is_ok());
                    sim.d.check_invariants(sim.now).unwrap();
                    Ok(Reply::Done)
                }
                Op::Wait(s) => { sim.advance(secs(s)); Ok(Reply::Done) }
            };
            prop_assert!(result.is_ok(), "{result:?}");
            for e in sim.drain() {
                // Nobody is offered a task that avoids them, or that is kept
                // for another agent.
                if let Effect::Offer { agent, offer } = &e {
                    prop_assert!(offer.task.avoid_agent != Some(*agent), "offered to the agent it avoids");
                    let kept = offer.task.reserved.is_some_and(|r| r.agent != *agent && r.until > sim.now);
                    prop_assert!(!kept, "offered while kept for another agent");
                }
                // Nobody is offered a task at a step whose levels they lack.
                if let Effect::Offer { offer, .. } = &e
                    && let Some(step) = &offer.why.step
                {
                    let meets = step.wants.iter().zip(&step.agent_levels).all(|(w, l)| l.level >= w.level);
                    prop_assert!(meets, "offered below the step: {step:?}");
                }
                // A retry leaves the dispatcher for the schedule: one way out, like a close.
                if let Effect::Record(Record::TaskClosed { task, .. } | Record::TaskRetry { task, .. }) = e {
                    prop_assert!(closed.insert(task), "task closed twice");
                }
            }
        }
        for t in &created {
            prop_assert!(sim.d.live_task(*t).is_some() != closed.contains(t), "task {t} is neither live nor closed");
        }
        // Liveness: bring everyone back and work the floor; every task gets
        // done and nobody stays stuck in busy or wrap-up. One more agent
        // serves every queue, for the tasks that avoid the only other one.
        sim.agent("relief", &["hotline", "callbacks", "marketing", "travel", "complaints"]);
        let agents = sim.agents.clone();
        for &a in &agents {
            sim.ok(Command::Connect { agent: a, winding_down: false });
            sim.ok(Command::ForceStatus { agent: a, status: AgentStatus::Available });
        }
        for _ in 0..2000 {
            if sim.d.live_task_count() == 0 {
                break;
            }
            for &a in &agents {
                let snap = sim.d.agent_snapshot(a).unwrap();
                for offer in snap.offers {
                    sim.ok(Command::Accept { agent: a, task: offer.task.id });
                }
                for card in sim.d.agent_snapshot(a).unwrap().held {
                    sim.ok(Command::Complete { agent: a, task: card.id, outcome: Outcome::Done, summary: None });
                }
            }
            sim.advance(secs(5)); // well inside the offer timeout
        }
        for e in sim.drain() {
            if let Effect::Record(Record::TaskClosed { task, .. } | Record::TaskRetry { task, .. }) = e {
                prop_assert!(closed.insert(task), "task closed twice");
            }
        }
        prop_assert_eq!(sim.d.live_task_count(), 0, "the floor could not drain");
        prop_assert!(created.iter().all(|t| closed.contains(t)));
        sim.advance(secs(3600));
        for &a in &agents {
            let status = sim.status(a);
            prop_assert!(matches!(status, AgentStatus::Available), "agent stuck in {:?}", status);
        }
        // Voice exclusivity, from the outside: nobody on a call holds an offer.
        for view in sim.d.agents_view() {
            let voice = view.tasks.iter().filter(|t| sim.d.live_task(**t).unwrap().channel == Channel::Voice).count();
            prop_assert!(voice <= 1);
        }
    }
}
