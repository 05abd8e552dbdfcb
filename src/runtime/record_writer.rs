//! The one writer of live changes: the dispatcher's records and the SIP
//! connector's call writes go through one queue and are stored in the order
//! they were made, whatever has queued up in one transaction.
//!
//! One writer rather than one per producer: SQLite takes one writer at a
//! time, so two writers would only wait for each other's turn; and a call
//! waiting in the queue waits for its write (stored before dispatched), so
//! what it waits behind should be at most one batch. A batch is whatever has
//! queued, up to `MAX_BATCH`: small and quick at light load; at saturation,
//! large batches write SQLite's hot index pages to the log once per commit
//! rather than once per small commit, which is what lets the store keep up
//! at 5,000 calls/s (`load-tests/sip_load.rs`).

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::rules::dispatch::Record;
use crate::store::{CallWrite, JournalPosition, Store};

/// The most changes in one transaction.
const MAX_BATCH: usize = 4096;

/// Told whether a call write was stored. Called on the writer's task, so
/// it must not block: it hands the answer on (a channel send), which saves
/// the caller a task of its own waiting for the answer.
pub type Stored = Box<dyn FnOnce(bool) + Send>;

/// The Redis journal entry a batch of records came from, and who hears
/// when SQL holds it (the live writer, which then trims the journal).
pub struct Journaled {
    pub position: JournalPosition,
    pub committed: Stored,
}

enum Write {
    Records(Vec<Record>, Option<Journaled>),
    /// A call write; `Stored`, if any, hears whether it was stored.
    Call(Box<CallWrite>, Option<Stored>),
    /// Answered once everything sent before it is stored.
    Flush(oneshot::Sender<()>),
}

/// A cheap, cloneable handle to the writer. The writer stops once every
/// handle is dropped and everything sent is stored.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::UnboundedSender<Write>,
}

impl Writer {
    pub fn spawn(store: Store) -> (Writer, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Writer { tx }, tokio::spawn(run(store, rx)))
    }

    /// Queues the dispatcher's records; false if the writer has stopped.
    pub fn records(&self, records: Vec<Record>) -> bool {
        self.tx.send(Write::Records(records, None)).is_ok()
    }

    /// Queues records that are already in the Redis journal, with their
    /// position there, written in the same transaction.
    pub fn journaled(&self, records: Vec<Record>, journaled: Journaled) -> bool {
        self.tx.send(Write::Records(records, Some(journaled))).is_ok()
    }

    /// Queues a call write without waiting for it.
    pub fn call(&self, write: CallWrite) {
        if self.tx.send(Write::Call(Box::new(write), None)).is_err() {
            tracing::error!("the store writer has stopped; a call write is lost");
        }
    }

    /// Queues a call write; `done` hears whether it was stored.
    pub fn call_stored(&self, write: CallWrite, done: Stored) {
        if let Err(mpsc::error::SendError(Write::Call(_, Some(done)))) =
            self.tx.send(Write::Call(Box::new(write), Some(done)))
        {
            done(false);
        }
    }

    /// Answers once everything queued before is stored.
    pub fn flush(&self) -> oneshot::Receiver<()> {
        let (done, rx) = oneshot::channel();
        let _ = self.tx.send(Write::Flush(done));
        rx
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Write>) {
    let mut records = Vec::new();
    let mut calls = Vec::new();
    let mut flushes = Vec::new();
    let mut journaled: Vec<Journaled> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(write) = next {
            match write {
                Write::Records(r, j) => {
                    records.extend(r);
                    journaled.extend(j);
                }
                Write::Call(w, done) => calls.push((*w, done)),
                Write::Flush(reply) => flushes.push(reply),
            }
            next = if records.len() + calls.len() < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        let writes: Vec<CallWrite> = calls.iter().map(|(w, _)| w.clone()).collect();
        // Positions only grow: the last one covers the batch.
        let position = journaled.last().map(|j| j.position.clone());
        match store.write(&writes, &records, position.as_ref()).await {
            Ok(()) => {
                for (_, done) in calls.drain(..) {
                    if let Some(done) = done {
                        done(true);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, calls = calls.len(), records = records.len(), "a write batch failed");
                recover(&store, &mut calls, &records, position.as_ref()).await;
            }
        }
        for j in journaled.drain(..) {
            (j.committed)(true);
        }
        records.clear();
        for reply in flushes.drain(..) {
            let _ = reply.send(());
        }
    }
}

/// After a failed batch: call writes one by one, so a single bad write
/// (reported to its sender) cannot hold the rest; the dispatcher's records
/// again and again until they are stored, so a database hiccup delays
/// them rather than dropping them.
async fn recover(
    store: &Store,
    calls: &mut Vec<(CallWrite, Option<Stored>)>,
    records: &[Record],
    position: Option<&JournalPosition>,
) {
    for (write, done) in calls.drain(..) {
        let result = store.write(std::slice::from_ref(&write), &[], None).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, ?write, "a call write failed");
        }
        if let Some(done) = done {
            done(result.is_ok());
        }
    }
    let mut delay = Duration::from_millis(50);
    while !records.is_empty() || position.is_some() {
        match store.write(&[], records, position).await {
            Ok(()) => break,
            Err(e) => {
                tracing::error!(error = %e, records = records.len(), "writing dispatcher records failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}
