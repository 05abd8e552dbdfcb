//! Shift edges on the virtual clock: no new offers in the wind-down; at
//! the end, held work returns to the queue with the handover note.

use super::*;

fn offered_card(effects: &[Effect], agent: UserId) -> Option<Arc<TaskCard>> {
    effects.iter().find_map(|e| match e {
        Effect::Offer { agent: a, offer } if *a == agent => Some(offer.task.clone()),
        _ => None,
    })
}

#[test]
fn a_held_callback_returns_at_shift_end_with_the_handover_note() {
    let mut sim = Sim::new();
    let li = sim.agent("li", &["callbacks"]);
    let t = sim.task(TaskKind::MissedCallCallback, None);
    sim.ok(Command::Accept { agent: li, task: t });
    sim.drain();
    let note = "called twice, customer asks for a call after 18:00";
    sim.ok(Command::EndShift { agent: li, note: Some(note.into()) });
    let effects = sim.drain();
    assert!(
        effects.contains(&Effect::TaskRevoked { agent: li, task: t, reason: WithdrawReason::ShiftEnded }),
        "{effects:?}"
    );
    assert!(effects.iter().any(|e| matches!(e,
        Effect::Record(Record::TaskReturned { task, event: "shift_ended", note: Some(n), .. }) if *task == t && n == note)));
    assert_eq!(sim.status(li), AgentStatus::Offline);
    assert_eq!(sim.d.live_task(t).unwrap().status, TaskStatus::Waiting);
    // The late shift's agent gets it, with the note on the screen-pop.
    let wang = sim.agent("wang", &["callbacks"]);
    let card = offered_card(&sim.drain(), wang).expect("offered to the next agent");
    assert_eq!((card.id, card.handover_note.as_deref()), (t, Some(note)));
}

#[test]
fn no_new_offers_in_the_wind_down_until_the_next_shift() {
    let mut sim = Sim::new();
    let li = sim.agent("li", &["callbacks"]);
    sim.ok(Command::ShiftEnding { agent: li });
    sim.ok(Command::ShiftEnding { agent: li }); // repeats change nothing
    let t = sim.task(TaskKind::NewSignupCallback, None);
    assert!(offered_card(&sim.drain(), li).is_none(), "offered in the wind-down");
    assert_eq!(sim.d.live_task(t).unwrap().status, TaskStatus::Waiting);
    // The shift ends; next morning li comes on again and gets it.
    sim.ok(Command::EndShift { agent: li, note: None });
    sim.ok(Command::SetStatus { agent: li, status: AgentStatus::Available });
    assert_eq!(offered_card(&sim.drain(), li).map(|c| c.id), Some(t));
}

#[test]
fn a_caller_on_the_line_keeps_the_agent_until_the_call_ends() {
    let mut sim = Sim::new();
    let li = sim.agent("li", &["hotline", "callbacks"]);
    let call = sim.task(TaskKind::InboundCall, None);
    sim.ok(Command::Accept { agent: li, task: call });
    sim.ok(Command::EndShift { agent: li, note: Some("n".into()) });
    assert_eq!(sim.d.live_task(call).unwrap().status, TaskStatus::Assigned, "the call stays");
    assert_eq!(sim.status(li), AgentStatus::Busy);
    sim.ok(Command::Complete { agent: li, task: call, outcome: Outcome::Reached, summary: None });
    sim.advance(SignedDuration::from_secs(31)); // wrap-up
    assert_eq!(sim.status(li), AgentStatus::Offline);
}

#[test]
fn a_supervisor_can_keep_an_agent_on_past_the_wind_down() {
    let mut sim = Sim::new();
    let li = sim.agent("li", &["callbacks"]);
    sim.ok(Command::ShiftEnding { agent: li });
    let t = sim.task(TaskKind::NewSignupCallback, None);
    sim.ok(Command::ForceStatus { agent: li, status: AgentStatus::Available });
    assert_eq!(offered_card(&sim.drain(), li).map(|c| c.id), Some(t));
}
