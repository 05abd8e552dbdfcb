//! A batch folded into multi-row statements leaves the same tables as the
//! same changes written one at a time.

use jiff::Timestamp;
use proptest::prelude::*;
use sqlx::Row;

use super::*;
use crate::domain::{AgentStatus, BreakReason, Channel, Outcome, Phone, TaskId, TaskKind, TaskStatus, UserId};
use crate::rules::dispatch::Record;
use crate::rules::dispatch::{QueueIdx, TaskPlan};
use crate::testing::TestDb;

/// A small deterministic generator, so a failing seed replays exactly.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

#[derive(Clone, Copy)]
enum Stage {
    Waiting,
    Offered(usize),
    Assigned(usize),
    Closed,
}

/// Everything a random history needs: users, tasks, and the changes.
struct History {
    agents: Vec<UserId>,
    tasks: Vec<TaskDraft>,
    records: Vec<Record>,
    calls: Vec<CallWrite>,
}

fn history(seed: u64) -> History {
    let mut rng = Lcg(seed);
    let agents: Vec<UserId> = (0..1 + rng.below(3)).map(|_| UserId::new()).collect();
    let start: Timestamp = "2026-03-02T02:00:00Z".parse().unwrap();
    let tasks: Vec<TaskDraft> = (0..1 + rng.below(6))
        .map(|i| TaskDraft {
            id: TaskId::new(),
            kind: TaskKind::InboundCall,
            queue: "hotline".into(),
            plan: TaskPlan { priority: 100, queue: QueueIdx(0), channel: Channel::Voice, deadline: None },
            customer_phone: Phone::parse(&format!("1380000{i}")).unwrap(),
            reason: (i % 2 == 0).then(|| "call to 4000".into()),
            created_at: start,
            created_by: None,
            not_before: None,
            reserved: None,
            avoid_agent: None,
        })
        .collect();
    let mut stages = vec![Stage::Waiting; tasks.len()];
    let (mut records, mut calls) = (Vec::new(), Vec::new());
    for t in &tasks {
        let caller = Some(t.customer_phone.clone());
        calls.push(CallWrite::NewCall {
            task: t.clone(),
            sip_call_id: format!("{}@pbx", t.id),
            caller,
            called: "4000".into(),
        });
    }
    for step in 0..rng.below(40) {
        let at = start + jiff::SignedDuration::from_millis(step as i64 * 7);
        let i = rng.below(tasks.len());
        let task = tasks[i].id;
        let agent_at = |a: usize| agents[a % agents.len()];
        if rng.below(4) == 0 {
            let statuses = [AgentStatus::Available, AgentStatus::Busy, AgentStatus::WrapUp];
            let status = match rng.below(4) {
                3 => AgentStatus::Break(BreakReason::new("lunch").unwrap()),
                n => statuses[n].clone(),
            };
            records.push(Record::AgentStatus { agent: agent_at(rng.below(3)), status, at });
        }
        let call_write = match rng.below(6) {
            0 => Some(CallWrite::Redirected { task, agent: format!("a{}", rng.below(3)), at }),
            1 => Some(CallWrite::Answered { task, agent: format!("a{}", rng.below(3)), at }),
            2 => Some(CallWrite::Ended { task, outcome: CallOutcome::Abandoned, at }),
            3 => Some(CallWrite::Completed { task, at }),
            4 => Some(CallWrite::Missed(MissedCall {
                caller: tasks[i].customer_phone.clone(),
                called: "4000".into(),
                queue: "hotline".into(),
                reason: crate::domain::MissReason::Abandoned,
                task: Some(task),
                at,
            })),
            _ => None,
        };
        calls.extend(call_write);
        let (stage, record) = match stages[i] {
            Stage::Waiting if rng.below(5) == 0 => {
                let closed = TaskStatus::Cancelled;
                let r = Record::TaskClosed { task, status: closed, agent: None, outcome: None, summary: None, at };
                (Stage::Closed, r)
            }
            Stage::Waiting => {
                let a = rng.below(agents.len());
                (Stage::Offered(a), Record::TaskOffered { task, agent: agents[a], at })
            }
            Stage::Offered(a) if rng.below(3) == 0 => {
                let note = (rng.below(2) == 0).then(|| "busy line".to_owned());
                (
                    Stage::Waiting,
                    Record::TaskReturned {
                        task,
                        agent: agents[a],
                        event: crate::domain::ReturnReason::Declined,
                        note,
                        at,
                    },
                )
            }
            Stage::Offered(a) => (Stage::Assigned(a), Record::TaskAssigned { task, agent: agents[a], at }),
            Stage::Assigned(a) if rng.below(3) == 0 => {
                let r = Record::TaskReturned {
                    task,
                    agent: agents[a],
                    event: crate::domain::ReturnReason::Released,
                    note: None,
                    at,
                };
                (Stage::Waiting, r)
            }
            Stage::Assigned(a) if rng.below(4) == 0 => {
                // Unanswered, tried again later (released from the schedule
                // by the scheduler, outside the records; modelled as waiting).
                let (agent, outcome) = (agents[a], [Outcome::NoAnswer, Outcome::Busy][rng.below(2)]);
                let summary = (rng.below(2) == 0).then(|| format!("rang out {step}"));
                let not_before = at + jiff::SignedDuration::from_mins(10);
                (Stage::Waiting, Record::TaskRetry { task, agent, outcome, summary, not_before, at })
            }
            Stage::Assigned(a) => {
                let outcome = [Some(Outcome::Reached), Some(Outcome::NoAnswer), None][rng.below(3)];
                let summary = (rng.below(2) == 0).then(|| format!("note {step}"));
                let status = TaskStatus::Completed;
                (Stage::Closed, Record::TaskClosed { task, status, agent: Some(agents[a]), outcome, summary, at })
            }
            Stage::Closed => continue,
        };
        stages[i] = stage;
        records.push(record);
    }
    History { agents, tasks, records, calls }
}

/// Every row the writers touch, as text, in a stable order.
async fn dump(store: &Store) -> Vec<Vec<Option<String>>> {
    let queries = [
        "SELECT id, status, agent_id, outcome, closed_at, updated_at, not_before FROM tasks ORDER BY id",
        "SELECT task_id, number, agent_id, accepted_at, ended_at, outcome, summary FROM attempts ORDER BY task_id, number",
        "SELECT task_id, at, event, agent_id, note FROM task_events ORDER BY id",
        "SELECT id, status, status_reason, status_since FROM users ORDER BY id",
        "SELECT agent_id, status, reason, at FROM agent_status_log ORDER BY id",
        "SELECT task_id, sip_call_id, caller, offered_agents, redirected_at, answered_by, answered_at, ended_at, outcome \
         FROM call_records ORDER BY task_id",
        "SELECT caller, called, queue, reason, task_id, at FROM missed_calls ORDER BY id",
    ];
    let mut out = Vec::new();
    for sql in queries {
        let columns = sql["SELECT ".len()..sql.find(" FROM").unwrap()].split(", ").collect::<Vec<_>>();
        let cast: Vec<String> = columns.iter().map(|c| format!("CAST({c} AS TEXT)")).collect();
        let sql = format!("SELECT {}{}", cast.join(", "), &sql[sql.find(" FROM").unwrap()..]);
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(store.pool()).await.unwrap() {
            let mut values = vec![Some(format!("[{}]", columns[0]))];
            values.extend((0..columns.len()).map(|i| row.try_get::<Option<String>, _>(i).unwrap()));
            out.push(values);
        }
    }
    out
}

async fn prepare(store: &Store, h: &History) {
    for (i, id) in h.agents.iter().enumerate() {
        let user = super::tests::new_user(&format!("agent{i}"));
        let created = store.create_user(user, "2026-03-02T01:00:00Z".parse().unwrap()).await.unwrap();
        sqlx::query("UPDATE users SET id = $1 WHERE id = $2")
            .bind(id.to_string())
            .bind(created.id.to_string())
            .execute(store.pool())
            .await
            .unwrap();
    }
}

/// Writes `h` in one batch into `batched` and one change at a time into
/// `single`, then compares every table.
async fn check(batched: &Store, single: &Store, h: &History) {
    for store in [batched, single] {
        prepare(store, h).await;
    }
    batched.apply_call_writes(&h.calls).await.unwrap();
    batched.apply(&h.records).await.unwrap();
    for w in &h.calls {
        single.apply_call_writes(std::slice::from_ref(w)).await.unwrap();
    }
    for r in &h.records {
        single.apply(std::slice::from_ref(r)).await.unwrap();
    }
    assert_eq!(dump(batched).await, dump(single).await);
    assert!(h.tasks.iter().all(|t| t.kind == TaskKind::InboundCall));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn a_batch_equals_its_changes_one_at_a_time(seed in any::<u64>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (a, b) = (TestDb::sqlite(), TestDb::sqlite());
            check(&a.store().await, &b.store().await, &history(seed)).await;
        });
    }
}

/// Many histories at once, so batches span several statements per table.
fn long_history() -> History {
    let mut combined = history(7);
    for seed in 8..40 {
        let h = history(seed);
        combined.agents.extend(h.agents);
        combined.tasks.extend(h.tasks);
        combined.records.extend(h.records);
        combined.calls.extend(h.calls);
    }
    assert!(combined.records.len() > 3 * 128, "long enough to need several statements per table");
    combined
}

#[tokio::test]
async fn a_long_batch_equals_its_changes_one_at_a_time() {
    let (a, b) = (TestDb::sqlite(), TestDb::sqlite());
    check(&a.store().await, &b.store().await, &long_history()).await;
}

#[tokio::test]
async fn a_long_batch_equals_its_changes_one_at_a_time_on_postgres() {
    let (Some(a), Some(b)) = (TestDb::postgres().await, TestDb::postgres().await) else {
        return;
    };
    check(&a.store().await, &b.store().await, &long_history()).await;
}

/// A batch that fails half-way leaves nothing behind, and the connection it
/// ran on goes on working.
async fn failed_batch_is_all_or_nothing(store: Store) {
    let h = history(3);
    prepare(&store, &h).await;
    let first = &h.calls[0];
    store.apply_call_writes(std::slice::from_ref(first)).await.unwrap();
    let before = dump(&store).await;
    let CallWrite::NewCall { task, .. } = first else { panic!("histories start with their calls") };
    let missed = CallWrite::Missed(MissedCall {
        caller: task.customer_phone.clone(),
        called: "4000".into(),
        queue: "hotline".into(),
        reason: crate::domain::MissReason::Abandoned,
        task: Some(task.id),
        at: task.created_at,
    });
    // The duplicate insert of the task fails after the missed call went in.
    let err = store.apply_call_writes(&[missed.clone(), first.clone()]).await;
    assert!(err.is_err());
    assert_eq!(dump(&store).await, before);
    for _ in 0..8 {
        // More writes than the pool has connections: none was left mid-transaction.
        store.apply_call_writes(std::slice::from_ref(&missed)).await.unwrap();
    }
    assert_eq!(dump(&store).await.len(), before.len() + 8);
}

#[tokio::test]
async fn a_failed_batch_is_all_or_nothing() {
    let db = TestDb::sqlite();
    failed_batch_is_all_or_nothing(db.store().await).await;
}

#[tokio::test]
async fn a_failed_batch_is_all_or_nothing_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    failed_batch_is_all_or_nothing(db.store().await).await;
}
