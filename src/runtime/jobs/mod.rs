//! The clock-driven jobs, each named after the rule it runs: releasing
//! scheduled tasks (`scheduled`), the missed-call follow-up's checkpoints
//! (`followup`), shift edges (`shifts`), case deadlines (`cases`),
//! travel escalations and inn reminders (`travel`), recurring work
//! (`recurring`) and the morning's after-sales review (`after_sales`).
//!
//! A job is one round: do what is due at `now`, say when there is next
//! something to do. [`Jobs`] runs each in a loop of its own that sleeps
//! until then, but never longer than the job's bound, so work added
//! meanwhile (over REST, or by another node) is seen in time; a failed
//! round is logged and tried again after the job's retry wait. All of them
//! start from one list and stop together.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub mod after_sales;
pub mod cases;
pub mod followup;
pub mod recurring;
pub mod scheduled;
pub mod shifts;
pub mod travel;

/// One clock-driven job.
pub trait Job: Send + 'static {
    type Error: Display + Send;

    /// What the job does, for the logs ("releasing scheduled tasks").
    const NAME: &'static str;

    /// The longest sleep between rounds: how late work added meanwhile,
    /// or a step of the wall clock, is noticed at most.
    const MAX_SLEEP: Duration;

    /// The wait before trying again after a failed round.
    const RETRY: Duration = Self::MAX_SLEEP;

    /// Does what is due at `now`; returns when there is next something to
    /// do (`None`: nothing known, look again after `max_sleep`).
    fn round(&mut self, now: Timestamp) -> impl Future<Output = Result<Option<Timestamp>, Self::Error>> + Send;

    /// Completes when something wants a round before the next due time
    /// (the travel board's nudges). By default, never.
    fn nudged(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }
}

/// The running jobs: started one by one, stopped together.
pub struct Jobs {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Jobs {
    /// Jobs that stop when `stop` fires.
    pub fn new(stop: CancellationToken) -> Jobs {
        Jobs { tracker: TaskTracker::new(), stop }
    }

    pub fn start<J: Job>(&self, job: J) {
        self.tracker.spawn(run(job, self.stop.clone()));
    }

    /// Waits, at most `grace`, for every job to finish its round and stop
    /// (the stop token must have fired). False when some did not.
    pub async fn stopped(self, grace: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }
}

async fn run<J: Job>(mut job: J, stop: CancellationToken) {
    loop {
        let round = job.round(Timestamp::now()).await;
        let wait = match round {
            Ok(next) => wait_until(next, Timestamp::now(), J::MAX_SLEEP),
            Err(e) => {
                tracing::error!(error = %e, "{} failed; will retry", J::NAME);
                J::RETRY
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = job.nudged() => {}
        }
    }
}

/// How long to sleep at `now` for a round due at `next`: at once if it has
/// passed, never longer than `max`.
fn wait_until(next: Option<Timestamp>, now: Timestamp, max: Duration) -> Duration {
    match next {
        None => max,
        Some(next) => {
            let until = next.duration_since(now);
            if until.is_negative() { Duration::ZERO } else { until.unsigned_abs().min(max) }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use jiff::SignedDuration;

    use super::*;

    #[test]
    fn the_wait_is_until_the_next_round_within_the_bound() {
        let now = Timestamp::from_second(1_000_000).unwrap();
        let max = Duration::from_secs(30);
        assert_eq!(wait_until(None, now, max), max);
        assert_eq!(wait_until(Some(now - SignedDuration::from_secs(5)), now, max), Duration::ZERO);
        assert_eq!(wait_until(Some(now + SignedDuration::from_secs(5)), now, max), Duration::from_secs(5));
        assert_eq!(wait_until(Some(now + SignedDuration::from_hours(5)), now, max), max);
    }

    /// Fails its first round, then is due again at once twice, then idles.
    struct Counting {
        rounds: Arc<AtomicUsize>,
    }

    impl Job for Counting {
        type Error = &'static str;
        const NAME: &'static str = "counting";
        const MAX_SLEEP: Duration = Duration::from_secs(3600);
        const RETRY: Duration = Duration::from_millis(1);

        async fn round(&mut self, now: Timestamp) -> Result<Option<Timestamp>, &'static str> {
            match self.rounds.fetch_add(1, Ordering::SeqCst) {
                0 => Err("the store is away"),
                1 | 2 => Ok(Some(now)),
                _ => Ok(None),
            }
        }
    }

    #[tokio::test]
    async fn a_failed_round_is_retried_due_work_runs_at_once_and_stop_ends_the_loop() {
        let stop = CancellationToken::new();
        let jobs = Jobs::new(stop.clone());
        let rounds = Arc::new(AtomicUsize::new(0));
        jobs.start(Counting { rounds: rounds.clone() });
        for _ in 0..200 {
            if rounds.load(Ordering::SeqCst) >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(rounds.load(Ordering::SeqCst), 4, "retry, then twice at once, then the long sleep");
        stop.cancel();
        assert!(jobs.stopped(Duration::from_secs(1)).await, "a sleeping job stops at once");
    }
}
