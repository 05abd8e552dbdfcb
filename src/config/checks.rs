//! The checks of the configuration's own sections, one function a
//! section, each returning the problems it finds as `key: problem` lines
//! (the rules' sections check themselves: `CaseRules::problems` and the
//! like; the network's are in `network.rs`).

use std::collections::BTreeMap;

use jiff::SignedDuration;

use super::{AuthConfig, DispatchConfig, KindConfig, RedisConfig, StepConfig};
use crate::domain::TaskKind;
use crate::rules::dispatch::{CustomRule, KindRule, MAX_CLASSES, MAX_LEVEL, MAX_QUEUES, QueueIdx, RoutingStep};

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
    let mut distinct: Vec<Vec<(QueueIdx, u8)>> = Vec::new();
    for step in kinds.iter().chain(custom.iter().flatten().map(|c| &c.rule)).flat_map(|r| &r.steps) {
        let mut wants = step.wants.clone();
        wants.sort_unstable();
        if !distinct.contains(&wants) {
            distinct.push(wants);
        }
    }
    p.check(
        distinct.len() < MAX_CLASSES,
        "kinds",
        "the steps of all kinds together want at most 63 different sets of levels",
    );
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
        steps: steps(p, queues, key, &k.steps),
    }
}

/// A kind's routing steps (`[kinds.<name>] steps`): each wants at least one
/// skill (a queue) at a level from 1 to 5 and lasts 1 s to a day; at most 8.
fn steps(p: &mut Problems, queues: &[String], key: &str, steps: &[StepConfig]) -> Vec<RoutingStep> {
    p.check(steps.len() <= 8, &format!("{key}.steps"), "at most 8 steps");
    let mut compiled = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let key = format!("{key}.steps[{i}]");
        p.check(!step.skills.is_empty(), &format!("{key}.skills"), "name at least one skill (a queue) and its level");
        p.check((1..=86_400).contains(&step.wait_secs), &format!("{key}.wait_secs"), "must be 1-86400");
        let mut wants = Vec::with_capacity(step.skills.len());
        for (skill, &level) in &step.skills {
            let queue = queues.iter().position(|q| q == skill);
            p.check(queue.is_some(), &format!("{key}.skills.{skill}"), "is not in `queues`");
            p.check((1..=MAX_LEVEL).contains(&level), &format!("{key}.skills.{skill}"), "a level is 1 to 5");
            if let Some(q) = queue {
                wants.push((QueueIdx(q as u8), level));
            }
        }
        compiled.push(RoutingStep { wants, wait: SignedDuration::from_secs(step.wait_secs as i64) });
    }
    compiled
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::domain::TaskKind;

    fn with_steps(steps: &str) -> Result<crate::rules::dispatch::Rules, String> {
        use figment::providers::{Format, Serialized, Toml};
        let text = format!("[kinds.complaint_follow_up]\nsteps = {steps}\n");
        let config: Config = figment::Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(&text))
            .extract()
            .map_err(|e| e.to_string())?;
        config.rules().map_err(|e| e.to_string())
    }

    #[test]
    fn steps_are_read_in_order_with_their_levels() {
        let rules = with_steps(
            "[{ skills = { complaints = 4 }, wait_secs = 120 }, { skills = { complaints = 2, callbacks = 3 }, wait_secs = 300 }]",
        )
        .unwrap();
        let (complaints, callbacks) =
            (rules.queue_index("complaints").unwrap(), rules.queue_index("callbacks").unwrap());
        let steps = &rules.kind(TaskKind::ComplaintFollowUp).steps;
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[0].wants.clone(), steps[0].wait.as_secs()), (vec![(complaints, 4)], 120));
        assert_eq!(steps[1].wants, [(callbacks, 3), (complaints, 2)]);
        assert!(rules.kind(TaskKind::InboundCall).steps.is_empty());
    }

    #[test]
    fn bad_steps_name_their_key() {
        let err = with_steps(
            "[{ skills = { complaints = 6 }, wait_secs = 120 }, { skills = { nowhere = 2 }, wait_secs = 0 }, { skills = {}, wait_secs = 5 }]",
        )
        .unwrap_err();
        assert!(err.contains("kinds.complaint_follow_up.steps[0].skills.complaints: a level is 1 to 5"), "{err}");
        assert!(err.contains("kinds.complaint_follow_up.steps[1].skills.nowhere: is not in `queues`"), "{err}");
        assert!(err.contains("kinds.complaint_follow_up.steps[1].wait_secs: must be 1-86400"), "{err}");
        assert!(err.contains("kinds.complaint_follow_up.steps[2].skills: name at least one skill"), "{err}");
        let err = with_steps("[{ skills = { complaints = 4 }, wait = 120 }]").unwrap_err();
        assert!(err.contains("wait"), "an unknown key is named: {err}");
    }
}
