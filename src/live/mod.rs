//! Redis as the live store: the lease of the leading node, the journal of
//! the dispatcher's records, and the live state (where each task is, each
//! agent's status) as other nodes and tools see it.
//!
//! Only this module knows Redis. Every multi-key change is one of the Lua
//! scripts next to this file; every key starts with the configured prefix in
//! braces, a Cluster hash tag, so all of them live in one slot. The rules
//! for what is written when are in `runtime/live_writer.rs`; what lives where, and why,
//! in ARCHITECTURE.md ("Redis and SQL").

pub mod journal;
pub mod lease;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncCommands, Cmd, Pipeline, RedisFuture, Script, Value};

use crate::domain::{AgentStatus, TaskId, TaskStatus, UserId};
use crate::rules::dispatch::{LiveTask, Record};

/// How long start-up waits for Redis to answer before giving up with a
/// clear error (the client would otherwise retry for much longer).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Another node took the lease: this node's state is no longer the truth.
    #[error("another node leads now (this node's epoch {0} was fenced out)")]
    Fenced(u64),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
}

/// The keys of one centre. All share the hash tag `{prefix}`.
#[derive(Clone, Debug)]
struct Keys {
    /// The centre's prefix, as configured (without braces).
    prefix: String,
    lease: String,
    epoch: String,
    journal: String,
    meta: String,
    tasks: String,
    agents: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        let key = |name: &str| format!("{{{prefix}}}:{name}");
        Keys {
            prefix: prefix.to_owned(),
            lease: key("lease"),
            epoch: key("epoch"),
            journal: key("journal"),
            meta: key("meta"),
            tasks: key("tasks"),
            agents: key("agents"),
        }
    }
}

/// One change of the live state, as the apply script takes it.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveOp {
    /// Where a live task is now: waiting, or offered to / held by an agent.
    Task {
        task: TaskId,
        status: TaskStatus,
        agent: Option<UserId>,
    },
    TaskGone(TaskId),
    Agent(UserId, AgentStatus),
    /// Forget every task and agent: a snapshot of the new leader follows.
    Clear,
}

impl LiveOp {
    /// The live-state change a record stands for.
    pub fn from_record(r: &Record) -> LiveOp {
        let task =
            |task: &TaskId, status, agent: Option<&UserId>| LiveOp::Task { task: *task, status, agent: agent.copied() };
        match r {
            Record::TaskOffered { task: t, agent, .. } => task(t, TaskStatus::Offered, Some(agent)),
            Record::TaskAssigned { task: t, agent, .. } => task(t, TaskStatus::Assigned, Some(agent)),
            Record::TaskReturned { task: t, .. } => task(t, TaskStatus::Waiting, None),
            Record::TaskClosed { task, .. } | Record::TaskRetry { task, .. } => LiveOp::TaskGone(*task),
            Record::AgentStatus { agent, status, .. } => LiveOp::Agent(*agent, status.clone()),
        }
    }

    /// A live task as the dispatcher has it.
    pub fn from_live_task(task: TaskId, live: &LiveTask) -> LiveOp {
        LiveOp::Task { task, status: live.status, agent: live.agent }
    }

    fn push_args(&self, args: &mut Vec<String>) {
        match self {
            LiveOp::Task { task, status, agent } => {
                args.push("T".into());
                args.push(task.to_string());
                args.push(match agent {
                    Some(agent) => format!("{} {agent}", status.as_str()),
                    None => status.as_str().to_owned(),
                });
            }
            LiveOp::TaskGone(id) => {
                args.push("D".into());
                args.push(id.to_string());
            }
            LiveOp::Agent(id, status) => {
                args.push("A".into());
                args.push(id.to_string());
                args.push(serde_json::to_string(status).expect("status serialises"));
            }
            LiveOp::Clear => args.push("X".into()),
        }
    }
}

/// What `/health` and the API read: whether Redis answers, and how much
/// waits for it. Shared between the writer, the lease keeper and handlers.
#[derive(Debug)]
pub struct LiveHealth {
    degraded: AtomicBool,
    pending: AtomicUsize,
    max_pending: usize,
    /// Where the writer's round trips are timed.
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

impl LiveHealth {
    pub fn new(max_pending: usize, metrics: Arc<crate::metrics::Metrics>) -> Arc<LiveHealth> {
        Arc::new(LiveHealth { degraded: AtomicBool::new(false), pending: AtomicUsize::new(0), max_pending, metrics })
    }

    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// Changes made but not yet in Redis.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// New work is refused once this many changes wait for Redis.
    pub fn accepting(&self) -> bool {
        self.pending() < self.max_pending
    }

    pub(crate) fn set_degraded(&self, degraded: bool) {
        let was = self.degraded.swap(degraded, Ordering::Relaxed);
        if was != degraded {
            if degraded {
                tracing::error!("redis does not answer: new work is held, then refused once the buffer is full");
            } else {
                tracing::info!("redis answers again");
            }
        }
    }

    pub(crate) fn add_pending(&self, n: usize) {
        self.pending.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn done_pending(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::Relaxed);
    }
}

/// One Redis, or a Redis Cluster. Every key of a centre shares one hash
/// tag, so on a Cluster every command and script goes to the one node that
/// owns the centre's slot, and a script may touch all of them.
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The connection to Redis and the scripts, for one centre (prefix) and one node.
#[derive(Clone)]
pub struct Live {
    conn: Conn,
    keys: Arc<Keys>,
    /// What the lease holds while this node leads: its id and the address
    /// relays pass requests to.
    holder: Arc<str>,
    lease: Duration,
    scripts: Arc<Scripts>,
}

struct Scripts {
    apply: Script,
    lease: Script,
    release: Script,
}

impl Live {
    /// Connects, failing within a few seconds with a clear error if Redis
    /// does not answer. `node` names this process in the lease, `http` is
    /// where other nodes reach its HTTP listener while it leads.
    pub async fn connect(url: &str, prefix: &str, lease: Duration, node: &str, http: &str) -> Result<Live, LiveError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(1));
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, client.get_connection_manager_with_config(config))
            .await
            .map_err(|_| LiveError::Timeout(CONNECT_TIMEOUT))??;
        Ok(Live::new(Conn::Single(conn), prefix, lease, node, http))
    }

    /// Like [`Live::connect`], to a Redis Cluster through any of `seeds`.
    pub async fn connect_cluster(
        seeds: &[&str],
        prefix: &str,
        lease: Duration,
        node: &str,
        http: &str,
    ) -> Result<Live, LiveError> {
        let client = ClusterClient::builder(seeds.to_vec())
            .connection_timeout(Duration::from_secs(2))
            .response_timeout(Duration::from_secs(2))
            .retries(2)
            .build()?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_connection())
            .await
            .map_err(|_| LiveError::Timeout(CONNECT_TIMEOUT))??;
        Ok(Live::new(Conn::Cluster(conn), prefix, lease, node, http))
    }

    fn new(conn: Conn, prefix: &str, lease: Duration, node: &str, http: &str) -> Live {
        Live {
            conn,
            keys: Arc::new(Keys::new(prefix)),
            holder: format!("{node} {http}").into(),
            lease,
            scripts: Arc::new(Scripts {
                apply: Script::new(include_str!("apply.lua")),
                lease: Script::new(include_str!("lease.lua")),
                release: Script::new(include_str!("release.lua")),
            }),
        }
    }

    /// The centre's key prefix, which also names its journal position in SQL.
    pub fn prefix(&self) -> &str {
        &self.keys.prefix
    }

    pub fn lease_time(&self) -> Duration {
        self.lease
    }

    /// Takes or renews the lease: the epoch this node now leads in, or
    /// `None` while another node leads. `held` is the epoch it last held.
    pub async fn take_lease(&self, held: Option<u64>) -> Result<Option<u64>, LiveError> {
        let k = &self.keys;
        let epoch: i64 = self
            .scripts
            .lease
            .key(&k.lease)
            .key(&k.epoch)
            .key(&k.meta)
            .arg(&*self.holder)
            .arg(self.lease.as_millis() as u64)
            .arg(held.map(|e| e.to_string()).unwrap_or_default())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(u64::try_from(epoch).ok())
    }

    /// Gives the lease up if this node holds it.
    pub async fn release_lease(&self) -> Result<(), LiveError> {
        let _: i64 =
            self.scripts.release.key(&self.keys.lease).arg(&*self.holder).invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// The HTTP address of the node that leads now, if any.
    pub async fn leader(&self) -> Result<Option<String>, LiveError> {
        let holder: Option<String> = self.conn.clone().get(&self.keys.lease).await?;
        Ok(holder.and_then(|h| h.split_once(' ').map(|(_, addr)| addr.to_owned())))
    }

    /// Applies one batch under `epoch`; returns the journal id of its
    /// records ("" when it had none). Applying the same `seq` again returns
    /// the first answer and changes nothing.
    pub async fn apply(&self, epoch: u64, seq: u64, records: &[Record], ops: &[LiveOp]) -> Result<String, LiveError> {
        let k = &self.keys;
        let mut args = Vec::with_capacity(3 + ops.len() * 3);
        args.push(epoch.to_string());
        args.push(seq.to_string());
        args.push(if records.is_empty() { String::new() } else { journal::encode(records) });
        for op in ops {
            op.push_args(&mut args);
        }
        let result: Result<String, redis::RedisError> = self
            .scripts
            .apply
            .key(&k.epoch)
            .key(&k.journal)
            .key(&k.meta)
            .key(&k.tasks)
            .key(&k.agents)
            .arg(args)
            .invoke_async(&mut self.conn.clone())
            .await;
        match result {
            Err(e) if e.code() == Some("FENCED") => Err(LiveError::Fenced(epoch)),
            other => Ok(other?),
        }
    }

    /// The journal's batches after `position` ("0-0" for all), oldest first,
    /// at most `count`.
    pub async fn journal_after(&self, position: &str, count: usize) -> Result<Vec<(String, Vec<Record>)>, LiveError> {
        let start = format!("({position}");
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&self.keys.journal)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?;
        let mut batches = Vec::with_capacity(entries.len());
        for (id, fields) in entries {
            let records = fields.iter().find(|(f, _)| f == "records").map(|(_, v)| v.as_str()).unwrap_or("[]");
            batches.push((id, journal::decode(records)?));
        }
        Ok(batches)
    }

    /// Drops journal entries SQL already holds (those before `position`).
    pub async fn trim_journal(&self, position: &str) -> Result<(), LiveError> {
        let _: i64 = redis::cmd("XTRIM")
            .arg(&self.keys.journal)
            .arg("MINID")
            .arg(position)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// The live tasks as Redis has them: id → "waiting" | "offered AGENT" | "assigned AGENT".
    pub async fn tasks(&self) -> Result<std::collections::HashMap<String, String>, LiveError> {
        Ok(self.conn.clone().hgetall(&self.keys.tasks).await?)
    }

    /// How many live tasks Redis lists.
    pub async fn task_count(&self) -> Result<usize, LiveError> {
        Ok(self.conn.clone().hlen(&self.keys.tasks).await?)
    }

    /// The agents' statuses as Redis has them.
    pub async fn agents(&self) -> Result<std::collections::HashMap<String, String>, LiveError> {
        Ok(self.conn.clone().hgetall(&self.keys.agents).await?)
    }
}

#[cfg(test)]
mod tests;
