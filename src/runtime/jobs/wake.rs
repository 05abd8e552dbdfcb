//! The wait between rounds of the loops that act on the clock: releasing
//! scheduled tasks, firing checkpoints, applying shift edges, reminding
//! case owners. Each round says when it next has work; the loop sleeps
//! until then, but never longer than its own bound, so work added
//! meanwhile (over REST, or by another node) is seen in time.

use std::fmt::Display;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

/// Waits after a round: until `next` (at once if it has passed) but at
/// most `max`; after a failed round, logs it as `what` and waits `retry`.
/// False when `shutdown` fires first.
pub async fn until_next<E: Display>(
    round: Result<Option<Timestamp>, E>,
    max: Duration,
    retry: Duration,
    what: &str,
    shutdown: &CancellationToken,
) -> bool {
    let wait = match round {
        Ok(None) => max,
        Ok(Some(next)) => {
            let until = next.duration_since(Timestamp::now());
            if until.is_negative() { Duration::ZERO } else { until.unsigned_abs().min(max) }
        }
        Err(e) => {
            tracing::error!(error = %e, "{what} failed; will retry");
            retry
        }
    };
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(wait) => true,
    }
}
