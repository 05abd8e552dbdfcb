//! Retries on the virtual clock: an unanswered call is tried again after
//! the gap, in working hours (the next morning when the gap passes the
//! close), and closes as `unreachable` only when the attempts run out.

use proptest::prelude::*;

use super::*;
use crate::rules::calendar::tests::{local, show};

/// The last record the dispatcher made about `task`.
fn last_record(sim: &mut Sim, task: TaskId) -> Record {
    sim.drain()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Record(r) => Some(r),
            _ => None,
        })
        .filter(|r| match r {
            Record::TaskClosed { task: t, .. } | Record::TaskRetry { task: t, .. } => *t == task,
            _ => false,
        })
        .last()
        .expect("a record about the task")
}

/// An agent on the callbacks queue takes `kind` with `deadline` at local
/// time `at` and reports `outcome`.
fn call_once(at: &str, kind: TaskKind, deadline: Option<&str>, outcome: Outcome) -> (Sim, Record) {
    let mut sim = Sim::new();
    let cal = sim.d.rules().calendar.clone();
    sim.now = local(&cal, at);
    let a = sim.agent("a", &["callbacks", "hotline", "marketing"]);
    let t = sim.task(kind, deadline.map(|d| local(&cal, d)));
    sim.ok(Command::Accept { agent: a, task: t });
    sim.ok(Command::Complete { agent: a, task: t, outcome, summary: Some("rang out".into()) });
    let record = last_record(&mut sim, t);
    assert!(sim.d.live_task(t).is_none(), "the task left the dispatcher");
    (sim, record)
}

#[test]
fn no_answer_is_tried_again_after_the_gap() {
    let (sim, record) =
        call_once("2026-12-08T10:05", TaskKind::MissedCallCallback, Some("2026-12-08T22:30"), Outcome::NoAnswer);
    let Record::TaskRetry { outcome, not_before, summary, .. } = record else { panic!("{record:?}") };
    assert_eq!((outcome, summary.as_deref()), (Outcome::NoAnswer, Some("rang out")));
    assert_eq!(show(&sim.d.rules().calendar, not_before), "2026-12-08 10:15 Tue");
}

#[test]
fn the_last_attempt_allowed_closes_the_task_unreachable() {
    let mut sim = Sim::new();
    let cal = sim.d.rules().calendar.clone();
    sim.now = local(&cal, "2026-12-08T10:15");
    let a = sim.agent("a", &["callbacks"]);
    // The second attempt, as the scheduler hands it back.
    let plan = sim.d.rules().plan(TaskKind::MissedCallCallback, sim.now, None, Some(local(&cal, "2026-12-08T22:30")));
    let card = Arc::new(TaskCard {
        created_at: local(&cal, "2026-12-08T10:00"),
        attempt: 2,
        first_tried_at: Some(local(&cal, "2026-12-08T10:05")),
        last_outcome: Some(Outcome::NoAnswer),
        ..sim.card(TaskKind::MissedCallCallback, &plan)
    });
    let t = card.id;
    sim.ok(Command::AddTask(NewTask { card, plan, enqueued_at: sim.now, held_by: None }));
    sim.ok(Command::Accept { agent: a, task: t });
    sim.ok(Command::Complete { agent: a, task: t, outcome: Outcome::Busy, summary: None });
    let record = last_record(&mut sim, t);
    assert!(
        matches!(record, Record::TaskClosed { status: TaskStatus::Unreachable, outcome: Some(Outcome::Busy), .. }),
        "{record:?}"
    );
    // The agent goes to wrap-up as after any call.
    assert_eq!(sim.status(a), AgentStatus::WrapUp);
}

#[test]
fn no_answer_at_the_days_edge_is_tried_again_the_next_morning() {
    // 21:55 + 10 minutes is still inside the day (closing 22:30).
    let (sim, record) =
        call_once("2026-12-08T21:55", TaskKind::MissedCallCallback, Some("2026-12-08T22:30"), Outcome::NoAnswer);
    let Record::TaskRetry { not_before, .. } = record else { panic!("{record:?}") };
    assert_eq!(show(&sim.d.rules().calendar, not_before), "2026-12-08 22:05 Tue");
    // A sign-up at 22:10 is due at 22:25; its first call fails at 22:20.
    // The second call the manual owes (至少拨打2次) is made at Wednesday's
    // opening, not given up; the deadline stays, so it counts late.
    let (sim, record) =
        call_once("2026-12-08T22:20", TaskKind::NewSignupCallback, Some("2026-12-08T22:25"), Outcome::NoAnswer);
    let Record::TaskRetry { not_before, .. } = record else { panic!("{record:?}") };
    assert_eq!(show(&sim.d.rules().calendar, not_before), "2026-12-09 09:00 Wed");
    // Friday night's goes to Monday morning.
    let (sim, record) =
        call_once("2026-12-11T22:25", TaskKind::MissedCallCallback, Some("2026-12-11T22:30"), Outcome::Busy);
    let Record::TaskRetry { not_before, .. } = record else { panic!("{record:?}") };
    assert_eq!(show(&sim.d.rules().calendar, not_before), "2026-12-14 09:00 Mon");
}

#[test]
fn a_deadline_on_a_later_day_lets_the_retry_wait_for_the_next_opening() {
    // Registered Friday evening: due by the end of Monday. No answer at 22:25
    // on Friday: tried again at Monday's opening.
    let (sim, record) =
        call_once("2026-12-11T22:25", TaskKind::NewSignupCallback, Some("2026-12-14T22:30"), Outcome::Busy);
    let Record::TaskRetry { not_before, .. } = record else { panic!("{record:?}") };
    assert_eq!(show(&sim.d.rules().calendar, not_before), "2026-12-14 09:00 Mon");
}

#[test]
fn a_task_without_deadline_is_retried_in_working_hours() {
    let (sim, record) = call_once("2026-12-08T22:25", TaskKind::MarketingNoShow, None, Outcome::NoAnswer);
    let Record::TaskRetry { not_before, .. } = record else { panic!("{record:?}") };
    assert_eq!(show(&sim.d.rules().calendar, not_before), "2026-12-09 09:00 Wed");
}

#[test]
fn answered_calls_and_inbound_calls_are_completed() {
    let (_, record) =
        call_once("2026-12-08T10:05", TaskKind::MissedCallCallback, Some("2026-12-08T22:30"), Outcome::Reached);
    assert!(matches!(record, Record::TaskClosed { status: TaskStatus::Completed, .. }), "{record:?}");
    // The customer phoned in: nobody to call back within the task.
    let (_, record) = call_once("2026-12-08T10:05", TaskKind::InboundCall, None, Outcome::NoAnswer);
    assert!(
        matches!(record, Record::TaskClosed { status: TaskStatus::Completed, outcome: Some(Outcome::NoAnswer), .. }),
        "{record:?}"
    );
}

#[test]
fn more_attempts_when_the_kind_allows_them() {
    let mut rules = Rules::manual_defaults();
    rules.kinds[TaskKind::MissedCallCallback.index()].attempts = 3;
    let cal = rules.calendar.clone();
    let now = local(&cal, "2026-12-08T11:00");
    let next = |attempt| rules.next_attempt(TaskKind::MissedCallCallback, attempt, now);
    assert_eq!(next(1), NextAttempt::At(local(&cal, "2026-12-08T11:10")));
    assert_eq!(next(2), NextAttempt::At(local(&cal, "2026-12-08T11:10")));
    assert_eq!(next(3), NextAttempt::AttemptsUsed);
}

#[test]
fn a_kinds_deadline_never_falls_after_the_close() {
    // A sign-up callback created at 22:20: 10 of its 15 minutes today, the
    // other 5 from Wednesday's opening.
    let rules = Rules::manual_defaults();
    let cal = rules.calendar.clone();
    let plan = rules.plan(TaskKind::NewSignupCallback, local(&cal, "2026-12-08T22:20"), None, None);
    assert_eq!(plan.deadline.map(|d| show(&cal, d)).as_deref(), Some("2026-12-09 09:05 Wed"));
    let plan = rules.plan(TaskKind::NewSignupCallback, local(&cal, "2026-12-08T21:00"), None, None);
    assert_eq!(plan.deadline.map(|d| show(&cal, d)).as_deref(), Some("2026-12-08 21:15 Tue"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Whenever an attempt fails: while attempts are owed, a retry comes
    /// at the first working instant at or after the gap, however late in
    /// the day; the last attempt allowed is never retried.
    #[test]
    fn a_retry_is_the_first_working_instant_after_the_gap(now_min in 0i64..(14 * 24 * 60), attempt in 1u32..4) {
        let rules = Rules::manual_defaults();
        let cal = rules.calendar.clone();
        let start = local(&cal, "2026-12-07T00:00");
        let now = start + SignedDuration::from_mins(now_min);
        match rules.next_attempt(TaskKind::MissedCallCallback, attempt, now) {
            NextAttempt::At(at) => {
                prop_assert!(attempt < 2, "retried past the attempts allowed");
                prop_assert!(at >= now + rules.retry_gap);
                prop_assert!(cal.is_open(at), "retry at {} outside working hours", show(&cal, at));
                let mut earlier = now + rules.retry_gap;
                while earlier < at {
                    prop_assert!(!cal.is_open(earlier), "open at {} before the retry", show(&cal, earlier));
                    earlier += SignedDuration::from_mins(7);
                }
            }
            NextAttempt::AttemptsUsed => prop_assert!(attempt >= 2, "an owed attempt was given up"),
        }
    }
}

#[test]
fn a_placed_call_that_failed_or_was_cut_is_tried_again() {
    for outcome in [Outcome::Failed, Outcome::Interrupted] {
        let (_, record) =
            call_once("2026-12-08T10:05", TaskKind::MissedCallCallback, Some("2026-12-08T22:30"), outcome);
        assert!(matches!(record, Record::TaskRetry { outcome: o, .. } if o == outcome), "{record:?}");
    }
}

#[test]
fn an_agents_phone_that_does_not_answer_returns_the_task_without_an_attempt() {
    let mut sim = Sim::new();
    let cal = sim.d.rules().calendar.clone();
    sim.now = local(&cal, "2026-12-08T10:05");
    let a = sim.agent("a", &["callbacks"]);
    let t = sim.task(TaskKind::MissedCallCallback, Some(local(&cal, "2026-12-08T22:30")));
    sim.ok(Command::Accept { agent: a, task: t });
    sim.drain();
    sim.ok(Command::PhoneUnanswered { agent: a, task: t });
    let records: Vec<Record> = sim
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            Effect::Record(r) => Some(r),
            _ => None,
        })
        .collect();
    assert!(
        records.iter().any(|r| matches!(r,
            Record::TaskReturned { task, event: ReturnReason::PhoneUnanswered, .. } if *task == t)),
        "{records:?}"
    );
    assert!(!records.iter().any(|r| matches!(r, Record::TaskRetry { .. } | Record::TaskClosed { .. })));
    assert!(sim.d.live_task(t).is_some(), "the task is still live");
    // Not in wrap-up: there was no call.
    assert_eq!(sim.status(a), AgentStatus::Available);
    // A second agent gets it while the first is passed over.
    let b = sim.agent("b", &["callbacks"]);
    assert_eq!(sim.offers_to(b), vec![t]);
}
