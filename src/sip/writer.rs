//! The connector's store writes: one task applies them in order, batched.

use tokio::sync::{mpsc, oneshot};

use crate::store::{CallWrite, Store};

/// Applies the connector's writes in order, batching what has queued up
/// into one transaction. If a batch fails, its writes are retried one by
/// one so a single bad write (reported to its sender) cannot hold the rest.
pub async fn write_calls(store: Store, mut rx: mpsc::UnboundedReceiver<(CallWrite, Option<oneshot::Sender<bool>>)>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < 256 {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let writes: Vec<CallWrite> = batch.iter().map(|(w, _)| w.clone()).collect();
        if store.apply_call_writes(&writes).await.is_ok() {
            for (_, done) in batch.drain(..) {
                if let Some(done) = done {
                    let _ = done.send(true);
                }
            }
            continue;
        }
        for (write, done) in batch.drain(..) {
            let result = store.apply_call_writes(std::slice::from_ref(&write)).await;
            if let Err(e) = &result {
                tracing::error!(error = %e, ?write, "a call write failed");
            }
            if let Some(done) = done {
                let _ = done.send(result.is_ok());
            }
        }
    }
}
