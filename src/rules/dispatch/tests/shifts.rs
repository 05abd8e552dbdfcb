//! Shift edges on the virtual clock: no new offers in the wind-down; at
//! the end, held work returns to the queue with the handover note. And a
//! task kept for one agent (a case's owner) until its reservation ends.

use super::*;
use crate::rules::shifts::ShiftEvent;

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
        Effect::Record(Record::TaskReturned { task, event: crate::domain::ReturnReason::ShiftEnded, note: Some(n), .. }) if *task == t && n == note)));
    assert_eq!(sim.status(li), AgentStatus::Offline);
    assert_eq!(sim.d.live_task(t).unwrap().status, TaskStatus::Waiting);
    // The late shift's agent gets it, with the note on the screen-pop.
    let wang = sim.agent("wang", &["callbacks"]);
    let card = offered_card(&sim.drain(), wang).expect("offered to the next agent");
    assert_eq!((card.id, card.handover_note.as_deref()), (t, Some(note)));
}

/// Logging in during one's own wind-down: the connection itself carries
/// it, so not one offer goes out before the shift clock's next round.
#[test]
fn an_agent_connecting_in_the_wind_down_is_offered_nothing() {
    let mut sim = Sim::new();
    let t = sim.task(TaskKind::NewSignupCallback, None);
    let li = crate::domain::UserId::new();
    let profile = AgentProfile {
        id: li,
        name: "li".into(),
        queues: sim.d.rules().queue_set(["callbacks"]),
        levels: Default::default(),
        voice_capacity: 1,
        back_office_capacity: 2,
        sip_uri: None,
    };
    sim.ok(Command::UpsertAgent(profile));
    sim.ok(Command::Connect { agent: li, winding_down: true });
    assert!(offered_card(&sim.drain(), li).is_none(), "offered while connecting in the wind-down");
    assert_eq!(sim.d.live_task(t).unwrap().status, TaskStatus::Waiting);
    assert_eq!(sim.status(li), AgentStatus::Available, "on the floor, just not offered new work");
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

/// The day as the shell runs it, on the virtual clock: the early shift's
/// wind-down from 16:50, its end at 17:00.
#[test]
fn on_the_clock_the_early_shifts_callback_returns_at_17_00_with_the_note() {
    use crate::rules::calendar::tests::{local, show};
    use crate::rules::shifts::{ShiftSettings, WeeklySchedule, due_events};

    let mut sim = Sim::new();
    let cal = sim.d.rules().calendar.clone();
    sim.now = local(&cal, "2026-12-07T16:30"); // a Monday
    let named = ShiftSettings::default().named_shifts().unwrap();
    let week = WeeklySchedule::parse(&[("mon".to_owned(), vec!["early".to_owned()])].into(), &named).unwrap();
    let li = sim.agent("li", &["callbacks"]);
    let held = sim.task(TaskKind::MissedCallCallback, None);
    sim.ok(Command::Accept { agent: li, task: held });
    sim.drain();
    let note = "customer asked for a call after 18:00";
    let mut returned_at = None;
    let mut offered_in_wind_down = false;
    for _ in 0..40 {
        let last = sim.now;
        sim.advance(SignedDuration::from_mins(1));
        for event in due_events([(li, &week)], &cal, SignedDuration::from_mins(10), last, sim.now) {
            match event {
                ShiftEvent::WindDown(a) => sim.ok(Command::ShiftEnding { agent: a }),
                ShiftEvent::End(a) => sim.ok(Command::EndShift { agent: a, note: Some(note.into()) }),
            }
        }
        if show(&cal, sim.now) == "2026-12-07 16:55 Mon" {
            // A new task in the wind-down waits for someone else.
            sim.task(TaskKind::NewSignupCallback, None);
        }
        let effects = sim.drain();
        offered_in_wind_down |= offered_card(&effects, li).is_some();
        if effects.iter().any(|e| matches!(e, Effect::TaskRevoked { task, .. } if *task == held)) {
            returned_at.get_or_insert(show(&cal, sim.now));
        }
    }
    assert!(!offered_in_wind_down, "li was offered work in the last ten minutes");
    assert_eq!(returned_at.as_deref(), Some("2026-12-07 17:00 Mon"));
    assert_eq!(sim.status(li), AgentStatus::Offline);
    // The late shift's agent takes the new signup first (nearer deadline),
    // then the handed-back callback, with the note.
    let wang = sim.agent("wang", &["callbacks"]);
    let first = offered_card(&sim.drain(), wang).expect("an offer");
    assert_eq!(first.kind, TaskKind::NewSignupCallback);
    sim.ok(Command::Accept { agent: wang, task: first.id });
    sim.ok(Command::Complete { agent: wang, task: first.id, outcome: Outcome::Reached, summary: None });
    sim.advance(SignedDuration::from_secs(31));
    let next = offered_card(&sim.drain(), wang).expect("the handed-back callback");
    assert_eq!((next.id, next.handover_note.as_deref()), (held, Some(note)));
}

#[test]
fn a_reserved_task_waits_for_its_agent_until_the_reservation_ends() {
    let mut sim = Sim::new();
    let wang = sim.agent("wang", &["complaints"]);
    let li = sim.agent("li", &["complaints"]);
    sim.ok(Command::SetStatus { agent: li, status: AgentStatus::Break(BreakReason::new("lunch").unwrap()) });
    sim.drain();
    let plan = sim.d.rules().plan(TaskKind::ComplaintFollowUp, sim.now, None, None);
    let until = sim.now + SignedDuration::from_mins(30);
    let card = Arc::new(TaskCard {
        reserved: Some(Reservation { agent: li, until }),
        avoid_agent: None,
        ..sim.card(TaskKind::ComplaintFollowUp, &plan)
    });
    let t = card.id;
    sim.ok(Command::AddTask(NewTask { card, plan, enqueued_at: sim.now, held_by: None }));
    assert!(offered_card(&sim.drain(), wang).is_none(), "kept for li");
    // li is back from lunch: li gets it.
    sim.ok(Command::SetStatus { agent: li, status: AgentStatus::Available });
    assert_eq!(offered_card(&sim.drain(), li).map(|c| c.id), Some(t));
    sim.ok(Command::Decline { agent: li, task: t });
    sim.drain();
    // Declined and kept for li: it waits; when the reservation ends, wang takes it.
    sim.advance(SignedDuration::from_mins(29));
    assert!(offered_card(&sim.drain(), wang).is_none());
    sim.advance(SignedDuration::from_mins(1));
    assert_eq!(offered_card(&sim.drain(), wang).map(|c| c.id), Some(t));
}

/// The estimate's view of the floor leaves out an agent winding down, busy
/// or not, and places the others' times left on the right agents.
#[test]
fn the_estimate_leaves_out_a_busy_agent_winding_down() {
    use crate::rules::planning::floor::{Measurements, floor_view};
    let mut sim = Sim::new();
    let wang = sim.agent("wang", &["callbacks"]);
    let u = sim.task(TaskKind::MissedCallCallback, None);
    sim.ok(Command::Accept { agent: wang, task: u });
    let li = sim.agent("li", &["callbacks"]);
    let t = sim.task(TaskKind::MissedCallCallback, None);
    sim.ok(Command::Accept { agent: li, task: t });
    sim.ok(Command::ShiftEnding { agent: li });
    sim.drain();
    let view = floor_view(&sim.d, sim.now, &Measurements::default());
    let agents = view.agents;
    assert_eq!(view.on_line, 2, "both are still on the line");
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert!(agents[0].free_in_secs > 0.0, "wang is busy: {agents:?}");
}
