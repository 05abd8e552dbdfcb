//! The command line: `serve` (the default), `migrate`, `check-config`,
//! `user add|set|passwd|disable|enable|delete` and `replay` (`what_if.rs`). Operators and scripts rely on
//! these names and flags. A user changed here while the server runs takes
//! effect there within a second (`crate::auth::account_watch`).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use crate::app::server::{self, Listeners};
use crate::auth::accounts::{self, NewAccount};
use crate::config::Config;
use crate::domain::Role;
use crate::store::{ReloadStatus, Store, User, UserPatch};

#[derive(Parser, Debug)]
#[command(name = "switchboard", version, about = "Real-time dispatch server for telephone customer-service centres")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(StoreArgs),
    /// Load and validate the configuration, print it, and exit.
    CheckConfig(ConfigArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Replay recorded days under a configuration or staffing (what-if),
    /// beside the days as recorded.
    Replay(crate::app::what_if::ReplayArgs),
    /// Have the running server re-read its configuration file and apply
    /// what may change live (or send it SIGHUP); prints what changed.
    Reload(ReloadArgs),
}

#[derive(Args, Debug)]
pub struct ReloadArgs {
    /// Re-plan live tasks under the new rules: each takes its kind's new
    /// priority, keeping its place among tasks of one priority.
    #[arg(long)]
    pub reevaluate: bool,
    /// How long to wait for the server's answer, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    pub wait: u64,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug, Default, Clone)]
pub struct ConfigArgs {
    /// Configuration file (default: config/switchboard.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Args, Debug, Default, Clone)]
pub struct StoreArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Folder of the embedded database [default: data/].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database instead of the embedded one: postgres://USER@HOST/DB (the
    /// store several nodes share) or sqlite:PATH. Overrides
    /// `server.database_url`.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// HTTP and WebSocket address [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// SIP address for the PBX connector [default: 127.0.0.1:5060].
    #[arg(long, value_name = "ADDR")]
    pub sip: Option<SocketAddr>,
    /// SIP over TLS for the PBX connector, with `[server.tls]`'s certificate
    /// (`sips:`; commonly port 5061). Overrides `server.sip_tls`.
    #[arg(long, value_name = "ADDR")]
    pub sip_tls: Option<SocketAddr>,
    /// Keep the live state in Redis (redis://HOST:PORT/DB): nodes sharing
    /// one Redis and one PostgreSQL serve one centre. Overrides `redis.url`.
    #[arg(long = "redis", value_name = "URL", env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Create a user; the password is read from standard input.
    Add(UserAddArgs),
    /// Change a user's role, skills, SIP URI or display name.
    Set(UserSetArgs),
    /// Set a user's password, read from standard input; their sessions end.
    Passwd(UserNameArgs),
    /// Disable a user: logins refused, sessions and sockets ended.
    Disable(UserNameArgs),
    /// Enable a disabled user again.
    Enable(UserNameArgs),
    /// Delete a user: sessions end; the records of their work stay.
    Delete(UserNameArgs),
}

#[derive(Args, Debug)]
pub struct UserNameArgs {
    /// The login name.
    pub name: String,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct UserSetArgs {
    /// The login name.
    pub name: String,
    /// agent, dispatcher, supervisor or admin (ends the user's sessions).
    #[arg(long)]
    pub role: Option<Role>,
    /// Where the PBX rings this agent; an empty value removes it.
    #[arg(long, value_name = "URI")]
    pub sip_uri: Option<String>,
    /// Queues the agent serves, comma-separated, each with its level 1-5
    /// after a colon where above 1 (`hotline:4,callbacks`); an empty value
    /// for none.
    #[arg(long, value_delimiter = ',')]
    pub skills: Option<Vec<String>>,
    #[arg(long)]
    pub display_name: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// Login name (a-z, 0-9, '.', '_', '-').
    pub name: String,
    /// agent, dispatcher, supervisor or admin.
    #[arg(long)]
    pub role: Role,
    /// Where the PBX rings this agent, e.g. sip:1001@pbx.example.
    #[arg(long, value_name = "URI")]
    pub sip_uri: Option<String>,
    /// Queues the agent serves, comma-separated, each with its level 1-5
    /// after a colon where above 1 (`hotline:4,callbacks`).
    #[arg(long, value_delimiter = ',')]
    pub skills: Vec<String>,
    /// Name shown to colleagues [default: the login name].
    #[arg(long)]
    pub display_name: Option<String>,
    /// The work number (工号) the agent gives on the phone, e.g. 010.
    #[arg(long, value_name = "NUMBER")]
    pub work_number: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        Role::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

pub(super) fn load(args: &StoreArgs) -> Result<Config, String> {
    let mut config = Config::load_default_or(args.config.config.as_deref()).map_err(|e| e.to_string())?;
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    if let Some(url) = &args.database_url {
        config.server.database_url = url.clone();
        // Checked like the file's value, naming the key.
        config.rules().map_err(|e| e.to_string())?;
    }
    Ok(config)
}

pub(super) async fn open_store(config: &Config) -> Result<Store, String> {
    let store = Store::connect(&config.database_url()).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok(store)
}

/// Runs the command line; `main` only calls this.
pub async fn main(cli: Cli) -> ExitCode {
    let result = match cli.command.unwrap_or(Cmd::Serve(ServeArgs::default())) {
        Cmd::Serve(args) => serve(args).await,
        Cmd::Migrate(args) => migrate(args).await,
        Cmd::CheckConfig(args) => check_config(args),
        Cmd::User(UserCmd::Add(args)) => user_add(args).await,
        Cmd::User(UserCmd::Set(args)) => user_set(args).await,
        Cmd::User(UserCmd::Passwd(args)) => user_passwd(args).await,
        Cmd::User(UserCmd::Disable(args)) => user_enable(args, false).await,
        Cmd::User(UserCmd::Enable(args)) => user_enable(args, true).await,
        Cmd::User(UserCmd::Delete(args)) => user_delete(args).await,
        Cmd::Replay(args) => crate::app::what_if::replay(args).await,
        Cmd::Reload(args) => reload(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration as `serve` runs with it: the file, the environment,
/// then the flags. Read again for each reload.
fn serve_config(args: &ServeArgs) -> Result<Config, String> {
    let mut config = load(&args.store)?;
    if let Some(http) = args.http {
        config.server.http = http;
    }
    if let Some(sip) = args.sip {
        config.server.sip = sip;
    }
    if let Some(sip_tls) = args.sip_tls {
        config.server.sip_tls = Some(sip_tls);
        config.rules().map_err(|e| e.to_string())?;
    }
    if let Some(url) = &args.redis_url {
        config.redis.url = url.clone();
        config.rules().map_err(|e| e.to_string())?;
    }
    Ok(config)
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let config = serve_config(&args)?;
    for warning in warnings(&config) {
        tracing::warn!("{warning}");
    }
    let listeners =
        Listeners::bind(&config).await.map_err(|e| format!("cannot listen on {}: {e}", config.server.http))?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        signal.cancel();
    });
    let (hangups, signals) = tokio::sync::mpsc::channel(4);
    tokio::spawn(forward_hangups(hangups));
    let reread = move || serve_config(&args).and_then(|c| c.rules().map(|_| c).map_err(|e| e.to_string()));
    let reloads = crate::app::reload::Reloads { reread: std::sync::Arc::new(reread), signals };
    server::run_with_reloads(config, listeners, shutdown, Some(reloads)).await.map_err(|e| e.to_string())
}

/// Each SIGHUP asks for a reload from the configuration file.
async fn forward_hangups(hangups: tokio::sync::mpsc::Sender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            tracing::warn!("SIGHUP cannot be caught here: reload with `switchboard reload`");
            return;
        };
        while hangup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration file");
            if hangups.send(()).await.is_err() {
                return;
            }
        }
    }
    #[cfg(not(unix))]
    drop(hangups);
}

/// Asks the running server (through the store it shares) to re-read the
/// configuration file, and prints its answer. A file that does not pass
/// the checks is refused here, before asking.
async fn reload(args: ReloadArgs) -> Result<(), String> {
    let config = load(&args.store)?;
    config.rules().map_err(|e| e.to_string())?;
    let store = open_store(&config).await?;
    let answer = ask_for_reload(&store, args.reevaluate, Duration::from_secs(args.wait)).await;
    store.close().await;
    println!("{}", answer?);
    Ok(())
}

async fn ask_for_reload(store: &Store, reevaluate: bool, wait: Duration) -> Result<String, String> {
    let id = store.request_reload(Timestamp::now(), reevaluate).await.map_err(|e| e.to_string())?;
    let mut until = tokio::time::Instant::now() + wait;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let request = store.reload_request(id).await.map_err(|e| e.to_string())?;
        match request.map(|r| (r.status, r.outcome.unwrap_or_default())) {
            Some((ReloadStatus::Applied, said)) => return Ok(said),
            Some((ReloadStatus::Refused | ReloadStatus::Expired, why)) => {
                return Err(format!("refused, nothing changed: {why}"));
            }
            Some((ReloadStatus::Pending, _)) if tokio::time::Instant::now() >= until => {
                let gave_up = "the command gave up waiting";
                let expired = store.finish_reload_request(id, ReloadStatus::Expired, gave_up, Timestamp::now()).await;
                if matches!(expired, Ok(true)) {
                    let secs = wait.as_secs();
                    return Err(format!("no server answered within {secs} s: is one running on this database?"));
                }
            }
            // Taken by the server: its answer comes once it is applied.
            Some((ReloadStatus::Taken, _)) if tokio::time::Instant::now() >= until => {
                until = tokio::time::Instant::now() + Duration::from_secs(30);
            }
            Some(_) => {}
            None => return Err("the request vanished from the store".into()),
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

async fn migrate(args: StoreArgs) -> Result<(), String> {
    let config = load(&args)?;
    let store = open_store(&config).await?;
    store.close().await;
    println!("database is up to date: {}", redact(&config.database_url()));
    Ok(())
}

fn check_config(args: ConfigArgs) -> Result<(), String> {
    let config = Config::load_default_or(args.config.as_deref()).map_err(|e| e.to_string())?;
    let mut shown = config.clone();
    if !shown.auth.token_secret.is_empty() {
        shown.auth.token_secret = "(set)".into();
    }
    for token in shown.cti.tokens.values_mut().chain(shown.access.back_office_tokens.values_mut()) {
        *token = "(set)".into();
    }
    shown.server.database_url = redact(&shown.server.database_url);
    shown.redis.url = redact(&shown.redis.url);
    println!("{}", serde_json::to_string_pretty(&shown).expect("config serialises"));
    for warning in warnings(&config) {
        eprintln!("warning: {warning}");
    }
    eprintln!("configuration is valid");
    Ok(())
}

/// What is valid but unsafe on a real network.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let http = config.server.http.ip();
    if !config.server.tls.enabled() && !http.is_loopback() {
        warnings.push(format!(
            "server.http {http} is not a loopback address and [server.tls] is not set: passwords, tokens and \
             customers' data cross the network in clear; set server.tls.cert and key, or serve behind a TLS proxy"
        ));
    }
    let sip = config.server.sip.ip();
    if !sip.is_loopback() && config.server.sip_tls.is_none() {
        warnings.push(format!(
            "server.sip {sip} is not a loopback address and no SIP TLS listener is set (server.sip_tls): the \
             PBX's signalling, agents' addresses included, crosses the network in clear"
        ));
    }
    if !config.redis.url.is_empty()
        && config.auth.token_secret.is_empty()
        && config.auth.token_secret_file.as_os_str().is_empty()
    {
        warnings.push(
            "redis.url is set (several nodes) but the token-signing secret is each node's own file in its data \
             folder: give every node the same secret (auth.token_secret_file or SWITCHBOARD_AUTH__TOKEN_SECRET)"
                .into(),
        );
    }
    warnings.extend(crate::app::at_rest::permission_warnings(config));
    warnings
}

async fn user_add(args: UserAddArgs) -> Result<(), String> {
    let config = load(&args.store)?;
    let rules = config.rules().map_err(|e| e.to_string())?;
    let password = read_password()?;
    let (skills, levels) = skills_and_levels(args.skills)?;
    let store = open_store(&config).await?;
    let account = NewAccount {
        username: args.name,
        password,
        role: args.role,
        display_name: args.display_name,
        work_number: args.work_number,
        sip_uri: args.sip_uri,
        skills,
        levels,
        voice_capacity: None,
        back_office_capacity: None,
    };
    let result = accounts::create(&store, &rules, config.dispatch.default_back_office_capacity, account).await;
    store.close().await;
    let user = result.map_err(|e| e.to_string())?;
    println!("created {} {} ({})", user.role, user.username, user.id);
    Ok(())
}

/// Splits `--skills hotline:4,callbacks` into the skills and their levels.
fn skills_and_levels(given: Vec<String>) -> Result<(Vec<String>, BTreeMap<String, u8>), String> {
    let mut skills = Vec::new();
    let mut levels = BTreeMap::new();
    for item in given.into_iter().filter(|s| !s.is_empty()) {
        match item.split_once(':') {
            Some((skill, level)) => {
                let level = level.parse().map_err(|_| format!("--skills: `{item}`: a level is 1 to 5"))?;
                levels.insert(skill.to_owned(), level);
                skills.push(skill.to_owned());
            }
            None => skills.push(item),
        }
    }
    Ok((skills, levels))
}

/// Reads a password from standard input (one line, or everything).
fn read_password() -> Result<String, String> {
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password).map_err(|e| format!("reading the password: {e}"))?;
    Ok(password.trim_end_matches(['\r', '\n']).to_owned())
}

/// Opens the store of `args` and finds the user `name`.
async fn find_user(args: &StoreArgs, name: &str) -> Result<(Config, Store, User), String> {
    let config = load(args)?;
    let store = open_store(&config).await?;
    match store.user_by_name(name).await {
        Ok(Some(user)) => Ok((config, store, user)),
        Ok(None) => {
            store.close().await;
            Err(format!("no user named {name}"))
        }
        Err(e) => {
            store.close().await;
            Err(e.to_string())
        }
    }
}

async fn user_set(args: UserSetArgs) -> Result<(), String> {
    let (config, store, user) = find_user(&args.store, &args.name).await?;
    let rules = config.rules().map_err(|e| e.to_string())?;
    let (skills, levels) = match args.skills {
        Some(given) => skills_and_levels(given).map(|(s, l)| (Some(s), Some(l)))?,
        None => (None, None),
    };
    let patch = UserPatch {
        role: args.role,
        display_name: args.display_name,
        sip_uri: args.sip_uri.map(|u| Some(u).filter(|u| !u.is_empty())),
        skills,
        levels,
        ..UserPatch::default()
    };
    let result = accounts::update(&store, &rules, user.id, patch).await;
    store.close().await;
    let user = result.map_err(|e| e.to_string())?;
    println!("changed {} {} ({})", user.role, user.username, user.id);
    Ok(())
}

async fn user_passwd(args: UserNameArgs) -> Result<(), String> {
    let password = read_password()?;
    let (_, store, user) = find_user(&args.store, &args.name).await?;
    let result = accounts::set_password(&store, user.id, password).await;
    store.close().await;
    result.map_err(|e| e.to_string())?;
    println!("password set for {}; their sessions are ended", user.username);
    Ok(())
}

async fn user_enable(args: UserNameArgs, enabled: bool) -> Result<(), String> {
    let (config, store, user) = find_user(&args.store, &args.name).await?;
    let rules = config.rules().map_err(|e| e.to_string())?;
    let patch = UserPatch { disabled: Some(!enabled), ..UserPatch::default() };
    let result = accounts::update(&store, &rules, user.id, patch).await;
    store.close().await;
    result.map_err(|e| e.to_string())?;
    println!("{} {}", if enabled { "enabled" } else { "disabled" }, user.username);
    Ok(())
}

async fn user_delete(args: UserNameArgs) -> Result<(), String> {
    let (_, store, user) = find_user(&args.store, &args.name).await?;
    let result = accounts::delete(&store, user.id).await;
    store.close().await;
    result.map_err(|e| e.to_string())?;
    println!("deleted {}", user.username);
    Ok(())
}

/// Hides a password in a database URL.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interface_parses_as_documented() {
        Cli::command_for_tests().debug_assert();
        let cli =
            Cli::try_parse_from(["switchboard", "serve", "--http", "127.0.0.1:9000", "--data-dir", "/tmp/x"]).unwrap();
        let Some(Cmd::Serve(args)) = cli.command else { panic!() };
        assert_eq!(args.http, Some("127.0.0.1:9000".parse().unwrap()));
        let cli = Cli::try_parse_from([
            "switchboard",
            "user",
            "add",
            "li",
            "--role",
            "agent",
            "--skills",
            "hotline,callbacks",
        ])
        .unwrap();
        let Some(Cmd::User(UserCmd::Add(args))) = cli.command else { panic!() };
        assert_eq!(args.skills, ["hotline", "callbacks"]);
        assert!(Cli::try_parse_from(["switchboard", "user", "add", "li", "--role", "boss"]).is_err());
    }

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(redact("postgres://sb:hunter2@db/sb"), "postgres://sb:***@db/sb");
        assert_eq!(redact("postgres://sb@db/sb"), "postgres://sb@db/sb");
    }

    impl Cli {
        fn command_for_tests() -> clap::Command {
            <Cli as clap::CommandFactory>::command()
        }
    }
}
