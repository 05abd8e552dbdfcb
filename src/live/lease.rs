//! Keeping the lease of the leading node: renewed three times per lease
//! time; a renewal that fails marks the node degraded; finding another node
//! in the lease (or a new epoch) means this node was fenced out.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{Live, LiveHealth};

/// Waits until this node holds the lease and returns its epoch, or `None`
/// if `shutdown` fired first; tries five times per lease time.
pub async fn acquire(live: &Live, shutdown: &CancellationToken) -> Result<Option<u64>, super::LiveError> {
    loop {
        if let Some(epoch) = live.take_lease(None).await? {
            return Ok(Some(epoch));
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(live.lease_time() / 5) => {}
        }
    }
}

/// Renews the lease until `stop` fires; cancels `fenced` if another node
/// took over.
pub async fn keep(live: Live, epoch: u64, health: Arc<LiveHealth>, fenced: CancellationToken, stop: CancellationToken) {
    let every = live.lease_time() / 3;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = fenced.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match live.take_lease(Some(epoch)).await {
            Ok(Some(e)) if e == epoch => {
                if health.pending() == 0 {
                    health.set_degraded(false);
                }
            }
            Ok(other) => {
                tracing::error!(epoch, now = ?other, "another node took the lease: this node stops");
                fenced.cancel();
                return;
            }
            Err(e) => {
                health.set_degraded(true);
                tracing::warn!(error = %e, "renewing the lease failed");
            }
        }
    }
}
