//! The scripts against a real Redis, each test under its own prefix.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::testing::TestRedis;

async fn node(redis: &TestRedis, name: &str) -> Live {
    Live::connect(&redis.url, &redis.prefix, Duration::from_secs(5), name, "127.0.0.1:8080")
        .await
        .expect("connect to redis")
}

fn offered(task: TaskId, agent: UserId) -> Record {
    Record::TaskOffered { task, agent, at: Timestamp::now() }
}

#[tokio::test]
async fn one_node_leads_and_a_new_leader_fences_out_the_old_one() {
    let Some(redis) = TestRedis::new("lease").await else { return };
    let (a, b) = (node(&redis, "a").await, node(&redis, "b").await);
    let first = a.take_lease(None).await.unwrap().expect("a free lease is taken");
    assert_eq!(b.take_lease(None).await.unwrap(), None, "held by a");
    assert_eq!(a.take_lease(Some(first)).await.unwrap(), Some(first), "renewal keeps the epoch");
    a.release_lease().await.unwrap();
    let second = b.take_lease(None).await.unwrap().expect("released lease is free");
    assert!(second > first);
    let (task, agent) = (TaskId::new(), UserId::new());
    let refused = a.apply(first, 1, &[offered(task, agent)], &[]).await;
    assert!(matches!(refused, Err(LiveError::Fenced(e)) if e == first), "{refused:?}");
    assert!(a.tasks().await.unwrap().is_empty(), "a fenced write changes nothing");
    assert_eq!(a.take_lease(Some(first)).await.unwrap(), None, "the old leader learns it lost");
}

#[tokio::test]
async fn a_leader_cut_off_past_its_lease_carries_on_if_nobody_took_over() {
    let Some(redis) = TestRedis::new("continuity").await else { return };
    let a = node(&redis, "a").await;
    let epoch = a.take_lease(None).await.unwrap().unwrap();
    a.apply(epoch, 1, &[], &[LiveOp::TaskGone(TaskId::new())]).await.unwrap();
    // The lease lapsed while Redis was out of reach.
    let _: i64 = a.conn.clone().del(&a.keys.lease).await.unwrap();
    assert_eq!(a.take_lease(Some(epoch)).await.unwrap(), Some(epoch));
    // The sequence carries on too: batch 2 is new, batch 1 is not applied again.
    let record = offered(TaskId::new(), UserId::new());
    a.apply(epoch, 2, std::slice::from_ref(&record), &[LiveOp::from_record(&record)]).await.unwrap();
    assert_eq!(a.tasks().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_batch_applies_once_even_when_sent_again() {
    let Some(redis) = TestRedis::new("apply").await else { return };
    let a = node(&redis, "a").await;
    let epoch = a.take_lease(None).await.unwrap().unwrap();
    let (t1, t2, agent) = (TaskId::new(), TaskId::new(), UserId::new());
    let added = [
        LiveOp::Task { task: t1, status: TaskStatus::Waiting, agent: None },
        LiveOp::Task { task: t2, status: TaskStatus::Waiting, agent: None },
    ];
    let records = [offered(t1, agent), Record::TaskAssigned { task: t1, agent, at: Timestamp::now() }];
    let ops: Vec<LiveOp> = added.iter().cloned().chain(records.iter().map(LiveOp::from_record)).collect();
    let id = a.apply(epoch, 1, &records, &ops).await.unwrap();
    assert!(!id.is_empty());
    assert_eq!(a.apply(epoch, 1, &records, &ops).await.unwrap(), id, "the same batch again: same answer");
    let journal = a.journal_after("0-0", 100).await.unwrap();
    assert_eq!(journal, vec![(id.clone(), records.to_vec())], "journaled once");
    let tasks = a.tasks().await.unwrap();
    assert_eq!(tasks[&t1.to_string()], format!("assigned {agent}"));
    assert_eq!(tasks[&t2.to_string()], "waiting");

    let status = AgentStatus::Available;
    let closed = Record::TaskClosed {
        task: t1,
        status: TaskStatus::Completed,
        agent: Some(agent),
        outcome: None,
        summary: None,
        at: Timestamp::now(),
    };
    let ops = [LiveOp::from_record(&closed), LiveOp::Agent(agent, status.clone())];
    let second = a.apply(epoch, 2, std::slice::from_ref(&closed), &ops).await.unwrap();
    assert_eq!(a.tasks().await.unwrap().len(), 1, "a closed task leaves the live state");
    let agents = a.agents().await.unwrap();
    assert_eq!(serde_json::from_str::<AgentStatus>(&agents[&agent.to_string()]).unwrap(), status);
    assert_eq!(a.journal_after(&id, 100).await.unwrap(), vec![(second.clone(), vec![closed])]);

    a.trim_journal(&second).await.unwrap();
    assert_eq!(a.journal_after("0-0", 100).await.unwrap().len(), 1, "entries before the position are gone");

    a.apply(epoch, 3, &[], &[LiveOp::Clear]).await.unwrap();
    assert!(a.tasks().await.unwrap().is_empty() && a.agents().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_new_leader_writes_into_sql_what_the_journal_holds_once() {
    let Some(redis) = TestRedis::new("replay").await else { return };
    let db = crate::testing::TestDb::sqlite();
    let store = db.store().await;
    let rules = crate::rules::dispatch::Rules::manual_defaults();
    let now = Timestamp::now();
    let plan = rules.plan(crate::domain::TaskKind::NewSignupCallback, now, None, None);
    let phone = crate::domain::Phone::parse("13900000001").unwrap();
    let row = crate::rules::dispatch::TaskDraft::new(
        &rules,
        crate::domain::TaskKind::NewSignupCallback,
        plan,
        phone,
        None,
        now,
        None,
    );
    store.insert_task(&row).await.unwrap();
    let user = crate::store::NewUser {
        work_number: None,
        username: "li".into(),
        role: crate::domain::Role::Agent,
        password_hash: String::new(),
        display_name: "Li".into(),
        sip_uri: None,
        skills: vec!["callbacks".into()],
        levels: Default::default(),
        voice_capacity: 1,
        back_office_capacity: 2,
    };
    let agent = store.create_user(user, now).await.unwrap().id;

    // The old leader put an offer and an accept in Redis and died before SQL.
    let a = node(&redis, "a").await;
    let epoch = a.take_lease(None).await.unwrap().unwrap();
    let records = [offered(row.id, agent), Record::TaskAssigned { task: row.id, agent, at: now }];
    let ops: Vec<LiveOp> = records.iter().map(LiveOp::from_record).collect();
    a.apply(epoch, 1, &records[..1], &ops[..1]).await.unwrap();
    a.apply(epoch, 2, &records[1..], &ops[1..]).await.unwrap();

    let replayed = crate::app::leading::replay_journal(&store, &a).await.unwrap();
    assert_eq!(replayed, 2);
    let task = store.task(row.id).await.unwrap().unwrap();
    assert_eq!((task.status, task.agent_id), (TaskStatus::Assigned, Some(agent)));
    assert_eq!(task.attempts.len(), 1);
    // Again (a second take-over before the journal was trimmed): nothing more.
    assert_eq!(crate::app::leading::replay_journal(&store, &a).await.unwrap(), 0);
    assert_eq!(store.task(row.id).await.unwrap().unwrap().attempts.len(), 1, "no attempt twice");
}
