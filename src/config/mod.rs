//! Configuration: built-in defaults, then a TOML file, then environment
//! variables (`SWITCHBOARD_SECTION__KEY`), then command-line flags. The
//! defaults equal the operating manual; `config/switchboard.toml` documents
//! every key. Validation names the key and the problem.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::domain::{Channel, TaskKind};
use crate::rules::calendar::{Calendar, CalendarSettings};
use crate::rules::cases::CaseRules;
use crate::rules::customer_file::CustomerSettings;
use crate::rules::dialling::{CallLength, DialMode};
use crate::rules::dispatch::{Rules, Stickiness};
use crate::rules::events::EventRules;
use crate::rules::figures::FigureRules;
use crate::rules::followup::Checkpoints;
use crate::rules::greetings::GreetingSettings;
use crate::rules::planning::PlanningRules;
use crate::rules::recurring::{Recurring, RecurringSettings};
use crate::rules::registrations::RegistrationRules;
use crate::rules::shifts::ShiftSettings;
use crate::rules::travel::cars::CarRules;
use crate::rules::travel::inns::InnRules;
use crate::rules::warranty::WarrantyRules;

mod changes;
mod checks;
mod network;
pub use changes::{ConfigChange, live_changes, live_part};
pub use network::{AccessConfig, ServerConfig, SipConfig, TlsConfig, UntrustedPolicy, WebSocketConfig};

/// The configuration file used when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config/switchboard.toml";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub dispatch: DispatchConfig,
    pub websocket: WebSocketConfig,
    pub sip: SipConfig,
    pub cti: CtiConfig,
    /// Machines' tokens besides the PBX's, and what agents may create.
    pub access: AccessConfig,
    /// Time zone, working days and hours: the clock the rules run on.
    pub calendar: CalendarSettings,
    pub missed_calls: MissedCallsConfig,
    /// Callbacks for customers who registered for an event.
    pub registrations: RegistrationRules,
    /// Callbacks for customers with a product under warranty.
    #[serde(default)]
    pub warranty: WarrantyRules,
    /// Events: recommendations from order history.
    #[serde(default)]
    pub events: EventRules,
    /// The customer file's own fields.
    #[serde(default)]
    pub customers: CustomerSettings,
    /// Named shifts and the wind-down before a shift's end.
    pub shifts: ShiftSettings,
    /// The agents' opening lines, with their work numbers (工号).
    pub greetings: GreetingSettings,
    /// Complaint cases: deadlines and reminders.
    pub cases: CaseRules,
    /// Private-car orders: confirmation deadlines and pooling.
    pub cars: CarRules,
    pub inns: InnRules,
    /// The floor's live figures: the service level threshold, targets.
    pub figures: FigureRules,
    /// Staffing intervals and what the estimated waits assume.
    #[serde(default)]
    pub planning: PlanningRules,
    /// The customer's own agent: stickiness and how long a preferred agent
    /// is waited for.
    #[serde(default)]
    pub routing: Stickiness,
    /// The live state in Redis; without a URL the server runs alone on its store.
    pub redis: RedisConfig,
    /// Queue names. An agent serves the queues named in its skills.
    pub queues: Vec<String>,
    /// Per task kind: priority, queue, channel, default deadline.
    pub kinds: BTreeMap<String, KindConfig>,
    /// How long calls should last (`[calls]`): the console warns at the
    /// target, the wallboard shows calls past the limit.
    #[serde(default)]
    pub calls: CallLength,
    /// Work that comes every day or week (`[[recurring]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recurring: Vec<RecurringSettings>,
    /// When the file was last modified (not a setting): a version recorded
    /// by a reload after it wins over it at start (`app/reload.rs`).
    #[serde(skip)]
    pub file_modified: Option<jiff::Timestamp>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub token_ttl_secs: u64,
    /// Secret that signs tokens; empty: read from `token_secret_file`.
    pub token_secret: String,
    /// File holding the secret (created, mode 0600, when missing). Empty:
    /// `token_secret` in `server.data_dir`. Several nodes share one file's
    /// contents.
    pub token_secret_file: PathBuf,
    pub ws_ticket_ttl_secs: u64,
    pub ws_auth_timeout_secs: u64,
    /// Failed logins a client address or a username may have a minute...
    pub login_failures_per_minute: u32,
    /// ...before further attempts are refused (429) for this long, doubling
    /// with each lockout that follows up to `login_max_lockout_secs`.
    pub login_lockout_secs: u64,
    pub login_max_lockout_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DispatchConfig {
    pub offer_timeout_secs: u64,
    pub max_missed_offers: u32,
    pub wrap_up_secs: u64,
    pub reconnect_grace_secs: u64,
    pub pass_over_cooldown_secs: u64,
    pub default_back_office_capacity: u8,
    /// Seconds between an unanswered call (no answer, busy) and the next attempt.
    pub retry_gap_secs: u64,
}

/// Redis as the live store (`docs/redis.md`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Empty: no Redis, the node runs alone. Otherwise `redis://[:PASSWORD@]HOST[:PORT][/DB]`
    /// or `rediss://` for TLS; with `cluster`, one or more such URLs of
    /// Cluster nodes, separated by commas.
    pub url: String,
    /// `url` names the nodes of a Redis Cluster.
    pub cluster: bool,
    /// Every key starts with `{prefix}:`; the braces make it a Cluster hash
    /// tag, so all of one centre's keys share a slot and its scripts may
    /// touch several of them.
    pub prefix: String,
    /// How long the leading node's lease lasts without renewal: the most a
    /// dead node's work waits before another node takes it over.
    pub lease_ms: u64,
    /// Changes held in memory while Redis does not answer; past this, new
    /// work is refused with 503 (SIP: 503 with Retry-After).
    pub max_pending: usize,
}

/// Call-state events from PBXes (`POST /api/v1/cti/events`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CtiConfig {
    /// PBX name to the bearer token it sends (at least 32 characters each).
    pub tokens: BTreeMap<String, String>,
}

/// The missed-call follow-up (呼损跟进).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MissedCallsConfig {
    /// Local times of day (`HH:MM`) at which the backlog is released as
    /// callbacks, on working days.
    pub checkpoints: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KindConfig {
    pub priority: u8,
    pub queue: String,
    pub channel: Channel,
    /// Minutes after creation the task is due; 0 means no default deadline.
    pub deadline_minutes: u64,
    /// Calls made before an unanswered task closes as `unreachable`.
    pub attempts: u32,
    /// A kind of the centre's own: what screens and reports call it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Who places this kind's calls: the agent by hand (`manual`), or
    /// Switchboard when the agent presses Call (`preview`) or accepts
    /// (`progressive`); the last two need `[sip.outbound]`.
    #[serde(default)]
    pub dialling: DialMode,
    /// Who may take a waiting task first: each step wants skills at
    /// minimum levels for `wait_secs`, then the next; after the last,
    /// anyone serving the queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepConfig>,
}

/// One routing step: `{ skills = { complaints = 4 }, wait_secs = 120 }`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Skill (queue name) and the minimum level (1-5) the step wants.
    pub skills: BTreeMap<String, u8>,
    /// How long the step lasts, from when the task joined its queue.
    pub wait_secs: u64,
}

/// Whether every name in `[kinds]` is a kind by now (the centre's own are
/// registered as the configuration is checked), so that `[[recurring]]`
/// may name them.
fn kinds_known(kinds: &BTreeMap<String, KindConfig>) -> bool {
    kinds.keys().all(|k| k.parse::<TaskKind>().is_ok())
}

impl Default for Config {
    fn default() -> Self {
        let rules = Rules::manual_defaults();
        let kinds = TaskKind::ALL
            .iter()
            .map(|k| {
                let r = rules.kind(*k);
                let cfg = KindConfig {
                    priority: r.priority,
                    queue: rules.queue_name(r.queue).to_owned(),
                    channel: r.channel,
                    deadline_minutes: r.deadline_after.map_or(0, |d| (d.as_secs() / 60) as u64),
                    attempts: r.attempts,
                    label: None,
                    dialling: DialMode::Manual,
                    steps: Vec::new(),
                };
                (k.as_str().to_owned(), cfg)
            })
            .collect();
        Config {
            server: ServerConfig::default(),
            auth: AuthConfig {
                token_ttl_secs: 3600,
                token_secret: String::new(),
                token_secret_file: PathBuf::new(),
                ws_ticket_ttl_secs: 30,
                ws_auth_timeout_secs: 5,
                login_failures_per_minute: 5,
                login_lockout_secs: 60,
                login_max_lockout_secs: 900,
            },
            dispatch: DispatchConfig {
                offer_timeout_secs: rules.offer_timeout.as_secs() as u64,
                max_missed_offers: rules.max_missed_offers,
                wrap_up_secs: rules.wrap_up.as_secs() as u64,
                reconnect_grace_secs: rules.reconnect_grace.as_secs() as u64,
                pass_over_cooldown_secs: rules.pass_over_cooldown.as_secs() as u64,
                default_back_office_capacity: 2,
                retry_gap_secs: rules.retry_gap.as_secs() as u64,
            },
            websocket: WebSocketConfig::default(),
            sip: SipConfig::default(),
            access: AccessConfig::default(),
            cti: CtiConfig { tokens: BTreeMap::new() },
            calendar: CalendarSettings::default(),
            registrations: RegistrationRules::default(),
            warranty: WarrantyRules::default(),
            events: EventRules::default(),
            customers: CustomerSettings::default(),
            shifts: ShiftSettings::default(),
            greetings: GreetingSettings::default(),
            calls: CallLength::default(),
            recurring: Vec::new(),
            file_modified: None,
            cases: CaseRules::default(),
            cars: CarRules::default(),
            inns: InnRules::default(),
            figures: FigureRules::default(),
            planning: PlanningRules::default(),
            routing: Stickiness::default(),
            redis: RedisConfig {
                url: String::new(),
                cluster: false,
                prefix: "switchboard".to_owned(),
                lease_ms: 5000,
                max_pending: 10_000,
            },
            missed_calls: MissedCallsConfig {
                checkpoints: ["10:00", "13:00", "15:00", "17:00"].map(String::from).to_vec(),
            },
            queues: rules.queues.clone(),
            kinds,
        }
    }
}

/// A configuration problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Defaults, then `file` (which must exist when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError { problems: vec![format!("config file {}: not found", path.display())] });
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed("SWITCHBOARD_").split("__"));
        // The centre's own kinds are named before the rest is read, so that
        // `[access] agent_task_kinds` may list them; a bad name is left for
        // the checks to report with its key.
        if let Ok(kinds) = figment.extract_inner::<BTreeMap<String, serde::de::IgnoredAny>>("kinds") {
            for name in kinds.keys().filter(|n| n.parse::<TaskKind>().is_err()) {
                let _ = TaskKind::register(name);
            }
        }
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError { problems: e.into_iter().map(|e| describe_figment_error(&e)).collect() })?;
        config.rules()?;
        let modified = file.and_then(|f| std::fs::metadata(f).ok()?.modified().ok());
        config.file_modified = modified.and_then(|m| jiff::Timestamp::try_from(m).ok());
        Ok(config)
    }

    /// The `[[recurring]]` rules, checked against the calendar from `today`
    /// (a rule that would never run is refused).
    pub fn recurring_rules(
        &self,
        calendar: &Calendar,
        today: jiff::civil::Date,
    ) -> Result<Vec<Recurring>, Vec<String>> {
        let mut problems = Vec::new();
        let mut rules = Vec::new();
        for (i, r) in self.recurring.iter().enumerate() {
            if self.recurring[..i].iter().any(|o| o.name == r.name) {
                problems.push(format!("recurring.{}: a second rule of this name", r.name));
            }
            match Recurring::parse(r, calendar, today) {
                Ok(rule) => rules.push(rule),
                Err(p) => problems.extend(p),
            }
        }
        if problems.is_empty() { Ok(rules) } else { Err(problems) }
    }

    /// Each kind's dialling mode (`[kinds.*] dialling`).
    pub fn dial_modes(&self) -> std::collections::HashMap<TaskKind, DialMode> {
        self.kinds.iter().filter_map(|(name, k)| Some((name.parse::<TaskKind>().ok()?, k.dialling))).collect()
    }

    /// The centre's calendar, or the problems with `[calendar]`.
    pub fn calendar(&self) -> Result<Calendar, ConfigError> {
        Calendar::new(&self.calendar).map_err(|problems| ConfigError { problems })
    }

    /// The missed-call checkpoints, or the problems with them.
    pub fn checkpoints(&self) -> Result<Checkpoints, ConfigError> {
        Checkpoints::parse(&self.missed_calls.checkpoints).map_err(|problems| ConfigError { problems })
    }

    /// Loads `file`, or the default file when it exists, or only defaults.
    /// This configuration with the keys of `toml` (a part of a
    /// configuration file, or a whole one) in place of its own: what a
    /// reload over REST applies. Unknown keys and bad values are refused
    /// like a file's.
    pub fn overlay(&self, toml: &str) -> Result<Config, ConfigError> {
        Figment::from(Serialized::defaults(self.clone()))
            .merge(Toml::string(toml))
            .extract()
            .map_err(|e| ConfigError { problems: vec![describe_figment_error(&e)] })
    }

    /// This configuration with the live sections of a recorded version
    /// (`live_part`) in place of its own.
    pub fn with_live_part(&self, live: &serde_json::Value) -> Result<Config, ConfigError> {
        let mut merged: Config = Figment::from(Serialized::defaults(self.clone()))
            .merge(Serialized::defaults(live))
            .extract()
            .map_err(|e| ConfigError { problems: vec![describe_figment_error(&e)] })?;
        merged.file_modified = self.file_modified;
        Ok(merged)
    }

    pub fn load_default_or(file: Option<&Path>) -> Result<Config, ConfigError> {
        match file {
            Some(f) => Config::load(Some(f)),
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => Config::load(Some(Path::new(DEFAULT_CONFIG_FILE))),
            None => Config::load(None),
        }
    }

    /// Where the token-signing secret is read from when not configured inline.
    pub fn token_secret_path(&self) -> PathBuf {
        if self.auth.token_secret_file.as_os_str().is_empty() {
            self.server.data_dir.join("token_secret")
        } else {
            self.auth.token_secret_file.clone()
        }
    }

    pub fn database_url(&self) -> String {
        if self.server.database_url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.server.data_dir.join("switchboard.db").display())
        } else {
            self.server.database_url.clone()
        }
    }

    /// Checks every value, naming each key with a problem, and builds the
    /// dispatcher's rules. Each section is checked on its own
    /// (`checks.rs`, and the rules' own `problems`); all problems are
    /// reported at once.
    pub fn rules(&self) -> Result<Rules, ConfigError> {
        let mut problems = checks::dispatch(&self.dispatch);
        problems.extend(checks::auth(&self.auth));
        problems.extend(checks::storage(&self.server.database_url, &self.redis));
        problems.extend(checks::pbx(&self.sip.numbers, &self.cti.tokens, &self.queues));
        let (kinds, custom, kind_problems) = checks::kinds(&self.queues, &self.kinds);
        problems.extend(kind_problems);
        let calendar = Calendar::new(&self.calendar).map_err(|calendar| problems.extend(calendar)).ok();
        if let Err(checkpoints) = Checkpoints::parse(&self.missed_calls.checkpoints) {
            problems.extend(checkpoints);
        }
        problems.extend(network::problems(&self.server, &self.websocket, &self.sip, &self.access));
        problems.extend(self.registrations.problems());
        problems.extend(self.calls.problems());
        if let Some(outbound) = &self.sip.outbound {
            problems.extend(outbound.problems());
        }
        for (name, k) in &self.kinds {
            let kind = name.parse::<TaskKind>().ok();
            if k.dialling.places_calls() && self.sip.outbound.is_none() {
                problems.push(format!("kinds.{name}.dialling: `{:?}` needs a PBX route in [sip.outbound]", k.dialling));
            }
            if k.dialling.places_calls() && kind.is_some_and(|k| !k.calls_out()) {
                problems.push(format!("kinds.{name}.dialling: the customer called in; there is no one to call"));
            }
        }
        problems.extend(self.warranty.problems());
        problems.extend(self.events.problems());
        problems.extend(self.customers.problems());
        problems.extend(self.greetings.problems());
        problems.extend(self.cases.problems());
        problems.extend(self.cars.problems());
        problems.extend(self.inns.problems());
        problems.extend(self.figures.problems());
        problems.extend(self.planning.problems());
        problems.extend(self.routing.problems());
        if let Err(shifts) = self.shifts.named_shifts() {
            problems.extend(shifts);
        }
        if let (Some(calendar), true) = (&calendar, kinds_known(&self.kinds)) {
            let today = calendar.date_of(jiff::Timestamp::now());
            if let Err(recurring) = self.recurring_rules(calendar, today) {
                problems.extend(recurring);
            }
        }
        let Some(calendar) = calendar.filter(|_| problems.is_empty()) else {
            return Err(ConfigError { problems });
        };
        let d = &self.dispatch;
        let secs = |s: u64| SignedDuration::from_secs(s as i64);
        Ok(Rules {
            kinds,
            custom,
            queues: self.queues.clone(),
            offer_timeout: secs(d.offer_timeout_secs),
            max_missed_offers: d.max_missed_offers,
            wrap_up: secs(d.wrap_up_secs),
            reconnect_grace: secs(d.reconnect_grace_secs),
            pass_over_cooldown: secs(d.pass_over_cooldown_secs),
            retry_gap: secs(d.retry_gap_secs),
            calendar: std::sync::Arc::new(calendar),
            stickiness: self.routing,
        })
    }
}

fn describe_figment_error(e: &figment::Error) -> String {
    let key = e.path.join(".");
    let source = e
        .metadata
        .as_ref()
        .map(|m| m.source.as_ref().map_or_else(|| m.name.to_string(), |s| s.to_string()))
        .unwrap_or_default();
    let key = if key.is_empty() { "(top level)".to_owned() } else { key };
    if source.is_empty() { format!("{key}: {}", e.kind) } else { format!("{key}: {} (from {source})", e.kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_equal_the_manual() {
        let rules = Config::default().rules().unwrap();
        let manual = Rules::manual_defaults();
        assert_eq!(rules.kinds, manual.kinds);
        assert_eq!(rules.queues, manual.queues);
        assert_eq!(rules.offer_timeout, SignedDuration::from_secs(15));
        assert_eq!(rules.max_missed_offers, 2);
    }

    #[test]
    fn the_shipped_file_equals_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_FILE);
        let text = std::fs::read_to_string(path).unwrap();
        let from_file: Config = toml_from_str(&text);
        assert_eq!(from_file, Config::default());
    }

    fn toml_from_str(text: &str) -> Config {
        Figment::from(Toml::string(text)).extract().unwrap()
    }

    /// A centre's own kind (疑難訂單的追蹤) is read from `[kinds]` like a
    /// built-in one, may be created by agents when listed, and is checked
    /// the same way.
    #[test]
    fn a_centres_own_kind_is_configured_like_the_built_in_ones() {
        let text = format!(
            "{}\n[kinds.test_cfg_order_follow_up]\nlabel = \"疑難訂單的追蹤\"\npriority = 60\nqueue = \"callbacks\"\n\
             channel = \"voice\"\ndeadline_minutes = 240\nattempts = 3\n",
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_CONFIG_FILE)).unwrap()
        )
        .replace(
            "agent_task_kinds = [\"event_callback\",",
            "agent_task_kinds = [\"test_cfg_order_follow_up\", \"event_callback\",",
        );
        let path = std::env::temp_dir().join(format!("switchboard-kinds-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let config = Config::load(Some(&path));
        std::fs::remove_file(&path).unwrap();
        let config = config.unwrap();
        let rules = config.rules().unwrap();
        let kind: TaskKind = "test_cfg_order_follow_up".parse().unwrap();
        assert!(rules.knows(kind) && config.access.agent_task_kinds.contains(&kind));
        let rule = rules.kind(kind);
        assert_eq!((rule.priority, rules.queue_name(rule.queue), rule.attempts), (60, "callbacks", 3));
        assert_eq!(rules.custom_kinds().collect::<Vec<_>>(), [(kind, "疑難訂單的追蹤")]);
        assert!(!Config::default().rules().unwrap().knows(kind), "another centre does not have it");

        let mut c = Config::default();
        let mut bad = c.kinds["car_dispatch"].clone();
        bad.label = Some(" ".into());
        c.kinds.insert("test_cfg_blank_label".into(), bad.clone());
        c.kinds.insert("Order-Review".into(), bad.clone());
        bad.label = Some("x".into());
        c.kinds.insert("inbound_call".into(), bad);
        let err = c.rules().unwrap_err().to_string();
        assert!(err.contains("kinds.test_cfg_blank_label.label: 1-100 characters"), "{err}");
        assert!(err.contains("kinds.Order-Review: `Order-Review`: a kind's name is"), "{err}");
        assert!(err.contains("kinds.inbound_call.label: only for a kind of the centre's own"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = Config::default();
        c.dispatch.offer_timeout_secs = 0;
        c.kinds.get_mut("car_dispatch").unwrap().queue = "nowhere".into();
        c.kinds.insert("taxi".into(), c.kinds["car_dispatch"].clone());
        let err = c.rules().unwrap_err().to_string();
        assert!(err.contains("dispatch.offer_timeout_secs: must be 1-600"), "{err}");
        assert!(err.contains("kinds.car_dispatch.queue: `nowhere` is not in `queues`"), "{err}");
        assert!(err.contains("kinds.taxi.label: required for a kind of the centre's own"), "{err}");

        let mut c = Config::default();
        c.dispatch.retry_gap_secs = 0;
        c.kinds.get_mut("missed_call_callback").unwrap().attempts = 0;
        c.kinds.get_mut("inbound_call").unwrap().attempts = 2;
        let err = c.rules().unwrap_err().to_string();
        assert!(err.contains("dispatch.retry_gap_secs: must be 1-86400"), "{err}");
        assert!(err.contains("kinds.missed_call_callback.attempts: must be 1-10"), "{err}");
        assert!(err.contains("kinds.inbound_call.attempts: must be 1"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's own test API
    fn a_bad_calendar_stops_the_start() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "sb.toml",
                "[calendar]\ntime_zone = \"Asia/Beijing\"\nholidays = [\"2026-02-30\"]\nworking_hours = \"9-5\"\n",
            )?;
            let err = Config::load(Some(Path::new("sb.toml"))).unwrap_err().to_string();
            assert!(err.contains("calendar.time_zone: \"Asia/Beijing\" is not a known IANA time zone"), "{err}");
            assert!(err.contains("calendar.holidays[0]: \"2026-02-30\" is not a date"), "{err}");
            assert!(err.contains("calendar.working_hours: \"9-5\""), "{err}");
            jail.create_file("ok.toml", "[calendar]\ntime_zone = \"Europe/Berlin\"\nholidays = [\"2026-12-25\"]\n")?;
            let c = Config::load(Some(Path::new("ok.toml"))).unwrap();
            assert!(!c.calendar().unwrap().is_working_day(jiff::civil::date(2026, 12, 25)));
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's own test API
    fn file_and_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("sb.toml", "[dispatch]\nwrap_up_secs = 45\n[kinds.car_dispatch]\npriority = 80\n")?;
            jail.set_env("SWITCHBOARD_DISPATCH__OFFER_TIMEOUT_SECS", "20");
            let c = Config::load(Some(Path::new("sb.toml"))).unwrap();
            assert_eq!(c.dispatch.wrap_up_secs, 45);
            assert_eq!(c.dispatch.offer_timeout_secs, 20);
            assert_eq!(c.kinds["car_dispatch"].priority, 80);
            assert_eq!(c.kinds["car_dispatch"].queue, "travel");
            jail.create_file("bad.toml", "[dispatch]\nwrap_up_secs = \"soon\"\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).unwrap_err().to_string();
            assert!(err.contains("dispatch.wrap_up_secs"), "{err}");
            Ok(())
        });
    }
}
