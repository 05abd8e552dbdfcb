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
use crate::app::reload::{self, Reloads};
use crate::app::{at_rest, leading};
use crate::auth::Auth;
use crate::auth::account_watch::AccountWatch;
use crate::config::{Config, ConfigError};
use crate::listen::http::HttpSettings;
use crate::listen::tls::{Tls, TlsError};
use crate::listen::{self, Gate};
use crate::live::{LiveError, LiveHealth, lease};
use crate::metrics::Metrics;
use crate::rules::dispatch::{Dispatcher, Rules};
use crate::rules::followup::Checkpoints;
use crate::runtime::figures::{self};
use crate::runtime::hub::{self};
use crate::runtime::jobs::Jobs;
use crate::runtime::jobs::after_sales::AfterSalesReview;
use crate::runtime::jobs::cases::CaseWatch;
use crate::runtime::jobs::followup::Runner;
use crate::runtime::jobs::recurring::RecurringWork;
use crate::runtime::jobs::scheduled::Scheduler;
use crate::runtime::jobs::shifts::ShiftClock;
use crate::runtime::jobs::travel::TravelWatch;
use crate::runtime::live_rules::LiveRules;
use crate::runtime::live_writer::LiveWriter;
use crate::runtime::planning;
use crate::runtime::record_writer::Writer;
use crate::runtime::recovery;
use crate::runtime::travel_board::Board;
use crate::sip::connector::{Connector, SipSettings};
use crate::sip::placer::{Placer, PlacerParts};
use crate::sip::transport;
use crate::store::{Store, StoreError};
use crate::{api, web, ws};

/// The sockets the server serves, bound by the caller so that tests can use port 0.
pub struct Listeners {
    pub http: TcpListener,
    /// The PBX connector's UDP and TCP sockets on one address; `None` runs without SIP.
    pub sip: Option<(UdpSocket, TcpListener)>,
    /// SIP over TLS (`server.sip_tls`), with `[server.tls]`'s certificate.
    pub sip_tls: Option<TcpListener>,
    /// The dialler's UDP socket (`[sip.outbound] listen`); `None` places no calls.
    pub dialler: Option<UdpSocket>,
}

impl Listeners {
    pub async fn bind(config: &Config) -> std::io::Result<Listeners> {
        let http = listen::bind_tcp(config.server.http)?;
        let sip = Some(bind_sip(config.server.sip).await?);
        let sip_tls = match config.server.sip_tls {
            Some(addr) => Some(listen::bind_tcp(addr)?),
            None => None,
        };
        let dialler = match &config.sip.outbound {
            Some(o) => Some(UdpSocket::bind(o.listen).await?),
            None => None,
        };
        Ok(Listeners { http, sip, sip_tls, dialler })
    }

    /// Only HTTP, on `http` (for tests and tools that need no SIP).
    pub async fn http_only(http: SocketAddr) -> std::io::Result<Listeners> {
        Ok(Listeners { http: TcpListener::bind(http).await?, sip: None, sip_tls: None, dialler: None })
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
/// record before returning. Three steps: [`build`] what the server needs
/// before it serves (the store, the secrets, the lease with Redis, the
/// recovered dispatcher), [`start`] its tasks, then serve HTTP until the
/// shutdown and [`Running::stop`] them in order.
pub async fn run(config: Config, listeners: Listeners, shutdown: CancellationToken) -> Result<(), ServerError> {
    run_with_reloads(config, listeners, shutdown, None).await
}

/// [`run`], reloading the configuration from its file on SIGHUP and when
/// `switchboard reload` asks (`app/reload.rs`).
pub async fn run_with_reloads(
    config: Config,
    listeners: Listeners,
    shutdown: CancellationToken,
    reloads: Option<Reloads>,
) -> Result<(), ServerError> {
    // A node fenced out by another stops itself without touching the caller's token.
    let shutdown = shutdown.child_token();
    let Some(built) = build(config, listeners, &shutdown).await? else {
        // Shut down while waiting for the lease, as a relay.
        return Ok(());
    };
    let running = start(built, shutdown.clone()).await?;
    let reloading = reloads.map(|r| tokio::spawn(reload::follow(running.state.clone(), r, shutdown.clone())));
    running.serve().await;
    if let Some(task) = reloading {
        let _ = task.await;
    }
    running.stop().await
}

/// What the server needs before any of its tasks start.
pub struct Built {
    config: Config,
    rules: Rules,
    checkpoints: Checkpoints,
    store: Store,
    auth: Arc<Auth>,
    tls: Option<Tls>,
    /// Stops the certificate watch when the server is done.
    _tls_watch: tokio_util::sync::DropGuard,
    http_settings: HttpSettings,
    listeners: Listeners,
    /// With Redis: the client and the epoch of the lease this node holds.
    leading: Option<(crate::live::Live, u64)>,
    accounts_from: i64,
    dispatcher: Dispatcher,
}

/// Checks the configuration, opens and migrates the store, reads the
/// secrets and the certificate, takes the lease (with Redis; relaying to
/// the leader meanwhile) and rebuilds the dispatcher. `None` when the
/// shutdown came while this node waited to lead.
pub async fn build(
    config: Config,
    mut listeners: Listeners,
    shutdown: &CancellationToken,
) -> Result<Option<Built>, ServerError> {
    // Checked before anything starts; built again below, over the version
    // a reload recorded, if newer.
    config.rules()?;
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
    let _tls_watch = tls_stop.drop_guard();
    let http_settings = http_settings(&config, tls.clone());
    let leading = match config.redis.url.is_empty() {
        true => None,
        false => {
            let (leading, http) =
                leading::lead(&config, &store, listeners.http, http_settings.clone(), shutdown).await?;
            listeners.http = http;
            match leading {
                Some(leading) => Some(leading),
                None => return Ok(None),
            }
        }
    };
    // The latest version recorded by a reload, when newer than the file.
    let config = reload::at_start(config, &store).await?;
    let rules = config.rules()?;
    let accounts_from = AccountWatch::load(&store, &auth).await?;
    let dispatcher = recovery::recover(&store, &rules).await?;
    if store.user_count().await? == 0 {
        tracing::warn!(
            "no users yet: create the first admin with `switchboard user add admin --role admin` \
             (the password is read from standard input)"
        );
    }
    Ok(Some(Built {
        config,
        rules,
        checkpoints,
        store,
        auth,
        tls,
        _tls_watch,
        http_settings,
        listeners,
        leading,
        accounts_from,
        dispatcher,
    }))
}

/// The server's running tasks, in the order they stop.
pub struct Running {
    shutdown: CancellationToken,
    grace: Duration,
    /// How long SIP may take to stop: the grace, or the dialler's drain.
    sip_grace: Duration,
    state: AppState,
    http: TcpListener,
    http_settings: HttpSettings,
    sip_tasks: TaskTracker,
    jobs: Jobs,
    board_task: tokio::task::JoinHandle<()>,
    account_watch: tokio::task::JoinHandle<()>,
    hub_stop: CancellationToken,
    hub_task: tokio::task::JoinHandle<()>,
    floor_stop: CancellationToken,
    floor_task: tokio::task::JoinHandle<()>,
    live: Option<(crate::live::Live, LiveWriter, tokio::task::JoinHandle<()>, Arc<LiveHealth>)>,
    lease_stop: CancellationToken,
    fenced: CancellationToken,
    writer: Writer,
    writer_task: tokio::task::JoinHandle<()>,
    store: Store,
    _tls_watch: tokio_util::sync::DropGuard,
}

/// Starts the writers, the hub with the dispatcher, the live figures, the
/// SIP connector, the travel board and the clock-driven jobs, and builds
/// the handlers' state, complete.
pub async fn start(built: Built, shutdown: CancellationToken) -> Result<Running, ServerError> {
    let Built {
        config,
        rules,
        checkpoints,
        store,
        auth,
        tls,
        _tls_watch,
        http_settings,
        listeners,
        leading,
        accounts_from,
        dispatcher,
    } = built;
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
    match store.fail_unfinished_simulations(Timestamp::now()).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(runs = n, "what-if runs left unfinished by the last stop marked failed"),
        Err(e) => tracing::warn!(error = %e, "marking unfinished what-if runs failed"),
    }
    let (planning_tx, planning_rx, planning_feed) = planning::channel();
    let sources = figures::Sources {
        store: store.clone(),
        calendar: rules.calendar.clone(),
        queues: rules.queues.clone(),
        checkpoints: Arc::new(checkpoints.clone()),
        live: health.clone(),
        metrics: metrics.clone(),
        satisfaction_target: config.figures.satisfaction_target,
        lists: config.cases.lists(),
        planning: Some(planning_feed.clone()),
    };
    let floor_stop = CancellationToken::new();
    let figures = figures.with_call_limit(SignedDuration::from_secs(config.calls.limit_secs as i64));
    let (floor_tx, floor_feed, floor_task) = figures::spawn(figures, names, sources, floor_stop.clone());
    let floor_tx = floor_tx.with_planning(planning_tx);
    let placer_floor = floor_tx.clone();
    let (hub, hub_task) = hub::spawn(
        dispatcher,
        writer.clone(),
        live.as_ref().map(|l| l.1.clone()),
        calls_tx,
        Some(floor_tx),
        hub_stop.clone(),
    );
    let planning_settings =
        planning::PlanningSettings::of(&config.planning, &config.figures, config.shifts.wind_down_minutes);
    let planning_task = planning::spawn(
        planning_rx,
        store.clone(),
        hub.clone(),
        rules.calendar.clone(),
        planning_settings,
        floor_stop.clone(),
    );
    let floor_task = tokio::spawn(async move {
        let _ = floor_task.await;
        let _ = planning_task.await;
    });
    let shared_rules = LiveRules::new(rules.clone());
    let sip_tasks = TaskTracker::new();
    let board = Board::default();
    let placer = match (listeners.dialler, &config.sip.outbound) {
        (Some(socket), Some(outbound)) => {
            tracing::info!(dialler = %socket.local_addr()?, pbx = %outbound.pbx, "placing calls through the PBX");
            let parts = PlacerParts {
                store: store.clone(),
                hub: hub.clone(),
                calendar: rules.calendar.clone(),
                outbound: outbound.clone(),
                lengths: config.calls.clone(),
                modes: config.dial_modes(),
                floor: Some(placer_floor),
                board: Some(board.clone()),
            };
            let (placer, task) = Placer::start(parts, socket, shutdown.clone()).await?;
            sip_tasks.spawn(async move {
                let _ = task.await;
            });
            Some(placer)
        }
        _ => None,
    };
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
        let connector = connector.with_metrics(metrics.clone()).with_planning(planning_feed.clone());
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
    let today = rules.calendar.date_of(Timestamp::now());
    let recurring = config.recurring_rules(&rules.calendar, today).map_err(|problems| ConfigError { problems })?;
    jobs.start(RecurringWork::new(store.clone(), hub.clone(), shared_rules.clone(), recurring, Timestamp::now()));
    jobs.start(AfterSalesReview::new(store.clone(), hub.clone(), shared_rules.clone()));
    jobs.start(TravelWatch {
        store: store.clone(),
        hub: hub.clone(),
        rules: shared_rules.clone(),
        inns: config.inns.clone(),
        board: board.clone(),
    });
    let grace = Duration::from_secs(config.server.shutdown_grace_secs);
    let sip_grace = config.sip.outbound.as_ref().map_or(grace, |o| grace.max(Duration::from_secs(o.drain_secs + 45)));
    let shared = Shared {
        shutdown: shutdown.clone(),
        live: health,
        board,
        floor: Some(floor_feed),
        planning: planning_feed.clone(),
        metrics,
        placer,
    };
    let state = AppState::new(store.clone(), hub, auth, config, shared_rules.clone(), checkpoints, shared);
    let account_watch = tokio::spawn(state.accounts().run(accounts_from, shutdown.clone()));
    tracing::info!(http = %http_addr, tls = tls.is_some(), database = ?store.backend(), "switchboard is serving");
    Ok(Running {
        shutdown,
        grace,
        sip_grace,
        state,
        http: listeners.http,
        http_settings,
        sip_tasks,
        jobs,
        board_task,
        account_watch,
        hub_stop,
        hub_task,
        floor_stop,
        floor_task,
        live,
        lease_stop,
        fenced,
        writer,
        writer_task,
        store,
        _tls_watch,
    })
}

impl Running {
    /// Serves HTTP and WebSockets until the shutdown.
    pub async fn serve(&self) {
        let app = app(&self.state);
        listen::http::serve(&self.http, app, self.http_settings.clone(), self.shutdown.clone()).await;
    }

    /// Stops taking work and stops every task in order: sockets, SIP, jobs,
    /// the hub (handing back offers), the figures, then the writers, so
    /// that every record reaches Redis and the store; with Redis, the lease
    /// goes last.
    pub async fn stop(self) -> Result<(), ServerError> {
        let Running {
            shutdown,
            grace,
            sip_grace,
            state,
            sip_tasks,
            jobs,
            board_task,
            account_watch,
            hub_stop,
            hub_task,
            floor_stop,
            floor_task,
            live,
            lease_stop,
            fenced,
            writer,
            writer_task,
            store,
            ..
        } = self;
        // Sessions watch the same token and close their sockets with 1001.
        shutdown.cancel();
        state.sessions.close();
        if tokio::time::timeout(grace, state.sessions.wait()).await.is_err() {
            tracing::warn!("some agent sessions did not close within the shutdown grace period");
        }
        if tokio::time::timeout(sip_grace, sip_tasks.wait()).await.is_err() {
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
