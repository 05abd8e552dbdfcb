//! The checks of the configuration's own sections, one function a
//! section, each returning the problems it finds as `key: problem` lines
//! (the rules' sections check themselves: `CaseRules::problems` and the
//! like; the network's are in `network.rs`).

use std::collections::BTreeMap;

use jiff::SignedDuration;

use super::{AuthConfig, DispatchConfig, KindConfig, RedisConfig};
use crate::domain::TaskKind;
use crate::rules::dispatch::{CustomRule, KindRule, MAX_QUEUES, QueueIdx};

/// Collects `key: problem` lines.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, key: &str, problem: &str) {
        if !ok {
            self.0.push(format!("{key}: {problem}"));
        }
    }
}

/// `[dispatch]`: the timings of offers, wrap-up, reconnection and retries.
pub fn dispatch(d: &DispatchConfig) -> Vec<String> {
    let mut p = Problems::default();
    p.check((1..=600).contains(&d.offer_timeout_secs), "dispatch.offer_timeout_secs", "must be 1-600");
    p.check(d.max_missed_offers >= 1, "dispatch.max_missed_offers", "must be at least 1");
    p.check(d.wrap_up_secs <= 3600, "dispatch.wrap_up_secs", "must be at most 3600");
    p.check(d.reconnect_grace_secs <= 3600, "dispatch.reconnect_grace_secs", "must be at most 3600");
    p.check(d.pass_over_cooldown_secs <= 86_400, "dispatch.pass_over_cooldown_secs", "must be at most 86400");
    p.check(d.default_back_office_capacity <= 50, "dispatch.default_back_office_capacity", "must be at most 50");
    p.check((1..=86_400).contains(&d.retry_gap_secs), "dispatch.retry_gap_secs", "must be 1-86400");
    p.0
}

/// `[auth]`: tokens, the signing secret, login limits, socket tickets.
pub fn auth(a: &AuthConfig) -> Vec<String> {
    let mut p = Problems::default();
    p.check((60..=86_400 * 7).contains(&a.token_ttl_secs), "auth.token_ttl_secs", "must be 60-604800");
    p.check(
        a.token_secret.is_empty() || a.token_secret.len() >= 32,
        "auth.token_secret",
        "must be empty (read from auth.token_secret_file) or at least 32 characters",
    );
    p.check((1..=1000).contains(&a.login_failures_per_minute), "auth.login_failures_per_minute", "must be 1-1000");
    p.check((1..=86_400).contains(&a.login_lockout_secs), "auth.login_lockout_secs", "must be 1-86400");
    p.check(
        (a.login_lockout_secs..=86_400).contains(&a.login_max_lockout_secs),
        "auth.login_max_lockout_secs",
        "must be auth.login_lockout_secs to 86400",
    );
    p.check((5..=600).contains(&a.ws_ticket_ttl_secs), "auth.ws_ticket_ttl_secs", "must be 5-600");
    p.check((1..=60).contains(&a.ws_auth_timeout_secs), "auth.ws_auth_timeout_secs", "must be 1-60");
    p.0
}

/// `server.database_url` and `[redis]`.
pub fn storage(database_url: &str, redis: &RedisConfig) -> Vec<String> {
    let mut p = Problems::default();
    p.check(
        database_url.is_empty()
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
            || database_url.starts_with("sqlite:"),
        "server.database_url",
        "must be empty, postgres://... or sqlite:...",
    );
    let urls: Vec<&str> = redis.url.split(',').map(str::trim).collect();
    p.check(
        redis.url.is_empty() || urls.iter().all(|u| u.starts_with("redis://") || u.starts_with("rediss://")),
        "redis.url",
        "must be empty, redis://... or rediss://...",
    );
    p.check(redis.cluster || urls.len() == 1, "redis.url", "several URLs only with redis.cluster = true");
    p.check(
        !redis.prefix.is_empty() && redis.prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)),
        "redis.prefix",
        "must be letters, digits, '-', '_', '.' or ':' (no braces: the prefix is the hash tag)",
    );
    p.check((1000..=60_000).contains(&redis.lease_ms), "redis.lease_ms", "must be 1000-60000");
    p.check((100..=1_000_000).contains(&redis.max_pending), "redis.max_pending", "must be 100-1000000");
    p.0
}

/// What the PBX uses: the dialled numbers' queues (`sip.numbers`) and the
/// CTI tokens.
pub fn pbx(numbers: &BTreeMap<String, String>, tokens: &BTreeMap<String, String>, queues: &[String]) -> Vec<String> {
    let mut p = Problems::default();
    for (number, queue) in numbers {
        let number_ok =
            !number.is_empty() && number.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.*#".contains(&b));
        p.check(number_ok, &format!("sip.numbers.{number}"), "a number is digits, letters and + - . * #");
        p.check(queues.contains(queue), &format!("sip.numbers.{number}"), "names a queue that is not in `queues`");
    }
    for (pbx, token) in tokens {
        p.check(token.len() >= 32, &format!("cti.tokens.{pbx}"), "a token is at least 32 characters");
    }
    p.0
}

/// `queues` and `[kinds]`: the queues' names, and each task kind's rule
/// (every built-in kind must be there, in a queue that exists), then the
/// centre's own kinds (any other name, with a `label`), checked the same way.
pub fn kinds(
    queues: &[String],
    configured: &BTreeMap<String, KindConfig>,
) -> (Vec<KindRule>, Vec<Option<CustomRule>>, Vec<String>) {
    let mut p = Problems::default();
    p.check(!queues.is_empty() && queues.len() <= MAX_QUEUES, "queues", "must list 1-64 queues");
    for (i, q) in queues.iter().enumerate() {
        let valid = !q.is_empty() && q.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        p.check(valid, &format!("queues[{i}]"), "a queue name is a-z, 0-9 and _");
        p.check(!queues[..i].contains(q), &format!("queues[{i}]"), "duplicate queue name");
    }
    let mut kinds = Vec::with_capacity(TaskKind::ALL.len());
    for kind in TaskKind::ALL {
        let key = format!("kinds.{kind}");
        match configured.get(kind.as_str()) {
            Some(k) => kinds.push(kind_rule(&mut p, queues, *kind, &key, k)),
            None => p.0.push(format!("{key}: missing")),
        }
    }
    let mut custom: Vec<Option<CustomRule>> = Vec::new();
    let built_in = |name: &str| TaskKind::ALL.iter().any(|k| k.as_str() == name);
    for (name, k) in configured.iter().filter(|(name, _)| !built_in(name)) {
        let key = format!("kinds.{name}");
        match TaskKind::register(name) {
            Ok(kind @ TaskKind::Custom(c)) => {
                let rule = kind_rule(&mut p, queues, kind, &key, k);
                if custom.len() <= c.number() {
                    custom.resize(c.number() + 1, None);
                }
                custom[c.number()] = Some(CustomRule { rule, label: k.label.clone().unwrap_or_default() });
            }
            Ok(_) => unreachable!("a registered name is a kind of the centre's own"),
            Err(e) => p.0.push(format!("{key}: {e}")),
        }
    }
    (kinds, custom, p.0)
}

/// One kind's rule from `[kinds.<name>]`, its problems noted in `p`.
fn kind_rule(p: &mut Problems, queues: &[String], kind: TaskKind, key: &str, k: &KindConfig) -> KindRule {
    let queue = queues.iter().position(|q| *q == k.queue);
    if queue.is_none() {
        p.0.push(format!("{key}.queue: `{}` is not in `queues`", k.queue));
    }
    if kind.calls_out() && !(1..=10).contains(&k.attempts) {
        p.0.push(format!("{key}.attempts: must be 1-10"));
    }
    if !kind.calls_out() && k.attempts != 1 {
        p.0.push(format!("{key}.attempts: must be 1 (the customer called in; there is no one to call back)"));
    }
    if k.deadline_minutes > 60 * 24 * 366 {
        p.0.push(format!("{key}.deadline_minutes: must be 0-527040 (a year)"));
    }
    match (kind, &k.label) {
        (TaskKind::Custom(_), None) => p.0.push(format!("{key}.label: required for a kind of the centre's own")),
        (TaskKind::Custom(_), Some(l)) if l.trim().is_empty() || l.chars().count() > 100 => {
            p.0.push(format!("{key}.label: 1-100 characters"))
        }
        (TaskKind::Custom(_), _) => {}
        (_, Some(_)) => p.0.push(format!("{key}.label: only for a kind of the centre's own")),
        (_, None) => {}
    }
    KindRule {
        priority: k.priority,
        queue: QueueIdx(queue.unwrap_or(0) as u8),
        channel: k.channel,
        deadline_after: (k.deadline_minutes > 0).then(|| SignedDuration::from_mins(k.deadline_minutes as i64)),
        attempts: k.attempts,
    }
}
