//! Writing a batch of changes in a few multi-row statements.
//!
//! The writers hand over changes in the order they happened; applying them
//! one statement each is simple but costs a round trip per row. Here a
//! batch is folded first, with the same result as applying it in order:
//!
//! - appends (events, status log, missed calls, new tasks and call records)
//!   keep their order inside one multi-row INSERT per table;
//! - unconditional updates of one row (a task's status, an agent's status)
//!   only need the last value per row;
//! - an attempt's end closes the attempt open before the batch or the last
//!   one the batch opened, so new attempts are inserted already ended;
//! - conditional updates of call records (`... WHERE answered_at IS NULL`)
//!   depend on the order, so the batch is cut into segments in which each
//!   call appears at most once per kind of update, in the kinds' natural
//!   order; a segment runs one statement per kind.
//!
//! `apply_tests.rs` checks the equivalence: a random history written in one batch
//! leaves the same tables as the same history written one change at a time.

use std::collections::HashMap;

use super::batch::{Arg, Batch, Rows};
use super::calls::{CallOutcome, CallWrite};
use super::ms;
use crate::domain::{Outcome, TaskId, TaskStatus, UserId};
use crate::rules::dispatch::Record;
use crate::rules::dispatch::TaskDraft;

fn id(t: TaskId) -> Arg {
    Arg::from(t.to_string())
}
fn user(u: Option<UserId>) -> Arg {
    Arg::from(u.map(|u| u.to_string()))
}

pub(crate) fn events() -> Rows {
    Rows::new("INSERT INTO task_events (task_id, at, event, agent_id, note) VALUES ", "(#1, #2, #3, #4, #5)", "")
}

/// A task's row after the batch: only the last values count.
struct TaskPatch {
    status: TaskStatus,
    agent: Option<UserId>,
    updated_at: i64,
    /// Set by the last close in the batch; later records leave it alone.
    closed: Option<(Option<Outcome>, i64)>,
}

/// How an attempt ended.
#[derive(Clone)]
struct End {
    at: i64,
    outcome: Option<Outcome>,
    summary: Option<String>,
}

struct NewAttempt {
    agent: UserId,
    accepted_at: i64,
    end: Option<End>,
}

#[derive(Default)]
struct TaskAttempts {
    /// Ends the attempt that was open before the batch.
    end_open: Option<End>,
    new: Vec<NewAttempt>,
}

impl TaskAttempts {
    fn end(&mut self, end: End) {
        match self.new.last_mut() {
            Some(last) => {
                if last.end.is_none() {
                    last.end = Some(end);
                }
            }
            None => {
                if self.end_open.is_none() {
                    self.end_open = Some(end);
                }
            }
        }
    }
}

/// Adds the statements that write the dispatcher's records, with the same
/// result as writing them one by one.
pub(crate) fn add_records(batch: &mut Batch, records: &[Record]) {
    let mut order: Vec<TaskId> = Vec::new();
    let mut patches: HashMap<TaskId, TaskPatch> = HashMap::new();
    let mut attempts: HashMap<TaskId, TaskAttempts> = HashMap::new();
    let mut event_rows = events();
    let mut agents: Vec<UserId> = Vec::new();
    let mut agent_last: HashMap<UserId, [Arg; 3]> = HashMap::new();
    let mut status_log =
        Rows::new("INSERT INTO agent_status_log (agent_id, status, reason, at) VALUES ", "(#1, #2, #3, #4)", "");
    // Next attempts: the last one per task counts.
    let mut retries: HashMap<TaskId, i64> = HashMap::new();

    // `closed` is `None` for records that leave the outcome alone.
    type Closed = Option<(Option<Outcome>, i64)>;
    let mut patch = |task: TaskId, status: TaskStatus, agent: Option<UserId>, at: i64, closed: Closed| {
        let p = patches.entry(task).or_insert_with(|| {
            order.push(task);
            TaskPatch { status, agent, updated_at: at, closed: None }
        });
        (p.status, p.agent, p.updated_at) = (status, agent, at);
        if closed.is_some() {
            p.closed = closed;
        }
    };
    for record in records {
        match record {
            Record::TaskOffered { task, agent, at } => {
                patch(*task, TaskStatus::Offered, Some(*agent), ms(*at), None);
                event_rows.push([id(*task), ms(*at).into(), "offered".into(), user(Some(*agent)), Arg::Text(None)]);
            }
            Record::TaskReturned { task, agent, event, note, at } => {
                patch(*task, TaskStatus::Waiting, None, ms(*at), None);
                let end = End { at: ms(*at), outcome: None, summary: note.clone() };
                attempts.entry(*task).or_default().end(end);
                event_rows.push([
                    id(*task),
                    ms(*at).into(),
                    event.as_str().into(),
                    user(Some(*agent)),
                    note.clone().into(),
                ]);
            }
            Record::TaskAssigned { task, agent, at } => {
                patch(*task, TaskStatus::Assigned, Some(*agent), ms(*at), None);
                let new = NewAttempt { agent: *agent, accepted_at: ms(*at), end: None };
                attempts.entry(*task).or_default().new.push(new);
                event_rows.push([id(*task), ms(*at).into(), "accepted".into(), user(Some(*agent)), Arg::Text(None)]);
            }
            Record::TaskClosed { task, status, agent, outcome, summary, at } => {
                patch(*task, *status, *agent, ms(*at), Some((*outcome, ms(*at))));
                let end = End { at: ms(*at), outcome: *outcome, summary: summary.clone() };
                attempts.entry(*task).or_default().end(end);
                event_rows.push([
                    id(*task),
                    ms(*at).into(),
                    status.as_str().into(),
                    user(*agent),
                    summary.clone().into(),
                ]);
            }
            Record::TaskRetry { task, agent, outcome, summary, not_before, at } => {
                patch(*task, TaskStatus::Scheduled, None, ms(*at), None);
                let end = End { at: ms(*at), outcome: Some(*outcome), summary: summary.clone() };
                attempts.entry(*task).or_default().end(end);
                retries.insert(*task, ms(*not_before));
                let note = Arg::from(outcome.as_str());
                event_rows.push([id(*task), ms(*at).into(), "retry_scheduled".into(), user(Some(*agent)), note]);
            }
            Record::AgentStatus { agent, status, at } => {
                let row = [Arg::from(status.name()), Arg::from(status.break_reason()), Arg::from(ms(*at))];
                if agent_last.insert(*agent, row.clone()).is_none() {
                    agents.push(*agent);
                }
                let [s, r, a] = row;
                status_log.push([Arg::from(agent.to_string()), s, r, a]);
            }
        }
    }

    // Attempts: first end the ones open before the batch, then add the new
    // ones, numbered after those already stored.
    let mut ends = Rows::new(
        "UPDATE attempts SET ended_at = v.column2, outcome = v.column3, summary = v.column4 FROM (VALUES ",
        "(#1, #2, #3, #4)",
        ") AS v WHERE attempts.task_id = v.column1 AND attempts.ended_at IS NULL",
    );
    // Numbered by counting the task's attempts already stored. Whether a
    // statement sees its own earlier rows differs between databases, so a
    // statement adds at most one attempt per task: round `k` adds every
    // task's `k`-th new attempt.
    let mut rounds: Vec<Rows> = Vec::new();
    for task in &order {
        let Some(a) = attempts.remove(task) else { continue };
        if let Some(e) = a.end_open {
            ends.push([id(*task), e.at.into(), e.outcome.map(|o| o.as_str()).into(), e.summary.into()]);
        }
        for (k, n) in a.new.into_iter().enumerate() {
            if rounds.len() == k {
                rounds.push(Rows::new(
                    "INSERT INTO attempts (task_id, number, agent_id, accepted_at, ended_at, outcome, summary) VALUES ",
                    "(#1, (SELECT COUNT(*) + 1 FROM attempts WHERE task_id = #1), #2, #3, #4, #5, #6)",
                    "",
                ));
            }
            let (at, outcome, summary) = match n.end {
                Some(e) => (Some(e.at), e.outcome.map(|o| o.as_str()), e.summary),
                None => (None, None, None),
            };
            let agent = n.agent.to_string();
            rounds[k].push([id(*task), agent.into(), n.accepted_at.into(), at.into(), outcome.into(), summary.into()]);
        }
    }
    batch.push(ends);
    rounds.into_iter().for_each(|round| batch.push(round));

    let mut open = Rows::new(
        "UPDATE tasks SET status = v.column2, agent_id = v.column3, updated_at = v.column4 FROM (VALUES ",
        "(#1, #2, #3, #4)",
        ") AS v WHERE tasks.id = v.column1",
    );
    let mut closed = Rows::new(
        "UPDATE tasks SET status = v.column2, agent_id = v.column3, updated_at = v.column4, outcome = v.column5, \
         closed_at = v.column6 FROM (VALUES ",
        "(#1, #2, #3, #4, #5, #6)",
        ") AS v WHERE tasks.id = v.column1",
    );
    for task in &order {
        let p = &patches[task];
        let (status, agent, at) = (p.status.as_str().into(), user(p.agent), p.updated_at.into());
        match p.closed {
            None => open.push([id(*task), status, agent, at]),
            Some((outcome, closed_at)) => {
                closed.push([id(*task), status, agent, at, outcome.map(|o| o.as_str()).into(), closed_at.into()])
            }
        }
    }
    let mut next_attempts = Rows::new(
        "UPDATE tasks SET not_before = v.column2 FROM (VALUES ",
        "(#1, #2)",
        ") AS v WHERE tasks.id = v.column1",
    );
    for (task, not_before) in retries {
        next_attempts.push([id(task), not_before.into()]);
    }
    batch.push(open);
    batch.push(closed);
    batch.push(next_attempts);
    batch.push(event_rows);

    let mut users = Rows::new(
        "UPDATE users SET status = v.column2, status_reason = v.column3, status_since = v.column4 FROM (VALUES ",
        "(#1, #2, #3, #4)",
        ") AS v WHERE users.id = v.column1",
    );
    for agent in agents {
        let [s, r, a] = agent_last.remove(&agent).expect("recorded with its agent");
        users.push([Arg::from(agent.to_string()), s, r, a]);
    }
    batch.push(users);
    batch.push(status_log);
}

/// The note on the `created` event of a task created scheduled.
pub(crate) const SCHEDULED_NOTE: &str = "scheduled";

/// Adds a new task and its `created` event.
pub(crate) fn push_new_task(tasks: &mut Rows, events: &mut Rows, t: &TaskDraft) {
    let at = ms(t.created_at);
    tasks.push([
        id(t.id),
        t.kind.as_str().into(),
        t.queue.clone().into(),
        (t.plan.priority as i64).into(),
        t.plan.channel.as_str().into(),
        t.customer_phone.as_str().into(),
        t.reason.clone().into(),
        t.plan.deadline.map(ms).into(),
        at.into(),
        user(t.created_by),
        if t.not_before.is_some() { TaskStatus::Scheduled } else { TaskStatus::Waiting }.as_str().into(),
        t.not_before.map(ms).into(),
        user(t.reserved.map(|r| r.agent)),
        t.reserved.map(|r| ms(r.until)).into(),
        user(t.avoid_agent),
    ]);
    // A task created to wait in the schedule says so: it reaches the floor
    // only when released (`store/floor.rs`).
    let note = t.not_before.map(|_| SCHEDULED_NOTE.to_owned());
    events.push([id(t.id), at.into(), "created".into(), user(t.created_by), note.into()]);
}

/// A batch of `first` (a claim or a record the tasks belong to), then new
/// tasks with their `created` events, to be stored together.
pub(crate) fn batch_with_tasks(first: Rows, new: &[TaskDraft]) -> Batch {
    let mut batch = Batch::default();
    batch.push(first);
    push_tasks(&mut batch, new);
    batch
}

/// Adds the inserts of `new` tasks, with their `created` events, to `batch`.
pub(crate) fn push_tasks(batch: &mut Batch, new: &[TaskDraft]) {
    let (mut tasks, mut task_events) = (new_tasks(), events());
    for t in new {
        push_new_task(&mut tasks, &mut task_events, t);
    }
    batch.push(tasks);
    batch.push(task_events);
}

pub(crate) fn new_tasks() -> Rows {
    Rows::new(
        "INSERT INTO tasks (id, kind, queue, priority, channel, status, customer_phone, reason, deadline, \
         created_at, enqueued_at, created_by, updated_at, not_before, reserved_for, reserved_until, avoid_agent) VALUES ",
        "(#1, #2, #3, #4, #5, #11, #6, #7, #8, #9, #9, #10, #9, #12, #13, #14, #15)",
        "",
    )
}

/// The call-record updates of one segment, one statement per kind, in
/// the order a call goes through them.
struct CallSegment {
    redirected: Rows,
    answered: Rows,
    ended: Rows,
    completed: Rows,
    /// The highest kind seen per call in this segment.
    seen: HashMap<TaskId, u8>,
}

impl CallSegment {
    fn new() -> CallSegment {
        CallSegment {
            redirected: Rows::new(
                "UPDATE call_records SET offered_agents = CASE WHEN call_records.offered_agents = '' THEN v.column2 \
                 ELSE call_records.offered_agents || ',' || v.column2 END, redirected_at = v.column3, \
                 outcome = 'redirected' FROM (VALUES ",
                "(#1, #2, #3)",
                ") AS v WHERE call_records.task_id = v.column1",
            ),
            answered: Rows::new(
                "UPDATE call_records SET answered_by = v.column2, answered_at = v.column3, outcome = 'answered' \
                 FROM (VALUES ",
                "(#1, #2, #3)",
                ") AS v WHERE call_records.task_id = v.column1 AND call_records.answered_at IS NULL",
            ),
            ended: Rows::new(
                "UPDATE call_records SET ended_at = v.column2, outcome = v.column3 FROM (VALUES ",
                "(#1, #2, #3)",
                ") AS v WHERE call_records.task_id = v.column1 AND call_records.ended_at IS NULL",
            ),
            completed: Rows::new(
                "UPDATE call_records SET ended_at = v.column2, outcome = 'completed' FROM (VALUES ",
                "(#1, #2)",
                ") AS v WHERE call_records.task_id = v.column1 AND call_records.ended_at IS NULL \
                 AND call_records.answered_at IS NOT NULL",
            ),
            seen: HashMap::new(),
        }
    }

    /// Whether an update of `kind` for `task` can join this segment
    /// without changing the order it would have been applied in.
    fn admits(&self, task: TaskId, kind: u8) -> bool {
        self.seen.get(&task).is_none_or(|&k| k < kind)
    }

    fn add_to(self, batch: &mut Batch) {
        batch.push(self.redirected);
        batch.push(self.answered);
        batch.push(self.ended);
        batch.push(self.completed);
    }
}

/// Adds the statements that write the connector's changes, with the same
/// result as writing them one by one. New calls and missed calls are
/// inserted first: every update in the batch comes after its call's insert,
/// and missed calls touch no other table.
pub(crate) fn add_call_writes(batch: &mut Batch, writes: &[CallWrite]) {
    let mut tasks = new_tasks();
    let mut created = events();
    let mut records = Rows::new(
        "INSERT INTO call_records (task_id, sip_call_id, caller, called, queue, enqueued_at) VALUES ",
        "(#1, #2, #3, #4, #5, #6)",
        "",
    );
    let mut missed = Rows::new(
        "INSERT INTO missed_calls (caller, called, queue, reason, task_id, at) VALUES ",
        "(#1, #2, #3, #4, #5, #6)",
        "",
    );
    let mut segments = vec![CallSegment::new()];
    for w in writes {
        let (task, kind) = match w {
            CallWrite::NewCall { task, sip_call_id, caller, called } => {
                push_new_task(&mut tasks, &mut created, task);
                let caller = caller.as_ref().map(|c| c.as_str().to_owned());
                let row = [id(task.id), sip_call_id.clone().into(), caller.into(), called.clone().into()];
                let [a, b, c, d] = row;
                records.push([a, b, c, d, task.queue.clone().into(), ms(task.created_at).into()]);
                continue;
            }
            CallWrite::Missed(call) => {
                let task = call.task.map(|t| t.to_string());
                missed.push([
                    call.caller.as_str().into(),
                    call.called.clone().into(),
                    call.queue.clone().into(),
                    call.reason.as_str().into(),
                    task.into(),
                    ms(call.at).into(),
                ]);
                continue;
            }
            CallWrite::Redirected { task, .. } => (*task, 1),
            CallWrite::Answered { task, .. } => (*task, 2),
            CallWrite::Ended { task, .. } => (*task, 3),
            CallWrite::Completed { task, .. } => (*task, 4),
        };
        if !segments.last().expect("one segment at least").admits(task, kind) {
            segments.push(CallSegment::new());
        }
        let s = segments.last_mut().expect("one segment at least");
        s.seen.insert(task, kind);
        match w {
            CallWrite::Redirected { agent, at, .. } => {
                s.redirected.push([id(task), agent.clone().into(), ms(*at).into()])
            }
            CallWrite::Answered { agent, at, .. } => s.answered.push([id(task), agent.clone().into(), ms(*at).into()]),
            CallWrite::Ended { outcome, at, .. } => {
                s.ended.push([id(task), ms(*at).into(), CallOutcome::as_str(*outcome).into()])
            }
            CallWrite::Completed { at, .. } => s.completed.push([id(task), ms(*at).into()]),
            CallWrite::NewCall { .. } | CallWrite::Missed(_) => unreachable!("handled above"),
        }
    }
    batch.push(tasks);
    batch.push(created);
    batch.push(records);
    batch.push(missed);
    segments.into_iter().for_each(|s| s.add_to(batch));
}
