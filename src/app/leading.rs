//! Becoming the leading node (with Redis): taking the lease, relaying to
//! the leader meanwhile (`relay.rs`), bringing SQL up to the journal, and
//! the snapshot of the recovered state a new leader writes to Redis.
//! `server::run` calls these before it starts the hub.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::relay;
use crate::app::server::ServerError;
use crate::config::{Config, ConfigError};
use crate::listen::http::HttpSettings;
use crate::live::{Live, LiveOp, lease};
use crate::rules::dispatch::Dispatcher;
use crate::runtime::live_writer::Outbox;
use crate::store::{JournalPosition, Store};

/// With Redis: connects and takes the lease; while another node leads,
/// relays this node's HTTP and WebSocket clients to it (`relay.rs`) and
/// waits to take over. Once leading, brings SQL up to the journal so that
/// recovery sees every change the last leader made. `None` if shutdown
/// came first. Hands the HTTP listener back for the leader's own routes.
pub async fn lead(
    config: &Config,
    store: &Store,
    http: TcpListener,
    http_settings: HttpSettings,
    shutdown: &CancellationToken,
) -> Result<(Option<(Live, u64)>, TcpListener), ServerError> {
    let node = uuid::Uuid::now_v7().to_string();
    let lease_time = Duration::from_millis(config.redis.lease_ms);
    let advertise = match config.server.advertise_http.as_str() {
        "" if http.local_addr()?.ip().is_unspecified() => {
            return Err(ServerError::Config(ConfigError {
                problems: vec![
                    "server.advertise_http: must be set when server.http is a wildcard address and redis.url is set \
                     (the other nodes need an address to reach this one)"
                        .into(),
                ],
            }));
        }
        "" => http.local_addr()?.to_string(),
        addr => addr.to_owned(),
    };
    let live = if config.redis.cluster {
        let seeds: Vec<&str> = config.redis.url.split(',').map(str::trim).collect();
        Live::connect_cluster(&seeds, &config.redis.prefix, lease_time, &node, &advertise).await?
    } else {
        Live::connect(&config.redis.url, &config.redis.prefix, lease_time, &node, &advertise).await?
    };
    let origins = config.server.allowed_origins.clone().into();
    let (epoch, http) = relay_until_leader(&live, http, http_settings, origins, shutdown).await?;
    let Some(epoch) = epoch else { return Ok((None, http)) };
    tracing::info!(node, epoch, "this node leads");
    let replayed = replay_journal(store, &live).await?;
    let in_redis = live.task_count().await?;
    tracing::info!(replayed, live_tasks_in_redis = in_redis, "the store caught up with the redis journal");
    Ok((Some((live, epoch)), http))
}

/// Takes the lease at once if it is free; otherwise serves as a relay on
/// `http` until this node wins it (or shutdown), then stops relaying and
/// returns the listener, which kept its port throughout.
async fn relay_until_leader(
    live: &Live,
    http: TcpListener,
    settings: HttpSettings,
    origins: std::sync::Arc<[String]>,
    shutdown: &CancellationToken,
) -> Result<(Option<u64>, TcpListener), ServerError> {
    if let Some(epoch) = live.take_lease(None).await? {
        return Ok((Some(epoch), http));
    }
    let addr = http.local_addr()?;
    let leader = live.leader().await?.unwrap_or_default();
    tracing::info!(http = %addr, leader, "another node leads; this node is relaying to it until it can take over");
    let kept = http.into_std()?;
    let relaying = TcpListener::from_std(kept.try_clone()?)?;
    let won = CancellationToken::new();
    let upstream_tls = settings.tls.as_ref().map(|t| t.pinned_connector());
    let router = relay::router(live.clone(), upstream_tls, origins);
    let stop = won.clone();
    let relay = tokio::spawn(async move { crate::listen::http::serve(&relaying, router, settings, stop).await });
    let epoch = lease::acquire(live, shutdown).await;
    won.cancel();
    // Relayed connections to the old leader have closed with it.
    if tokio::time::timeout(Duration::from_secs(2), relay).await.is_err() {
        tracing::warn!("relayed connections did not close within 2 s of taking over");
    }
    Ok((epoch?, TcpListener::from_std(kept)?))
}

/// Writes into SQL the journal's batches it does not hold yet, each with
/// its position in one transaction, so a batch is never applied twice.
/// Returns how many records it wrote.
pub async fn replay_journal(store: &Store, live: &Live) -> Result<usize, ServerError> {
    let prefix = live.prefix();
    let mut position = store.journal_position(prefix).await?;
    let mut replayed = 0;
    loop {
        let batches = live.journal_after(&position, 256).await?;
        if batches.is_empty() {
            return Ok(replayed);
        }
        for (id, records) in batches {
            let at = JournalPosition { prefix: prefix.to_owned(), id };
            store.write(&[], &records, Some(&at)).await?;
            replayed += records.len();
            position = at.id;
        }
    }
}

/// The dispatcher's live state as one batch for Redis: what was there is
/// replaced by what this node recovered.
pub fn snapshot(d: &Dispatcher) -> Outbox {
    let mut ops = vec![LiveOp::Clear];
    ops.extend(d.live_tasks().iter().map(|(id, t)| LiveOp::from_live_task(*id, t)));
    ops.extend(d.agents_view().into_iter().map(|a| LiveOp::Agent(a.id, a.status)));
    Outbox { ops, ..Outbox::default() }
}
