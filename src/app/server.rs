//! Wiring: store, recovery, hub, HTTP and WebSocket, and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jiff::{SignedDuration, Timestamp};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::api::state::{AppState, Shared};
use crate::app::{at_rest, leading};
use crate::auth::Auth;
use crate::auth::account_watch::AccountWatch;
use crate::auth::accounts;
use crate::config::{Config, ConfigError};
use crate::domain::{AgentStatus, MissReason, ReturnReason, TaskKind, TaskStatus};
use crate::listen::http::HttpSettings;
use crate::listen::tls::{Tls, TlsError};
use crate::listen::{self, Gate};
use crate::live::{LiveError, LiveHealth, lease};
use crate::metrics::Metrics;
use crate::rules::dispatch::{Command, Dispatcher, NewTask, Record, Rules};
use crate::runtime::figures::{self};
use crate::runtime::hub::{self};
use crate::runtime::jobs::Jobs;
use crate::runtime::jobs::cases::CaseWatch;
use crate::runtime::jobs::followup::Runner;
use crate::runtime::jobs::scheduled::Scheduler;
use crate::runtime::jobs::shifts::ShiftClock;
use crate::runtime::jobs::travel::TravelWatch;
use crate::runtime::live_writer::LiveWriter;
use crate::runtime::record_writer::Writer;
use crate::runtime::travel_board::Board;
use crate::sip::connector::{Connector, SipSettings};
use crate::sip::transport;
use crate::store::{CallWrite, MissedCall, Store, StoreError};
use crate::{api, web, ws};

/// The sockets the server serves, bound by the caller so that tests can use port 0.
pub struct Listeners {
    pub http: TcpListener,
    /// The PBX connector's UDP and TCP sockets on one address; `None` runs without SIP.
    pub sip: Option<(UdpSocket, TcpListener)>,
    /// SIP over TLS (`server.sip_tls`), with `[server.tls]`'s certificate.
    pub sip_tls: Option<TcpListener>,
}

impl Listeners {
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let http = listen::bind_tcp(config.server.http)?;
        let sip = Some(bind_sip(config.server.sip).await?);
        let sip_tls = match config.server.sip_tls {
            Some(addr) => Some(listen::bind_tcp(addr)?),
            None => None,
        };
        Ok(Listeners { http, sip, sip_tls })
    }

    /// Only HTTP, on `http` (for tests and tools that need no SIP).
    pub async fn http_only(http: SocketAddr) -> std::io::Result<Listeners> {
        Ok(Listeners { http: TcpListener::bind(http).await?, sip: None, sip_tls: None })
    }

    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }

    pub fn sip_addr(&self) -> Option<SocketAddr> {
        self.sip.as_ref().and_then(|(udp, _)| udp.local_addr().ok())
    }
}

/// Binds UDP and TCP on the same address. With port 0, UDP picks the port
/// and TCP takes the same one (retrying if another program holds it).
pub async fn bind_sip(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..20 {
        let udp = UdpSocket::bind(addr).await?;
        match listen::bind_tcp(udp.local_addr()?) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no port free for SIP")))
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Secret(#[from] at_rest::SecretError),
    /// Another node took the lease while this one was cut off from Redis:
    /// this node stopped so that only one decides. Restarted, it serves
    /// again as a standby.
    #[error("another node took over the lease; this node stopped")]
    Fenced,
}

/// Runs the server until `shutdown` fires, then stops taking work, closes
/// agents' sockets, hands back outstanding offers and writes every pending
/// record before returning.
pub async fn run(config: Config, mut listeners: Listeners, shutdown: CancellationToken) -> Result<(), ServerError> {
    // A node fenced out by another stops itself without touching the caller's token.
    let shutdown = shutdown.child_token();
    let rules = config.rules()?;
    let checkpoints = config.checkpoints()?;
    let store = Store::connect(&config.database_url()).await?;
    store.migrate().await?;
    let secret = at_rest::token_secret(&config)?;
    let auth = Arc::new(Auth::new(
        &secret,
        SignedDuration::from_secs(config.auth.token_ttl_secs as i64),
        SignedDuration::from_secs(config.auth.ws_ticket_ttl_secs as i64),
    ));
    let tls = config.server.tls.enabled().then(|| Tls::load(&config.server.tls)).transpose()?;
    let tls_stop = CancellationToken::new();
    if let Some(tls) = &tls {
        tokio::spawn(tls.clone().watch(tls_stop.clone()));
    }
    let _stop_tls_watch = tls_stop.drop_guard();
    let http_settings = http_settings(&config, tls.clone());
    let leading = match config.redis.url.is_empty() {
        true => None,
        false => {
            let (leading, http) =
                leading::lead(&config, &store, listeners.http, http_settings.clone(), &shutdown).await?;
            listeners.http = http;
            match leading {
                Some(leading) => Some(leading),
                None => return Ok(()),
            }
        }
    };
    let accounts_from = AccountWatch::load(&store, &auth).await?;
    let dispatcher = recover(&store, &rules).await?;
    if store.user_count().await? == 0 {
        tracing::warn!(
            "no users yet: create the first admin with `switchboard user add admin --role admin` \
             (the password is read from standard input)"
        );
    }
    let http_addr = listeners.http_addr()?;
    let hub_stop = CancellationToken::new();
    let (calls_tx, calls_rx) = tokio::sync::mpsc::unbounded_channel();
    let calls_tx = listeners.sip.is_some().then_some(calls_tx);
    let (writer, writer_task) = Writer::spawn(store.clone());
    let fenced = CancellationToken::new();
    let lease_stop = CancellationToken::new();
    let metrics = Arc::new(Metrics::default());
    let live = leading.map(|(live, epoch)| {
        let health = LiveHealth::new(config.redis.max_pending, metrics.clone());
        let (live_writer, task) =
            LiveWriter::spawn(live.clone(), epoch, writer.clone(), health.clone(), fenced.clone());
        // Redis's live state restarts from what this node recovered.
        live_writer.send(leading::snapshot(&dispatcher));
        tokio::spawn(lease::keep(live.clone(), epoch, health.clone(), fenced.clone(), lease_stop.clone()));
        let stop = shutdown.clone();
        let fenced = fenced.clone();
        tokio::spawn(async move {
            fenced.cancelled().await;
            stop.cancel();
        });
        (live, live_writer, task, health)
    });
    let health = live.as_ref().map(|l| l.3.clone());
    let (figures, names) =
        figures::starting_figures(&store, config.figures.clone(), &rules.calendar, &dispatcher, Timestamp::now())
            .await?;
    let sources = figures::Sources {
        store: store.clone(),
        calendar: rules.calendar.clone(),
        checkpoints: Arc::new(checkpoints.clone()),
        live: health.clone(),
        metrics: metrics.clone(),
    };
    let floor_stop = CancellationToken::new();
    let (floor_tx, floor_feed, floor_task) = figures::spawn(figures, names, sources, floor_stop.clone());
    let (hub, hub_task) = hub::spawn(
        dispatcher,
        writer.clone(),
        live.as_ref().map(|l| l.1.clone()),
        calls_tx,
        Some(floor_tx),
        hub_stop.clone(),
    );
    let shared_rules = Arc::new(rules.clone());
    let sip_tasks = TaskTracker::new();
    if let Some((udp, tcp)) = listeners.sip {
        let settings = SipSettings::new(&config.sip, &rules);
        let transport = transport::TransportSettings::new(&config.sip);
        let udp = Arc::new(udp);
        tracing::info!(sip = %udp.local_addr()?, "SIP connector listening on UDP and TCP");
        let (inbound_tx, inbound_rx) = tokio::sync::mpsc::channel(4096);
        let (connector, inputs) =
            Connector::new(settings, shared_rules.clone(), hub.clone(), writer.clone(), Some(udp.clone()));
        let connector = match &health {
            Some(h) => connector.with_live_health(h.clone()),
            None => connector,
        };
        let connector = connector.with_metrics(metrics.clone());
        sip_tasks.spawn(transport::serve_udp(udp, inbound_tx.clone(), transport.clone(), shutdown.clone()));
        if let (Some(listener), Some(tls)) = (listeners.sip_tls, &tls) {
            tracing::info!(sips = %listener.local_addr()?, "SIP connector listening on TLS");
            let acceptor = Some(tls.sip_acceptor());
            let serving =
                transport::serve_tcp(listener, acceptor, inbound_tx.clone(), transport.clone(), shutdown.clone());
            sip_tasks.spawn(serving);
        }
        sip_tasks.spawn(transport::serve_tcp(tcp, None, inbound_tx, transport, shutdown.clone()));
        sip_tasks.spawn(connector.run(inputs, inbound_rx, calls_rx, shutdown.clone()));
    }
    sip_tasks.close();
    let board = Board::default();
    let board_task = tokio::spawn(board.clone().run(store.clone(), config.cars.clone(), shutdown.clone()));
    let jobs = Jobs::new(shutdown.clone());
    jobs.start(Runner {
        store: store.clone(),
        writer: writer.clone(),
        hub: hub.clone(),
        rules: shared_rules.clone(),
        checkpoints: checkpoints.clone(),
    });
    jobs.start(Scheduler { store: store.clone(), hub: hub.clone(), rules: shared_rules.clone() });
    jobs.start(ShiftClock::new(
        store.clone(),
        hub.clone(),
        rules.calendar.clone(),
        config.shifts.wind_down(),
        Timestamp::now(),
    ));
    jobs.start(CaseWatch {
        store: store.clone(),
        hub: hub.clone(),
        rules: shared_rules.clone(),
        remind_before: SignedDuration::from_mins(config.cases.remind_before_minutes as i64),
    });
    jobs.start(TravelWatch {
        store: store.clone(),
        hub: hub.clone(),
        rules: shared_rules.clone(),
        inns: config.inns.clone(),
        board: board.clone(),
    });
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let shared = Shared { shutdown: shutdown.clone(), live: health, board, floor: Some(floor_feed), metrics };
    let state = AppState::new(store.clone(), hub, auth, config, rules, checkpoints, shared);
    let account_watch = tokio::spawn(state.accounts().run(accounts_from, shutdown.clone()));
    let app = app(&state);
    tracing::info!(http = %http_addr, tls = tls.is_some(), database = ?store.backend(), "switchboard is serving");
    listen::http::serve(&listeners.http, app, http_settings, shutdown.clone()).await;
    // Sessions watch the same token and close their sockets with 1001.
    shutdown.cancel();
    state.sessions.close();
    if tokio::time::timeout(grace, state.sessions.wait()).await.is_err() {
        tracing::warn!("some agent sessions did not close within the shutdown grace period");
    }
    if tokio::time::timeout(grace, sip_tasks.wait()).await.is_err() {
        tracing::warn!("the SIP connector did not stop within the shutdown grace period");
    }
    if !jobs.stopped(grace).await {
        tracing::warn!("some clock-driven jobs did not finish within the shutdown grace period");
    }
    let clock_loops = [("the dispatch board", board_task), ("following account changes", account_watch)];
    for (what, task) in clock_loops {
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!("{what} did not finish within the shutdown grace period");
        }
    }
    hub_stop.cancel();
    if tokio::time::timeout(grace, hub_task).await.is_err() {
        tracing::error!("the dispatcher did not stop within the shutdown grace period");
    }
    floor_stop.cancel();
    let _ = floor_task.await;
    // The live writer stops once the hub has dropped its handle; then the
    // lease goes, so a standby takes over at once.
    if let Some((live, live_writer, task, _)) = live {
        drop(live_writer);
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::error!("changes could not all be written to redis within the shutdown grace period");
        }
        lease_stop.cancel();
        if !fenced.is_cancelled()
            && let Err(e) = live.release_lease().await
        {
            tracing::warn!(error = %e, "giving up the lease failed; another node takes over when it lapses");
        }
    }
    // The writer stops once the hub, the connector and this are done with it.
    drop(writer);
    if tokio::time::timeout(grace, writer_task).await.is_err() {
        tracing::error!("pending records could not all be written within the shutdown grace period");
    }
    store.close().await;
    tracing::info!("switchboard stopped");
    if fenced.is_cancelled() {
        return Err(ServerError::Fenced);
    }
    Ok(())
}

/// Every route of the server with its layers: the security matrix first
/// (`api::access`), then the Redis back-pressure, the security headers and
/// the request's span.
pub fn app(state: &AppState) -> Router {
    api::router()
        .merge(web::router())
        .route("/ws", get(ws::upgrade))
        .route("/ws/wallboard", get(ws::upgrade_wallboard))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), api::access::authorize))
        .layer(axum::middleware::from_fn_with_state(state.clone(), api::refuse_changes_while_buffer_full))
        .layer(axum::middleware::from_fn(api::security_headers))
        .layer(axum::middleware::from_fn(api::in_request_span))
        .with_state(state.clone())
}

/// The HTTP listener's settings from `[server]`, capped below the
/// process's file limit so that the store, Redis and the SIP sockets keep
/// descriptors of their own when clients take every connection allowed.
pub fn http_settings(config: &Config, tls: Option<Tls>) -> HttpSettings {
    let server = &config.server;
    let mut total = server.max_connections;
    if let Some(files) = listen::open_files_limit() {
        let room = (files as usize).saturating_sub(128).max(16);
        if room < total {
            tracing::warn!(
                max_connections = total,
                open_files = files,
                "server.max_connections is above what the open-file limit leaves; serving {room} at most"
            );
            total = room;
        }
    }
    let proxies: Vec<_> = server.trusted_proxies.iter().filter_map(|n| crate::listen::net::Net::parse(n)).collect();
    HttpSettings {
        tls,
        gate: Gate::new(total, server.max_connections_per_address, proxies.clone()),
        proxies: proxies.into(),
        header_read_timeout: Duration::from_secs(server.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(server.idle_timeout_secs),
    }
}

/// Rebuilds the dispatcher from the store: agents with their break status,
/// waiting tasks at their old places, held tasks back with their agents
/// (who get the reconnect grace period to return). Offers do not survive a
/// restart: those tasks wait again.
pub async fn recover(store: &Store, rules: &Rules) -> Result<Dispatcher, StoreError> {
    let mut d = Dispatcher::new(rules.clone());
    let now = Timestamp::now();
    let mut effects = Vec::new();
    for user in store.users().await?.into_iter().filter(accounts::routable) {
        let _ = d.handle(now, Command::UpsertAgent(accounts::profile(rules, &user)), &mut effects);
        if let AgentStatus::Break(_) = user.status {
            let _ = d.handle(now, Command::SetStatus { agent: user.id, status: user.status.clone() }, &mut effects);
        }
    }
    let mut records = Vec::new();
    let mut count = 0;
    let mut missed = Vec::new();
    for (task, attempts) in store.live_tasks().await? {
        // A caller who was waiting in the queue is gone with the process's
        // SIP transactions: the call becomes a missed call to call back,
        // never a screen-pop for a call that no longer exists.
        if task.kind == TaskKind::InboundCall && task.status != TaskStatus::Assigned {
            records.push(Record::TaskClosed {
                task: task.id,
                status: TaskStatus::Abandoned,
                agent: None,
                outcome: None,
                summary: Some("the server restarted while the caller waited".into()),
                at: now,
            });
            missed.push(MissedCall {
                caller: task.customer_phone.clone(),
                called: String::new(),
                queue: task.queue.clone(),
                reason: MissReason::ServerRestart,
                task: Some(task.id),
                at: now,
            });
            continue;
        }
        let held_by = (task.status == TaskStatus::Assigned).then_some(task.agent_id).flatten();
        if task.status == TaskStatus::Offered
            && let Some(agent) = task.agent_id
        {
            records.push(Record::TaskReturned {
                task: task.id,
                agent,
                event: ReturnReason::Restart,
                note: None,
                at: now,
            });
        }
        let new = task.to_new_task(rules, &attempts, held_by);
        if let (Err(_), Some(agent)) = (d.handle(now, Command::AddTask(new.clone()), &mut effects), held_by) {
            // Its agent is gone: the task waits for someone else.
            records.push(Record::TaskReturned {
                task: task.id,
                agent,
                event: ReturnReason::AgentRemoved,
                note: None,
                at: now,
            });
            let _ = d.handle(now, Command::AddTask(NewTask { held_by: None, ..new }), &mut effects);
        }
        count += 1;
    }
    records.extend(effects.into_iter().filter_map(|e| match e {
        crate::rules::dispatch::Effect::Record(r) => Some(r),
        _ => None,
    }));
    store.apply(&records).await?;
    let missed: Vec<CallWrite> = missed.into_iter().map(CallWrite::Missed).collect();
    store.apply_call_writes(&missed).await?;
    tracing::info!(tasks = count, "live state recovered from the store");
    Ok(d)
}
