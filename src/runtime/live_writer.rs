//! The live writer: what the hub decided reaches Redis before anyone
//! outside hears of it.
//!
//! The hub hands over, per message it handled, an [`Outbox`]: the records
//! and live-state changes it made and what it owes the outside because of
//! them (pushes to consoles, call events for the SIP connector, replies to
//! REST calls). This task applies whatever has queued up as one script call
//! (group commit: one round trip for many decisions), then passes the
//! records to the SQL writer with their journal position, and only then
//! delivers. A batch that Redis refuses is retried with the same sequence
//! number until it is in (the script applies a sequence number once), so a
//! lost reply cannot apply a batch twice, and nothing behind it overtakes
//! it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::live::{Live, LiveError, LiveHealth, LiveOp};
use crate::rules::dispatch::Record;
use crate::runtime::hub::Delivery;
use crate::runtime::record_writer::{Journaled, Writer};
use crate::store::JournalPosition;

/// The most hub messages in one script call.
const MAX_BATCH: usize = 1024;

/// What one hub message changed and what it owes the outside.
#[derive(Default)]
pub struct Outbox {
    pub records: Vec<Record>,
    /// Changes no record stands for (a task entering the dispatcher).
    pub ops: Vec<LiveOp>,
    pub deliveries: Vec<Delivery>,
}

/// A cheap, cloneable handle to the live writer.
#[derive(Clone)]
pub struct LiveWriter {
    tx: mpsc::UnboundedSender<Outbox>,
    health: Arc<LiveHealth>,
}

impl LiveWriter {
    /// Starts the writer for `epoch`. If Redis says another node leads,
    /// it stops delivering and cancels `fenced`.
    pub fn spawn(
        live: Live,
        epoch: u64,
        sql: Writer,
        health: Arc<LiveHealth>,
        fenced: CancellationToken,
    ) -> (LiveWriter, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(live, epoch, sql, health.clone(), fenced, rx));
        (LiveWriter { tx, health }, task)
    }

    pub fn send(&self, outbox: Outbox) {
        self.health.add_pending(1);
        if self.tx.send(outbox).is_err() {
            self.health.done_pending(1);
            tracing::error!("the live writer has stopped; a change is not delivered");
        }
    }
}

async fn run(
    live: Live,
    epoch: u64,
    sql: Writer,
    health: Arc<LiveHealth>,
    fenced: CancellationToken,
    mut rx: mpsc::UnboundedReceiver<Outbox>,
) {
    let (trim_tx, trim_rx) = mpsc::unbounded_channel();
    let trimmer = tokio::spawn(trim(live.clone(), trim_rx));
    let mut seq = 0u64;
    let mut batch: Vec<Outbox> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let count = batch.len();
        let mut records = Vec::new();
        let mut ops = Vec::new();
        let mut deliveries = Vec::new();
        for outbox in batch.drain(..) {
            ops.extend(outbox.ops);
            ops.extend(outbox.records.iter().map(LiveOp::from_record));
            records.extend(outbox.records);
            deliveries.extend(outbox.deliveries);
        }
        if !ops.is_empty() || !records.is_empty() {
            seq += 1;
            let position = match apply_until_in(&live, epoch, seq, &records, &ops, &health).await {
                Ok(id) => id,
                Err(e) => {
                    tracing::error!(error = %e, "this node no longer leads: it stops deciding");
                    fenced.cancel();
                    health.done_pending(count);
                    // What is queued was never acknowledged; it is dropped
                    // with its replies (callers see the server stopping).
                    while let Some(_dropped) = rx.recv().await {
                        health.done_pending(1);
                    }
                    break;
                }
            };
            // Records always have a journal entry (the script appends them).
            if !records.is_empty() {
                let trim_tx = trim_tx.clone();
                let id = position.clone();
                let committed = Box::new(move |ok: bool| {
                    if ok {
                        let _ = trim_tx.send(id);
                    }
                });
                let position = JournalPosition { prefix: live.prefix().to_owned(), id: position };
                if !sql.journaled(records, Journaled { position, committed }) {
                    tracing::error!(
                        "the store writer has stopped; records stay in the Redis journal for the next start"
                    );
                }
            }
        }
        for d in deliveries {
            d.deliver(&sql);
        }
        health.done_pending(count);
    }
    drop(trim_tx);
    let _ = trimmer.await;
}

/// Applies one batch, retrying while Redis does not answer (marking the
/// node degraded meanwhile). Fails only when the node was fenced out.
async fn apply_until_in(
    live: &Live,
    epoch: u64,
    seq: u64,
    records: &[Record],
    ops: &[LiveOp],
    health: &LiveHealth,
) -> Result<String, LiveError> {
    let mut delay = Duration::from_millis(20);
    loop {
        let started = std::time::Instant::now();
        match live.apply(epoch, seq, records, ops).await {
            Ok(id) => {
                health.metrics.redis_round_trip(started.elapsed());
                health.set_degraded(false);
                return Ok(id);
            }
            Err(e @ LiveError::Fenced(_)) => return Err(e),
            Err(e) => {
                health.set_degraded(true);
                tracing::warn!(error = %e, pending = health.pending(), "writing the live state to redis failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// Drops journal entries once SQL holds them; only the newest position
/// matters, so a backlog of positions collapses into one command.
async fn trim(live: Live, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(mut position) = rx.recv().await {
        while let Ok(newer) = rx.try_recv() {
            position = newer;
        }
        if let Err(e) = live.trim_journal(&position).await {
            tracing::debug!(error = %e, "trimming the journal failed; the next position will");
        }
    }
}
