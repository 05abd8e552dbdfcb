//! A scripted morning, with every figure computed by hand.

use jiff::{SignedDuration, Timestamp};

use super::scoring::Judged;
use super::*;

fn at(hms: &str) -> Timestamp {
    format!("2026-05-12T{hms}+08:00[Asia/Shanghai]").parse::<jiff::Zoned>().unwrap().timestamp()
}

fn midnight() -> Timestamp {
    at("00:00:00")
}

struct Script {
    figures: Figures,
    agents: [UserId; 2],
}

impl Script {
    fn new() -> Self {
        let mut figures = Figures::new(FigureRules::default(), midnight());
        let agents = [UserId::new(), UserId::new()];
        for agent in agents {
            figures
                .observe(&FloorEvent::Agent { agent, status: AgentStatus::Available, at: at("08:55:00") }, midnight());
        }
        Script { figures, agents }
    }

    fn event(&mut self, e: FloorEvent) {
        self.figures.observe(&e, midnight());
    }

    fn enter(&mut self, kind: TaskKind, queue: &str, deadline: Option<&str>, when: &str) -> TaskId {
        let task = TaskId::new();
        let deadline = deadline.map(at);
        self.event(FloorEvent::Entered { task, kind, queue: queue.into(), deadline, at: at(when) });
        task
    }

    fn answer(&mut self, task: TaskId, agent: usize, when: &str) {
        self.event(FloorEvent::Answered { task, agent: self.agents[agent], at: at(when) });
    }

    fn leave(&mut self, task: TaskId, status: TaskStatus, when: &str) {
        self.event(FloorEvent::Left { task, status, at: at(when) });
    }

    /// The morning: four calls (two answered, 8 s and 25 s; two abandoned),
    /// a callback done in time, one overdue, one due, one declined once.
    fn morning() -> Self {
        let mut s = Script::new();
        let call = TaskKind::InboundCall;
        let a = s.enter(call, "hotline", None, "09:00:00");
        s.answer(a, 0, "09:00:08");
        s.leave(a, TaskStatus::Completed, "09:03:08");
        let b = s.enter(call, "hotline", None, "09:01:00");
        s.leave(b, TaskStatus::Abandoned, "09:01:30");
        let c = s.enter(call, "hotline", None, "09:02:00");
        s.answer(c, 1, "09:02:25");
        s.leave(c, TaskStatus::Completed, "09:04:25");
        let d = s.enter(call, "hotline", None, "09:05:00");
        s.leave(d, TaskStatus::Abandoned, "09:05:50");

        let callback = TaskKind::NewSignupCallback;
        let e = s.enter(callback, "callbacks", Some("09:15:00"), "09:00:00");
        s.event(FloorEvent::Requeued { task: e, at: at("09:04:00") }); // declined: waits again from 09:04
        s.answer(e, 0, "09:10:00");
        s.leave(e, TaskStatus::Completed, "09:12:00");
        s.enter(callback, "callbacks", Some("09:20:00"), "09:00:00");
        s.enter(callback, "callbacks", Some("10:00:00"), "09:20:00");
        s.event(FloorEvent::Agent { agent: s.agents[1], status: AgentStatus::Offline, at: at("09:25:00") });
        s
    }
}

#[test]
fn a_scripted_morning_gives_the_hand_computed_figures() {
    let mut s = Script::morning();
    let f = s.figures.snapshot(at("09:30:00"), midnight());

    // Calls: 2 answered, 2 abandoned: abandon rate 50 % (over 25 %: red);
    // 1 of 4 answered within 20 s: service level 25 % (under 80 %: red).
    let today = &f.centre.today;
    assert_eq!((today.answered, today.abandoned, today.answered_within_threshold), (2, 2, 1));
    assert_eq!(f.centre.abandon_rate, Some(Judged { value: 0.5, target: 0.25, breached: true }));
    assert_eq!(f.centre.service_level, Some(Judged { value: 0.25, target: 0.8, breached: true }));
    // Nothing in the last 15 minutes (09:15-09:30); everything in the last hour.
    assert_eq!((f.centre.last_15_min.answered, f.centre.last_15_min.abandoned), (0, 0));
    assert_eq!(f.centre.last_15_min.abandon_rate, None);
    assert_eq!(f.centre.last_60_min, f.centre.today);

    // First response: (8 + 25) / 2 = 16.5 s, score 90. Average response over
    // every answer: 8 s, 25 s and the callback's 6 min from its re-queue at
    // 09:04 = (8 + 25 + 360) / 3 = 131 s, score 60.
    assert_eq!(f.centre.first_response, Some(Response { average_ms: 16_500, score: 90 }));
    assert_eq!(f.centre.average_response, Some(Response { average_ms: 131_000, score: 60 }));

    // Callbacks: done 1 (by 09:12, deadline 09:15), overdue 1 (09:20), due 1 (10:00).
    assert_eq!(
        f.centre.callbacks,
        CallbackFigures { due: 1, overdue: 1, done_today: 1, done_within_deadline_today: 1 }
    );

    // Queues.
    let hotline = f.kinds.iter().find(|k| k.kind == TaskKind::InboundCall).unwrap();
    assert_eq!((hotline.waiting, hotline.entered_today, hotline.answered_today, hotline.abandoned_today), (0, 4, 2, 2));
    let callbacks = f.kinds.iter().find(|k| k.kind == TaskKind::NewSignupCallback).unwrap();
    assert_eq!((callbacks.waiting, callbacks.longest_wait_secs), (2, 30 * 60));
    assert_eq!((callbacks.oldest_deadline, callbacks.secs_to_breach), (Some(at("09:20:00")), Some(-600)));

    // Agents: the first handled the 09:00 call (180 s) and the callback (120 s):
    // 2, average 150 s; the second one call of 120 s, offline for 5 minutes.
    let agent = |i: usize| f.agents.iter().find(|a| a.agent == s.agents[i]).unwrap().clone();
    assert_eq!((agent(0).handled_today, agent(0).average_handling_secs), (2, Some(150)));
    assert_eq!((agent(0).status.clone(), agent(0).secs_in_status), (AgentStatus::Available, 35 * 60));
    assert_eq!((agent(1).handled_today, agent(1).average_handling_secs), (1, Some(120)));
    assert_eq!((agent(1).status.clone(), agent(1).secs_in_status), (AgentStatus::Offline, 5 * 60));
}

#[test]
fn a_new_day_starts_its_counts_afresh_and_keeps_the_live_work() {
    let mut s = Script::morning();
    let next_midnight = midnight() + SignedDuration::from_hours(24);
    let f = s.figures.snapshot(next_midnight + SignedDuration::from_mins(1), next_midnight);
    assert_eq!((f.centre.today.answered, f.centre.today.abandoned), (0, 0));
    assert_eq!((f.centre.abandon_rate, f.centre.first_response.clone()), (None, None));
    assert_eq!(
        (f.centre.callbacks.done_today, f.centre.callbacks.overdue),
        (0, 2),
        "both waiting callbacks now overdue"
    );
    let callbacks = f.kinds.iter().find(|k| k.kind == TaskKind::NewSignupCallback).unwrap();
    assert_eq!((callbacks.waiting, callbacks.entered_today), (2, 0));
    assert!(f.agents.iter().all(|a| a.handled_today == 0));
}

#[test]
fn the_hour_window_drops_calls_as_they_age() {
    let mut s = Script::morning();
    let f = s.figures.snapshot(at("10:03:00"), midnight());
    // The hour back to 09:03: the answers at 09:00:08 and 09:02:25 are out,
    // the 09:05:50 abandon is still in.
    assert_eq!((f.centre.last_60_min.answered, f.centre.last_60_min.abandoned), (0, 1));
    assert_eq!(f.centre.last_60_min.abandon_rate, Some(1.0));
    assert_eq!(f.centre.today.answered + f.centre.today.abandoned, 4, "today keeps them");
}

#[test]
fn a_queue_nobody_serving_it_is_on_the_line_for_is_uncovered() {
    let (li, wang, sun) = (UserId::new(), UserId::new(), UserId::new());
    let agent = |agent, status| AgentFigures {
        agent,
        status,
        since: midnight(),
        secs_in_status: 0,
        handled_today: 0,
        average_handling_secs: None,
        talking_since: None,
        call_past_limit: false,
    };
    let lunch = AgentStatus::Break(crate::domain::BreakReason::new("lunch").unwrap());
    let agents = [agent(li, AgentStatus::WrapUp), agent(wang, lunch), agent(sun, AgentStatus::Offline)];
    let coverage = BTreeMap::from([
        ("callbacks".to_owned(), vec![wang, sun]),
        ("complaints".to_owned(), vec![]),
        ("hotline".to_owned(), vec![li, wang]),
    ]);
    assert_eq!(uncovered(&coverage, &agents), ["callbacks", "complaints"]);
    assert_eq!(uncovered(&BTreeMap::new(), &agents), Vec::<String>::new(), "closed: nothing to cover");
}

#[test]
fn a_placed_call_past_the_limit_shows_until_it_ends() {
    let mut s = Script::new();
    s.figures = Figures::new(FigureRules::default(), midnight()).with_call_limit(SignedDuration::from_secs(300));
    let agent = s.agents[0];
    s.event(FloorEvent::Agent { agent, status: AgentStatus::Busy, at: at("09:00:00") });
    s.event(FloorEvent::Talking { agent, since: Some(at("09:00:10")), at: at("09:00:10") });
    let board = s.figures.snapshot(at("09:05:09"), midnight());
    assert_eq!((board.centre.calls_past_limit, board.agents[0].call_past_limit), (0, false));
    assert_eq!(board.agents[0].talking_since, Some(at("09:00:10")));
    let board = s.figures.snapshot(at("09:05:10"), midnight());
    assert_eq!((board.centre.calls_past_limit, board.agents[0].call_past_limit), (1, true));
    s.event(FloorEvent::Talking { agent, since: None, at: at("09:06:00") });
    let board = s.figures.snapshot(at("09:06:01"), midnight());
    assert_eq!((board.centre.calls_past_limit, board.agents[0].talking_since), (0, None));
}
