//! The property test of the dispatcher: random command sequences keep the
//! invariants, and no task disappears.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

#[derive(Clone, Debug)]
enum Op {
    Task(usize),
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
    Wait(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TaskKind::ALL.len()).prop_map(Op::Task),
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
        2 => (1..90i64).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any sequence of commands keeps the invariants (checked after every
    /// step by `Sim`), and every task ends up either live or closed with a
    /// recorded outcome: none disappears.
    #[test]
    fn invariants_hold_and_no_task_disappears(ops in proptest::collection::vec(op(), 1..120)) {
        let mut sim = Sim::new();
        let skills: [&[&str]; 6] = [
            &["hotline"], &["hotline", "callbacks"], &["callbacks", "marketing"],
            &["travel"], &["complaints", "hotline"], &["marketing", "travel", "callbacks"],
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
                Op::Wait(s) => { sim.advance(secs(s)); Ok(Reply::Done) }
            };
            prop_assert!(result.is_ok(), "{result:?}");
            for e in sim.drain() {
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
        // done and nobody stays stuck in busy or wrap-up.
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
