//! The same checks on SQLite and on PostgreSQL.

use jiff::Timestamp;

use super::*;
use crate::domain::{AgentStatus, BreakReason, Channel, Outcome, Phone, Role, TaskId, TaskKind, TaskStatus, UserId};
use crate::rules::customer_file::{self, CustomerFile, CustomerSettings, FilePatch};
use crate::rules::dispatch::Record;
use crate::rules::dispatch::{QueueIdx, TaskPlan};
use crate::testing::TestDb;

pub(super) fn now() -> Timestamp {
    "2026-03-02T02:00:00Z".parse().unwrap()
}

pub(super) fn new_user(name: &str) -> NewUser {
    NewUser {
        work_number: None,
        username: name.into(),
        role: Role::Agent,
        password_hash: "x".into(),
        display_name: name.to_uppercase(),
        sip_uri: Some("sip:1001@pbx".into()),
        skills: vec!["hotline".into(), "callbacks".into()],
        levels: Default::default(),
        voice_capacity: 1,
        back_office_capacity: 2,
    }
}

fn new_case(phone: &str, owner: UserId) -> NewCase {
    let received_at = now();
    NewCase {
        id: crate::domain::CaseId::new(),
        channel: crate::domain::CaseChannel::Forum,
        customer_phone: Phone::parse(phone).unwrap(),
        customer_name: None,
        merchant: "Sunny Tiles".into(),
        category: "late delivery".into(),
        brand: None,
        major: false,
        occurred_at: None,
        place: Some("expo hall 2".into()),
        description: "tiles promised for Monday never came".into(),
        owner,
        received_at,
        deadlines: crate::rules::cases::Deadlines {
            answer_by: received_at + jiff::SignedDuration::from_hours(24),
            merchant_reply_by: Some(received_at + jiff::SignedDuration::from_hours(30)),
        },
        created_by: Some(owner),
        department: None,
        follows: None,
    }
}

pub(super) fn new_task(phone: &str, kind: TaskKind) -> TaskDraft {
    TaskDraft {
        id: TaskId::new(),
        kind,
        queue: "callbacks".into(),
        plan: TaskPlan {
            priority: 90,
            queue: QueueIdx(1),
            channel: Channel::Voice,
            deadline: Some(now() + jiff::SignedDuration::from_mins(15)),
        },
        customer_phone: Phone::parse(phone).unwrap(),
        reason: Some("registered".into()),
        created_at: now(),
        created_by: None,
        not_before: None,
        reserved: None,
        avoid_agent: None,
    }
}

async fn lifecycle(store: Store) {
    // Users: unique names, round trip, patch.
    let alice = store.create_user(new_user("alice"), now()).await.unwrap();
    assert!(matches!(store.create_user(new_user("alice"), now()).await, Err(StoreError::Conflict("username"))));
    assert_eq!(store.user_by_name("alice").await.unwrap().unwrap(), alice);
    let patched = store
        .update_user(alice.id, UserPatch { skills: Some(vec!["travel".into()]), ..Default::default() }, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(patched.skills, vec!["travel"]);
    assert_eq!(patched.sip_uri.as_deref(), Some("sip:1001@pbx"));

    // A task through offer, decline, offer, accept and completion.
    let t = new_task("13800138000", TaskKind::NewSignupCallback);
    store.insert_task(&t).await.unwrap();
    assert!(matches!(store.insert_task(&t).await, Err(StoreError::Conflict("task"))));
    let at = now();
    store
        .apply(&[
            Record::TaskOffered { task: t.id, agent: alice.id, at },
            Record::TaskReturned {
                task: t.id,
                agent: alice.id,
                event: crate::domain::ReturnReason::Declined,
                note: None,
                at,
            },
            Record::TaskOffered { task: t.id, agent: alice.id, at },
            Record::TaskAssigned { task: t.id, agent: alice.id, at },
            Record::AgentStatus { agent: alice.id, status: AgentStatus::Busy, at },
        ])
        .await
        .unwrap();
    let live = store.live_tasks().await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].0.status, TaskStatus::Assigned);
    assert_eq!(live[0].1, AttemptsSoFar::default(), "a call in progress is not an attempt made yet");
    store
        .apply(&[
            Record::TaskClosed {
                task: t.id,
                status: TaskStatus::Completed,
                agent: Some(alice.id),
                outcome: Some(Outcome::Reached),
                summary: Some("confirmed two seats".into()),
                at,
            },
            Record::AgentStatus { agent: alice.id, status: AgentStatus::Break(BreakReason::new("lunch").unwrap()), at },
        ])
        .await
        .unwrap();
    let rec = store.task(t.id).await.unwrap().unwrap();
    assert_eq!(rec.status, TaskStatus::Completed);
    assert_eq!(rec.outcome, Some(Outcome::Reached));
    assert_eq!(rec.attempts.len(), 1);
    assert_eq!(rec.attempts[0].summary.as_deref(), Some("confirmed two seats"));
    let events: Vec<&str> = rec.events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["created", "offered", "declined", "offered", "accepted", "completed"]);
    assert!(store.live_tasks().await.unwrap().is_empty());
    let alice = store.user(alice.id).await.unwrap().unwrap();
    assert_eq!(alice.status, AgentStatus::Break(BreakReason::new("lunch").unwrap()));

    // Filters.
    let t_id = t.id;
    let open = new_task("13800138000", TaskKind::ComplaintFollowUp);
    store.insert_task(&open).await.unwrap();
    let f = |status| TaskFilter { status, limit: 50, ..Default::default() };
    assert_eq!(store.tasks(&f(Some(TaskStatus::Completed))).await.unwrap().len(), 1);
    assert_eq!(store.tasks(&f(Some(TaskStatus::Waiting))).await.unwrap()[0].id, open.id);
    let all = store.tasks(&f(None)).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().find(|t| t.id == t_id).unwrap().attempts.len(), 1);
    let mine = TaskFilter { agent: Some(alice.id), limit: 50, ..Default::default() };
    assert_eq!(store.tasks(&mine).await.unwrap().len(), 1);

    // The customer profile the screen-pop shows.
    let phone = Phone::parse("13800138000").unwrap();
    store.insert_case(&new_case("13800138000", alice.id)).await.unwrap();
    let set = |name: Option<&str>, notes: Option<&str>| {
        let patch = FilePatch { name: name.map(str::to_owned), notes: notes.map(str::to_owned), ..Default::default() };
        let own = phone.clone();
        move |before: &CustomerFile| customer_file::apply(&CustomerSettings::default(), &own, before, &patch)
    };
    store.update_customer(&phone, now(), None, set(Some("Wang Li"), None)).await.unwrap().unwrap();
    store.update_customer(&phone, now(), Some(alice.id), set(None, Some("prefers mornings"))).await.unwrap().unwrap();
    let p = store.customer_profile(&phone).await.unwrap();
    let c = p.customer.unwrap();
    assert_eq!((c.file.name.as_deref(), c.file.notes.as_deref()), (Some("Wang Li"), Some("prefers mornings")));
    let history = store.customer_changes(&phone).await.unwrap();
    let seen: Vec<(&str, Option<&str>)> = history.iter().map(|h| (h.field.as_str(), h.new.as_deref())).collect();
    assert_eq!(seen, [("notes", Some("prefers mornings")), ("name", Some("Wang Li"))], "newest first");
    assert_eq!((history[0].changed_by, history[1].changed_by), (Some(alice.id), None));
    assert_eq!(p.past_calls.len(), 1);
    assert_eq!(p.past_calls[0].agent, "ALICE");
    assert_eq!(p.open_cases.len(), 1);
    assert!(p.registrations.is_empty());
    // Its registrations, newest first, so the agent sees what the caller signed up for.
    for (event, days) in [("expo-may", 1), ("expo-june", 2)] {
        let r = NewRegistration {
            customer_phone: phone.clone(),
            customer_kind: "new",
            event_id: event.into(),
            event_date: jiff::civil::date(2026, 5, 12),
            event_kind: "main",
            source: Some("website".into()),
            registered_at: now() + jiff::SignedDuration::from_hours(days),
            registered_by: None,
        };
        store.add_registration(&r, &[]).await.unwrap();
    }
    let p = store.customer_profile(&phone).await.unwrap();
    let seen: Vec<(&str, &str)> =
        p.registrations.iter().map(|r| (r.event_id.as_str(), r.event_date.as_str())).collect();
    assert_eq!(seen, [("expo-june", "2026-05-12"), ("expo-may", "2026-05-12")]);

    // Missed calls: one backlog entry per caller.
    for (caller, minute) in [("1390000", 1), ("1390000", 5), ("1380000", 3)] {
        let call = MissedCall {
            caller: Phone::parse(caller).unwrap(),
            called: "4000".into(),
            queue: "hotline".into(),
            reason: crate::domain::MissReason::Abandoned,
            task: None,
            at: now() + jiff::SignedDuration::from_mins(minute),
        };
        store.record_missed_call(&call).await.unwrap();
    }
    let backlog = store.missed_callers(now()).await.unwrap();
    let summary: Vec<(&str, u32)> = backlog.iter().map(|m| (m.caller.as_str(), m.calls)).collect();
    assert_eq!(summary, [("1390000", 2), ("1380000", 1)]);

    // Secrets are created once.
    let s1 = store.secret("token").await.unwrap();
    assert_eq!(store.secret("token").await.unwrap(), s1);
    assert_eq!(s1.len(), 64);
    store.close().await;
}

#[tokio::test]
async fn lifecycle_on_sqlite() {
    let db = TestDb::sqlite();
    lifecycle(db.store().await).await;
}

#[tokio::test]
async fn lifecycle_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    lifecycle(db.store().await).await;
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = TestDb::sqlite();
    let store = db.store().await;
    store.migrate().await.unwrap();
    let row = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations").fetch_one(store.pool()).await.unwrap();
    assert_eq!(row.try_get::<i64, _>("n").unwrap(), 29);
}

async fn checkpoint_runs(store: Store) {
    let phone = |s: &str| Phone::parse(s).unwrap();
    let a = store.add_reported_miss(&phone("13900000001"), "4000", "hotline", now(), now()).await.unwrap();
    let b = store.add_reported_miss(&phone("13900000002"), "4000", "hotline", now(), now()).await.unwrap();
    assert_eq!(store.missed_backlog().await.unwrap(), [a.clone(), b.clone()]);
    assert_eq!(store.last_checkpoint_run().await.unwrap(), None);
    let checkpoint = now() + jiff::SignedDuration::from_hours(1);
    let callback = new_task("13900000001", TaskKind::MissedCallCallback);
    let run = [CheckpointCallback { task: callback.clone(), misses: vec![a.id] }];
    assert!(store.fire_checkpoint(checkpoint, checkpoint, &run, &[b.id]).await.unwrap());
    assert!(store.missed_backlog().await.unwrap().is_empty());
    assert_eq!(store.last_checkpoint_run().await.unwrap(), Some(checkpoint));
    assert_eq!(store.task(callback.id).await.unwrap().unwrap().status, TaskStatus::Waiting);
    // The same checkpoint again (another node, a restart): refused, nothing written.
    let again = new_task("13900000002", TaskKind::MissedCallCallback);
    let run = [CheckpointCallback { task: again.clone(), misses: vec![b.id] }];
    assert!(!store.fire_checkpoint(checkpoint, checkpoint, &run, &[]).await.unwrap());
    assert!(store.task(again.id).await.unwrap().is_none());
    store.close().await;
}

#[tokio::test]
async fn checkpoint_runs_on_sqlite() {
    checkpoint_runs(TestDb::sqlite().store().await).await;
}

#[tokio::test]
async fn checkpoint_runs_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    checkpoint_runs(db.store().await).await;
}

async fn scheduled_tasks(store: Store) {
    let start = now() + jiff::SignedDuration::from_hours(1);
    let mut task = new_task("13900000001", TaskKind::EventCallback);
    task.not_before = Some(start);
    store.insert_task(&task).await.unwrap();
    let mut other = new_task("13900000002", TaskKind::EventCallback);
    other.not_before = Some(start + jiff::SignedDuration::from_mins(1));
    store.insert_task(&other).await.unwrap();
    let stored = store.task(task.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.not_before), (TaskStatus::Scheduled, Some(start)));
    assert!(store.live_tasks().await.unwrap().is_empty(), "a scheduled task is not live");
    assert!(store.due_scheduled(now()).await.unwrap().is_empty());
    assert_eq!(store.next_scheduled().await.unwrap(), Some(start));
    let due = store.due_scheduled(start).await.unwrap();
    assert_eq!(due.iter().map(|(t, n)| (t.id, n.clone())).collect::<Vec<_>>(), [(task.id, AttemptsSoFar::default())]);
    assert!(store.release_scheduled(task.id, start).await.unwrap());
    assert!(!store.release_scheduled(task.id, start).await.unwrap(), "released once");
    let released = store.task(task.id).await.unwrap().unwrap();
    assert_eq!((released.status, released.enqueued_at), (TaskStatus::Waiting, start));
    assert_eq!(released.events.last().unwrap().event, "released");
    assert!(store.cancel_scheduled(other.id, start, None).await.unwrap());
    assert!(!store.release_scheduled(other.id, start + jiff::SignedDuration::from_hours(1)).await.unwrap());
    assert_eq!(store.task(other.id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    assert_eq!(store.next_scheduled().await.unwrap(), None);

    // An unanswered attempt puts the task back on the schedule, with the
    // attempt and its outcome on record for the next screen-pop.
    let agent = UserId::new();
    let (tried, rang) = (start + jiff::SignedDuration::from_mins(5), start + jiff::SignedDuration::from_mins(6));
    let retry_at = rang + jiff::SignedDuration::from_mins(10);
    store
        .apply(&[
            Record::TaskOffered { task: task.id, agent, at: tried },
            Record::TaskAssigned { task: task.id, agent, at: tried },
            Record::TaskRetry {
                task: task.id,
                agent,
                outcome: Outcome::NoAnswer,
                summary: Some("rang out".into()),
                not_before: retry_at,
                at: rang,
            },
        ])
        .await
        .unwrap();
    let waiting = store.task(task.id).await.unwrap().unwrap();
    assert_eq!((waiting.status, waiting.not_before, waiting.agent_id), (TaskStatus::Scheduled, Some(retry_at), None));
    assert_eq!(waiting.attempts[0].outcome, Some(Outcome::NoAnswer));
    assert_eq!(waiting.events.last().unwrap().event, "retry_scheduled");
    assert!(store.due_scheduled(rang).await.unwrap().is_empty());
    let due = store.due_scheduled(retry_at).await.unwrap();
    let so_far =
        AttemptsSoFar { made: 1, first_at: Some(tried), last_outcome: Some(Outcome::NoAnswer), handover_note: None };
    assert_eq!(due.iter().map(|(t, n)| (t.id, n.clone())).collect::<Vec<_>>(), [(task.id, so_far)]);
    store.close().await;
}

#[tokio::test]
async fn scheduled_tasks_on_sqlite() {
    scheduled_tasks(TestDb::sqlite().store().await).await;
}

#[tokio::test]
async fn scheduled_tasks_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    scheduled_tasks(db.store().await).await;
}

async fn schedules_and_handover_notes(store: Store) {
    let li = store.create_user(new_user("li"), now()).await.unwrap();
    let wang = store.create_user(new_user("wang"), now()).await.unwrap();
    let week: ScheduleSpec = [("mon".to_owned(), vec!["09:00-17:00".to_owned()])].into();
    assert!(store.set_schedule(li.id, Some(&week)).await.unwrap());
    assert!(!store.set_schedule(UserId::new(), Some(&week)).await.unwrap(), "no such agent");
    assert_eq!(store.schedule(li.id).await.unwrap(), Some(week.clone()));
    assert_eq!(store.schedule(wang.id).await.unwrap(), None);
    assert_eq!(store.schedules().await.unwrap(), [(li.id, week)]);
    assert!(store.set_schedule(li.id, None).await.unwrap());
    assert!(store.schedules().await.unwrap().is_empty());

    let (first, second) = (now(), now() + jiff::SignedDuration::from_secs(1));
    assert!(store.set_handover_note(li.id, "first", first).await.unwrap());
    assert!(store.set_handover_note(li.id, "second", second).await.unwrap());
    // Clearing the note that was applied leaves a newer one alone.
    store.clear_handover_note(li.id, first).await.unwrap();
    assert_eq!(store.handover_note(li.id).await.unwrap(), Some(("second".to_owned(), second)));
    store.clear_handover_note(li.id, second).await.unwrap();
    assert_eq!(store.handover_note(li.id).await.unwrap(), None);
    store.close().await;
}

#[tokio::test]
async fn schedules_and_handover_notes_on_sqlite() {
    schedules_and_handover_notes(TestDb::sqlite().store().await).await;
}

#[tokio::test]
async fn schedules_and_handover_notes_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    schedules_and_handover_notes(db.store().await).await;
}

async fn cases_lifecycle(store: Store) {
    use crate::domain::{CaseDeadline, CaseStatus, CaseStep};
    let li = store.create_user(new_user("li"), now()).await.unwrap();
    let case = new_case("13900000001", li.id);
    store.insert_case(&case).await.unwrap();
    let stored = store.case(case.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.owner_id, stored.history.len()), (CaseStatus::Open, li.id, 1));
    assert_eq!(stored.merchant_reply_by, case.deadlines.merchant_reply_by);

    // A reminder is put before the owner once per deadline.
    let reminder = new_task("13900000001", TaskKind::ComplaintFollowUp);
    assert!(store.add_case_reminder(case.id, CaseDeadline::Answer, &reminder, now()).await.unwrap());
    let again = new_task("13900000001", TaskKind::ComplaintFollowUp);
    assert!(!store.add_case_reminder(case.id, CaseDeadline::Answer, &again, now()).await.unwrap());
    assert!(store.task(again.id).await.unwrap().is_none(), "nothing written the second time");
    assert!(store.task(reminder.id).await.unwrap().is_some());

    // A step based on the current version applies; one based on an older version does not.
    let seen = store.case(case.id).await.unwrap().unwrap().updated_at;
    let at = seen + jiff::SignedDuration::from_mins(5);
    let step = |step, status, seen, follow_up: Option<TaskDraft>| CaseStepWrite {
        case: case.id,
        seen,
        step,
        status,
        by: li.id,
        note: Some("told her the merchant will call".into()),
        new_owner: None,
        department: None,
        follow_up,
        satisfaction: None,
        at,
    };
    assert!(store.record_case_step(step(CaseStep::Answered, CaseStatus::Answered, seen, None)).await.unwrap());
    assert!(!store.record_case_step(step(CaseStep::Note, CaseStatus::Answered, seen, None)).await.unwrap(), "stale");
    let follow_up = new_task("13900000001", TaskKind::ComplaintFollowUp);
    let resolve = step(CaseStep::Resolved, CaseStatus::Resolved, at, Some(follow_up.clone()));
    assert!(store.record_case_step(resolve).await.unwrap());
    let done = store.case(case.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.answered_at, done.resolved_at), (CaseStatus::Resolved, Some(at), Some(at)));
    assert_eq!(done.follow_up_task, Some(follow_up.id));
    assert_eq!(done.reminded, [CaseDeadline::Answer]);
    let steps: Vec<&str> = done.history.iter().map(|e| e.step.as_str()).collect();
    assert_eq!(steps, ["received", "reminder", "answered", "resolved"]);
    assert!(store.task(follow_up.id).await.unwrap().is_some(), "the callback is stored with the step");
    let unresolved = CaseFilter { unresolved: true, limit: 10, ..Default::default() };
    assert!(store.cases(&unresolved).await.unwrap().is_empty());
    let mine = CaseFilter { owner: Some(li.id), limit: 10, ..Default::default() };
    assert_eq!(store.cases(&mine).await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn cases_on_sqlite() {
    cases_lifecycle(TestDb::sqlite().store().await).await;
}

#[tokio::test]
async fn cases_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    cases_lifecycle(db.store().await).await;
}

/// PostgreSQL over TLS: `sslmode=require` encrypts (the server's own
/// statistics say so), and `verify-full` checks the certificate, refusing
/// a self-signed one that no trusted root vouches for.
#[tokio::test]
async fn postgres_over_tls() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let store = Store::connect(&format!("{}&sslmode=require", db.url)).await.unwrap();
    let row = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetch_one(&store.pool).await;
    match row {
        Ok(row) => assert!(row.try_get::<bool, _>("ssl").unwrap(), "sslmode=require connected without TLS"),
        Err(e) => panic!("reading pg_stat_ssl: {e}"),
    }
    store.close().await;
    let refused = Store::connect(&format!("{}&sslmode=verify-full", db.url)).await;
    let err = refused.err().expect("a certificate no trusted root vouches for must be refused").to_string();
    assert!(err.to_lowercase().contains("certificate"), "refused for another reason: {err}");
}
