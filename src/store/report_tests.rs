//! A scripted day on a virtual clock, written to the store as the server
//! would write it, then reported: every figure below was worked out by hand
//! from the script. The same on SQLite and PostgreSQL.

use jiff::civil::{Date, Time, date};
use jiff::{SignedDuration, Timestamp};

use super::tests::new_user;
use super::*;
use crate::config::Config;
use crate::domain::ReportPeriod;
use crate::domain::{
    CaseChannel, CaseId, CaseStatus, CaseStep, Channel, DepartmentId, Outcome, Phone, TaskId, TaskKind, TaskStatus,
    UserId,
};
use crate::rules::cases::Deadlines;
use crate::rules::dispatch::Record;
use crate::rules::dispatch::{QueueIdx, TaskPlan};
use crate::rules::reports::satisfaction::SatisfactionRate;
use crate::rules::reports::{self, Report};
use crate::testing::TestDb;

pub(super) const DAY: Date = date(2026, 3, 3); // a Tuesday

fn at(h: i8, m: i8, s: i8) -> Timestamp {
    Config::default().rules().unwrap().calendar.at(DAY, Time::new(h, m, s, 0).unwrap())
}

pub(super) fn task(kind: TaskKind, created_at: Timestamp, deadline: Option<Timestamp>) -> TaskDraft {
    TaskDraft {
        id: TaskId::new(),
        kind,
        queue: if kind == TaskKind::InboundCall { "hotline" } else { "callbacks" }.into(),
        plan: TaskPlan { priority: 50, queue: QueueIdx(0), channel: Channel::Voice, deadline },
        customer_phone: Phone::parse("13800138000").unwrap(),
        reason: None,
        created_at,
        created_by: None,
        not_before: None,
        reserved: None,
        avoid_agent: None,
    }
}

fn case(merchant: &str, channel: CaseChannel, category: &str, major: bool, received_at: Timestamp) -> NewCase {
    NewCase {
        id: CaseId::new(),
        channel,
        customer_phone: Phone::parse("13900139000").unwrap(),
        customer_name: None,
        merchant: merchant.into(),
        category: category.into(),
        brand: (merchant == "Sunny Tiles").then(|| "Sunny".into()),
        major,
        occurred_at: None,
        place: None,
        description: "scripted".into(),
        owner: UserId::new(),
        received_at,
        deadlines: Deadlines {
            answer_by: received_at + SignedDuration::from_hours(24),
            merchant_reply_by: matches!(channel, CaseChannel::Forum | CaseChannel::Weibo)
                .then(|| received_at + SignedDuration::from_hours(1)),
        },
        created_by: None,
        department: None,
        follows: None,
    }
}

async fn step(store: &Store, c: &NewCase, seen: Timestamp, step: CaseStep, status: CaseStatus, when: Timestamp) {
    let w = CaseStepWrite {
        case: c.id,
        seen,
        step,
        status,
        by: c.owner,
        note: None,
        new_owner: None,
        department: None,
        follow_up: None,
        satisfaction: step.satisfaction().map(|satisfied| crate::store::SatisfactionAnswer {
            satisfied,
            owner: c.owner,
            department: c.department.map(|(d, _)| d),
        }),
        at: when,
    };
    assert!(store.record_case_step(w).await.unwrap());
}

/// Fires a missed-call checkpoint as the server does: the centre's own
/// release rule over the backlog, stored with its claim. Returns the callbacks.
async fn checkpoint(store: &Store, when: Timestamp) -> Vec<TaskId> {
    let rules = Config::default().rules().unwrap();
    let checkpoints = Config::default().checkpoints().unwrap();
    let backlog: Vec<_> = store.missed_backlog().await.unwrap().iter().map(|e| e.miss()).collect();
    let answered = store.answered_backlog_callers().await.unwrap();
    let release = crate::rules::followup::release(&rules.calendar, &checkpoints, &backlog, &answered, when);
    let runs: Vec<CheckpointCallback> = release
        .callbacks
        .iter()
        .map(|cb| {
            let plan = rules.plan(TaskKind::MissedCallCallback, when, None, Some(cb.deadline));
            let row = TaskDraft::new(&rules, TaskKind::MissedCallCallback, plan, cb.caller.clone(), None, when, None);
            CheckpointCallback { task: row, misses: cb.misses.iter().map(|m| m.id).collect() }
        })
        .collect();
    assert!(store.fire_checkpoint(when, when, &runs, &release.got_through).await.unwrap());
    runs.iter().map(|r| r.task.id).collect()
}

/// Writes the day; returns the overdue callbacks' ids, earliest deadline first.
pub(super) async fn script(store: &Store) -> [TaskId; 2] {
    let li = store.create_user(new_user("li"), at(8, 0, 0)).await.unwrap().id;
    let wang = store.create_user(new_user("wang"), at(8, 0, 0)).await.unwrap().id;
    let offered = |task, agent, at| Record::TaskOffered { task, agent, at };
    let accepted = |task, agent, at| Record::TaskAssigned { task, agent, at };
    let done = |task, agent, at| Record::TaskClosed {
        task,
        status: TaskStatus::Completed,
        agent: Some(agent),
        outcome: Some(Outcome::Reached),
        summary: None,
        at,
    };
    // Four calls: answered after 5 s, 15 s and 30 s (declined once on the
    // way), and one the caller gave up on after 40 s.
    let calls: Vec<TaskDraft> =
        [at(9, 0, 0), at(9, 10, 0), at(9, 20, 0), at(9, 30, 0)].map(|t| task(TaskKind::InboundCall, t, None)).into();
    store.insert_tasks(&calls).await.unwrap();
    let [c1, c2, c3, c4] = [0, 1, 2, 3].map(|i| calls[i].id);
    store
        .apply(&[
            offered(c1, li, at(9, 0, 3)),
            accepted(c1, li, at(9, 0, 5)),
            done(c1, li, at(9, 3, 5)),
            offered(c2, wang, at(9, 10, 14)),
            accepted(c2, wang, at(9, 10, 15)),
            done(c2, wang, at(9, 16, 15)),
            offered(c3, li, at(9, 20, 20)),
            Record::TaskReturned {
                task: c3,
                agent: li,
                event: crate::domain::ReturnReason::Declined,
                note: None,
                at: at(9, 20, 25),
            },
            offered(c3, li, at(9, 20, 28)),
            accepted(c3, li, at(9, 20, 30)),
            done(c3, li, at(9, 22, 30)),
            Record::TaskClosed {
                task: c4,
                status: TaskStatus::Abandoned,
                agent: None,
                outcome: None,
                summary: None,
                at: at(9, 30, 40),
            },
        ])
        .await
        .unwrap();
    // Three missed calls (the caller who gave up, two later ones): the 10:00
    // checkpoint makes a callback that wang completes, the 13:00 one a
    // callback nobody takes; the 14:10 miss waits for 15:00.
    for (phone, when) in
        [("13800138004", at(9, 30, 40)), ("13700000001", at(11, 20, 0)), ("13700000002", at(14, 10, 0))]
    {
        store.add_reported_miss(&Phone::parse(phone).unwrap(), "4000", "hotline", when, when).await.unwrap();
    }
    let [m1] = checkpoint(store, at(10, 0, 0)).await[..] else { panic!("one callback at 10:00") };
    store
        .apply(&[offered(m1, wang, at(10, 0, 30)), accepted(m1, wang, at(10, 0, 34)), done(m1, wang, at(10, 5, 0))])
        .await
        .unwrap();
    let [m2] = checkpoint(store, at(13, 0, 0)).await[..] else { panic!("one callback at 13:00") };
    // Three sign-up callbacks with 15-minute deadlines: one done in time on
    // its second attempt, one declined and left to run late, one cancelled.
    let k1 = task(TaskKind::NewSignupCallback, at(10, 0, 0), Some(at(10, 15, 0)));
    let k2 = task(TaskKind::NewSignupCallback, at(10, 30, 0), Some(at(10, 45, 0)));
    let k3 = task(TaskKind::NewSignupCallback, at(11, 0, 0), Some(at(11, 15, 0)));
    store.insert_tasks(&[k1.clone(), k2.clone(), k3.clone()]).await.unwrap();
    store
        .apply(&[
            offered(k1.id, li, at(10, 1, 0)),
            accepted(k1.id, li, at(10, 1, 10)),
            Record::TaskRetry {
                task: k1.id,
                agent: li,
                outcome: Outcome::NoAnswer,
                summary: None,
                not_before: at(10, 12, 10),
                at: at(10, 2, 10),
            },
        ])
        .await
        .unwrap();
    assert!(store.release_scheduled(k1.id, at(10, 12, 10)).await.unwrap());
    store
        .apply(&[
            offered(k1.id, li, at(10, 12, 20)),
            accepted(k1.id, li, at(10, 12, 25)),
            done(k1.id, li, at(10, 14, 0)),
            offered(k2.id, li, at(10, 31, 0)),
            Record::TaskReturned {
                task: k2.id,
                agent: li,
                event: crate::domain::ReturnReason::Declined,
                note: None,
                at: at(10, 31, 5),
            },
            Record::TaskClosed {
                task: k3.id,
                status: TaskStatus::Cancelled,
                agent: None,
                outcome: None,
                summary: None,
                at: at(11, 5, 0),
            },
        ])
        .await
        .unwrap();
    // Complaints: Sunny Tiles twice (forum, answered in time, merchant late;
    // Weibo, merchant never replied), Blue Lake once by phone, answered late
    // and sent to the after-sales department, whose lead is Wang.
    let after_sales = DepartmentId::new();
    let department =
        DepartmentWrite { id: after_sales, name: "售后部".into(), lead: wang, members: vec![wang], at: at(8, 0, 0) };
    assert!(store.write_department(&department, true).await.unwrap());
    let mut a = case("Sunny Tiles", CaseChannel::Forum, "late delivery", true, at(9, 0, 0));
    a.owner = li;
    let b = case("Sunny Tiles", CaseChannel::Weibo, "quality", false, at(10, 0, 0));
    let mut c = case("Blue Lake", CaseChannel::Phone, "quality", false, at(11, 0, 0));
    c.deadlines.answer_by = at(11, 5, 0);
    (c.owner, c.department) = (wang, Some((after_sales, at(22, 30, 0))));
    for x in [&a, &b, &c] {
        store.insert_case(x).await.unwrap();
    }
    step(store, &a, a.received_at, CaseStep::Answered, CaseStatus::Answered, at(12, 0, 0)).await;
    step(store, &a, at(12, 0, 0), CaseStep::MerchantReplied, CaseStatus::Answered, at(14, 0, 0)).await;
    step(store, &c, c.received_at, CaseStep::Answered, CaseStatus::Answered, at(11, 30, 0)).await;
    // Satisfaction calls: A's customer is satisfied; C's is not at first
    // (the case reopens), then is, after a second resolution.
    step(store, &a, at(14, 0, 0), CaseStep::Resolved, CaseStatus::Resolved, at(15, 0, 0)).await;
    step(store, &a, at(15, 0, 0), CaseStep::Satisfied, CaseStatus::Resolved, at(16, 0, 0)).await;
    step(store, &c, at(11, 30, 0), CaseStep::Resolved, CaseStatus::Resolved, at(12, 0, 0)).await;
    step(store, &c, at(12, 0, 0), CaseStep::NotSatisfied, CaseStatus::Answered, at(12, 30, 0)).await;
    step(store, &c, at(12, 30, 0), CaseStep::Resolved, CaseStatus::Resolved, at(13, 0, 0)).await;
    step(store, &c, at(13, 0, 0), CaseStep::Satisfied, CaseStatus::Resolved, at(13, 30, 0)).await;
    // Recurring work: 30 lost-sale analyses each; li does them all, wang 12.
    // A second release of the same day for li is not made.
    for (agent, done) in [(li, 30), (wang, 12)] {
        let t = task(TaskKind::CommunityOutreach, at(9, 0, 0), None);
        let work = crate::store::NewRecurringWork {
            id: t.id.to_string(),
            rule: "lost_sales".into(),
            label: "未成交分析".into(),
            day: DAY,
            agent: Some(agent),
            queue: "callbacks".into(),
            target: 30,
            due_at: at(22, 0, 0),
            at: at(9, 0, 0),
            task: t,
        };
        assert!(store.release_recurring(&work).await.unwrap());
        let mut again = work.clone();
        (again.id, again.task.id) = ("another".into(), TaskId::new());
        assert!(!store.release_recurring(&again).await.unwrap(), "released once a day");
        assert!(store.set_recurring_done(&work.id, done, agent, at(21, 0, 0)).await.unwrap());
    }
    assert!(!store.event_on(DAY).await.unwrap(), "no event that day");
    // B turns out to be a major complaint: on the weekly warning while open.
    step(store, &b, b.received_at, CaseStep::MarkedMajor, CaseStatus::Open, at(17, 0, 0)).await;
    [k2.id, m2]
}

async fn report(store: &Store) -> Report {
    period_report(store, ReportPeriod::Daily, date(2026, 3, 10)).await
}

/// The period of `DAY`, reported at the start of `today`.
pub(super) async fn period_report(store: &Store, period: ReportPeriod, today: Date) -> Report {
    let config = Config::default();
    let calendar = config.rules().unwrap().calendar;
    let days = reports::period_dates(period, DAY, today).unwrap();
    // Reported later: the period is over.
    let bounds = reports::period_bounds(&calendar, days.0, days.1, calendar.at(today, Time::midnight()));
    let inputs = store.report_inputs(bounds.0, bounds.1, days).await.unwrap();
    reports::build(period, days, bounds, &calendar, config.figures.clone(), config.cases.lists(), inputs)
}

async fn scripted_day(store: Store) {
    let overdue = script(&store).await;
    let r = report(&store).await;
    let calls = &r.calls;
    assert_eq!((calls.today.answered, calls.today.abandoned), (3, 1));
    assert_eq!(calls.today.abandon_rate, Some(0.25));
    assert!(!calls.abandon_rate.unwrap().breached, "25 % is the limit, not over it");
    assert_eq!((calls.today.answered_within_threshold, calls.today.service_level), (2, Some(0.5)));
    assert!(calls.service_level.unwrap().breached, "50 % against 80 %");
    let first = calls.first_response.as_ref().unwrap();
    assert_eq!((first.average_ms, first.score), (16_666, 90), "(5 + 15 + 30) / 3 s");
    let every = calls.average_response.as_ref().unwrap();
    assert_eq!((every.average_ms, every.score), (24_000, 80), "(5 + 15 + 5 + 34 + 70 + 15) / 6 s");
    assert_eq!((calls.callbacks.done_today, calls.callbacks.done_within_deadline_today), (2, 2));

    let m = r.missed;
    assert_eq!((m.received, m.called_back, m.got_through, m.waiting), (3, 2, 0, 1));
    let callbacks: Vec<_> = r.callbacks.iter().map(|k| (k.kind, k.due, k.done_in_time, k.late, k.attempts)).collect();
    assert_eq!(
        callbacks,
        [(TaskKind::MissedCallCallback, 2, 1, 1, 1), (TaskKind::NewSignupCallback, 2, 1, 1, 2)],
        "the 13:00 callback ran past 22:30; K2 past 10:45"
    );
    let k = &r.callbacks[1];
    assert_eq!(k.completion.map(|j| (j.value, j.breached)), Some((0.5, true)));
    assert_eq!((r.callbacks[0].attempts_per_callback, k.attempts_per_callback), (Some(0.5), Some(1.0)));
    assert_eq!(r.overdue.tasks, 2);
    let listed: Vec<String> = r.overdue.task_list.iter().map(|t| t.task_id.clone()).collect();
    assert_eq!(listed, overdue.map(|t| t.to_string()));
    assert_eq!((r.overdue.cases_answer_late, r.overdue.cases_merchant_late), (1, 2));

    let c = &r.complaints;
    assert_eq!((c.total, c.major), (3, 2), "B was marked major the same day");
    let keys = |v: &[reports::Count]| v.iter().map(|c| (c.key.clone(), c.count)).collect::<Vec<_>>();
    assert_eq!(keys(&c.by_channel), [("forum".into(), 1), ("phone".into(), 1), ("weibo".into(), 1)]);
    assert_eq!(keys(&c.by_category), [("quality".into(), 2), ("late delivery".into(), 1)]);
    assert_eq!(keys(&c.by_brand), [("Sunny".into(), 2), (String::new(), 1)]);
    assert_eq!(keys(&c.by_merchant), [("Sunny Tiles".into(), 2), ("Blue Lake".into(), 1)]);
    let ranking: Vec<_> = r
        .merchants
        .iter()
        .map(|m| (m.rank, m.merchant.as_str(), m.replies_due, m.replied_in_time, m.reply_score))
        .collect();
    assert_eq!(ranking, [(1, "Sunny Tiles", 2, 0, 60), (2, "Blue Lake", 0, 0, 100)]);

    let agents: Vec<_> = r
        .agents
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.handled,
                a.reached,
                a.average_handling_secs,
                a.calls_over_5_min,
                a.average_answer_ms,
                a.answer_score,
            )
        })
        .collect();
    assert_eq!(
        agents,
        [
            // 180 + 120 + 60 + 95 s over 4; answered after 2, 2, 10 and 5 s.
            ("LI", 4, 3, Some(113), 0, Some(4_750), Some(100)),
            // 360 + 266 s; answered after 1 and 4 s.
            ("WANG", 2, 2, Some(313), 1, Some(2_500), Some(100)),
        ]
    );
    // A node started that evening replays the day into the wallboard's
    // figures: they match the report's.
    let config = Config::default();
    let calendar = config.rules().unwrap().calendar;
    let evening = at(23, 0, 0);
    let dispatcher = crate::rules::dispatch::Dispatcher::new(config.rules().unwrap());
    let (mut figures, _) =
        crate::runtime::figures::starting_figures(&store, config.figures.clone(), &calendar, &dispatcher, evening)
            .await
            .unwrap();
    let board = figures.snapshot(evening, calendar.start_of_day(evening)).centre;
    assert_eq!(board.today, r.calls.today);
    assert_eq!(
        (board.first_response, board.average_response),
        (r.calls.first_response.clone(), r.calls.average_response.clone())
    );
    assert_eq!(
        (board.callbacks.done_today, board.callbacks.done_within_deadline_today),
        (r.calls.callbacks.done_today, r.calls.callbacks.done_within_deadline_today)
    );

    // The wallboard's escalations that evening: B's merchant has not replied
    // (due 11:00); B's customer is owed an answer only by 10:00 next day.
    let e = store.escalations(evening).await.unwrap();
    assert_eq!((e.car_orders, e.inn_orders, e.cases_unanswered, e.merchant_replies), (0, 0, 0, 1));
    let next_day = at(10, 0, 1) + SignedDuration::from_hours(24);
    assert_eq!(store.escalations(next_day).await.unwrap().cases_unanswered, 1);

    // Three satisfaction answers, two satisfied: 66.7 % against 98 %; by
    // department (after-sales first, then the case sent nowhere) and agent.
    let rate = |f: &SatisfactionRate| (f.asked, f.satisfied, f.rate.map(|j| (j.value, j.breached)));
    let s = &r.satisfaction;
    assert_eq!(rate(&s.centre), (3, 2, Some((2.0 / 3.0, true))));
    let departments: Vec<_> = s.by_department.iter().map(|d| (d.name.as_deref(), rate(&d.figures))).collect();
    assert_eq!(departments, [(Some("售后部"), (2, 1, Some((0.5, true)))), (None, (1, 1, Some((1.0, false))))]);
    let agents: Vec<_> = s.by_agent.iter().map(|a| (a.name.as_str(), rate(&a.figures))).collect();
    assert_eq!(agents, [("LI", (1, 1, Some((1.0, false)))), ("WANG", (2, 1, Some((0.5, true))))]);
    let departments = store.departments().await.unwrap();
    let (after_sales, members) = (departments[0].id, &departments[0].members);
    let filter = CaseFilter { department: Some(after_sales), limit: 10, ..Default::default() };
    let sent = store.cases(&filter).await.unwrap();
    assert_eq!(
        sent.iter().map(|c| (c.merchant.as_str(), c.satisfied)).collect::<Vec<_>>(),
        [("Blue Lake", Some(true))]
    );
    assert_eq!(members.len(), 1);

    // The weekly warning lists B, the major complaint still open; the daily
    // report nominates nobody, the month's does: Sunny Tiles for the black
    // list (two major complaints, no reply in time), Blue Lake for the red.
    let recurring: Vec<_> =
        r.recurring.iter().map(|w| (w.name.as_deref(), w.days, w.target, w.done, w.days_met)).collect();
    assert_eq!(recurring, [(Some("LI"), 1, 30, 30, 1), (Some("WANG"), 1, 30, 12, 0)]);
    let open: Vec<&str> = r.open_major.iter().map(|c| c.merchant.as_str()).collect();
    assert_eq!((open, r.open_major[0].status), (vec!["Sunny Tiles"], CaseStatus::Open));
    assert_eq!(r.nominations, None);
    let month = period_report(&store, ReportPeriod::Monthly, date(2026, 4, 2)).await;
    let n = month.nominations.as_ref().unwrap();
    let listed = |v: &[reports::lists::Nomination]| v.iter().map(|x| x.merchant.clone()).collect::<Vec<_>>();
    assert_eq!((listed(&n.black), listed(&n.red)), (vec!["Sunny Tiles".to_owned()], vec!["Blue Lake".to_owned()]));
    assert_eq!(n.black[0].why, ["2 major complaints", "reply score 60 (0 of 2 replies in time)"]);
    let csv = reports::csv::render(&month);
    assert!(csv.contains("\r\nblack_list_nomination,Sunny Tiles,why,2 major complaints; reply score 60"), "{csv}");
    // Unconfirmed, the wallboard reminds the supervisors from 10 April,
    // not before, and not once confirmed.
    let config = Config::default();
    let (calendar, lists) = (config.rules().unwrap().calendar, config.cases.lists());
    let on = |d: Date| calendar.at(d, Time::midnight());
    let unconfirmed = |now| crate::runtime::merchant_lists::unconfirmed(&store, &calendar, lists, now);
    assert_eq!(unconfirmed(on(date(2026, 4, 9)) + SignedDuration::from_hours(23)).await.unwrap(), None);
    assert_eq!(unconfirmed(on(date(2026, 4, 10))).await.unwrap(), Some(date(2026, 3, 1)));
    let confirmed = crate::store::ConfirmedLists {
        red: vec!["Blue Lake".into()],
        black: vec!["Sunny Tiles".into()],
        confirmed_by: UserId::new(),
        confirmed_at: on(date(2026, 4, 11)),
    };
    store.confirm_merchant_lists("2026-03", &confirmed).await.unwrap();
    assert_eq!(store.merchant_lists("2026-03").await.unwrap(), Some(confirmed));
    assert_eq!(unconfirmed(on(date(2026, 4, 12))).await.unwrap(), None);
    assert_eq!(unconfirmed(on(date(2026, 3, 12))).await.unwrap(), None, "February nominated nobody");

    let csv = reports::csv::render(&r);
    assert!(csv.contains("\r\nsatisfaction,centre,asked,3\r\n"), "{csv}");
    assert!(csv.starts_with("section,item,metric,value\r\n"));
    assert!(csv.contains("\r\ncalls,inbound,abandon_rate,0.25\r\n"), "{csv}");
    assert!(csv.contains("\r\nmissed_calls,all,waiting,1\r\n"), "{csv}");
    assert!(csv.contains("\r\nmerchant_ranking,Sunny Tiles,reply_score,60\r\n"), "{csv}");
    assert!(csv.contains("\r\ncomplaints_by_category,late delivery,count,1\r\n"), "{csv}");
}

#[tokio::test]
async fn a_scripted_day_reports_as_worked_out_by_hand() {
    scripted_day(TestDb::sqlite().store().await).await;
}

#[tokio::test]
async fn a_scripted_day_reports_the_same_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    scripted_day(db.store().await).await;
}
