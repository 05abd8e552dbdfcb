//! What a new configuration changes against the running one, key by key,
//! and whether each change may be applied while the server runs.
//!
//! Live: the dispatcher's timings (`[dispatch]`), each kind's priority,
//! deadline, attempts and routing steps (`[kinds.*]`, a centre's own kinds
//! added or removed included) and the customer's own agent (`[routing]`).
//! Everything else is read when the server starts (listening addresses, the
//! database, Redis, TLS, tokens, queues and what is built from them), so a
//! change to it is refused by name rather than half applied; a kind's
//! queue, channel and dialling are refused too, since work already filed
//! by them would stay where it is.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::Config;

/// One key that changes, with its old and new value (`null`: absent).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ConfigChange {
    /// The key as the file writes it, such as `kinds.inbound_call.priority`.
    pub key: String,
    #[schema(value_type = Object)]
    pub from: Value,
    #[schema(value_type = Object)]
    pub to: Value,
}

/// The keys `new` changes against `old`, in key order; or, when any of them
/// may not change live, each such key with why.
pub fn live_changes(old: &Config, new: &Config) -> Result<Vec<ConfigChange>, Vec<String>> {
    let (old, new) = (flatten(old), flatten(new));
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    let mut refused = Vec::new();
    for key in keys {
        let (from, to) = (old.get(key).cloned().unwrap_or(Value::Null), new.get(key).cloned().unwrap_or(Value::Null));
        if from == to {
            continue;
        }
        match why_not_live(key) {
            Some(why) => refused.push(format!("{key}: {why}")),
            None => changes.push(ConfigChange { key: key.clone(), from, to }),
        }
    }
    if refused.is_empty() { Ok(changes) } else { Err(refused) }
}

/// Why `key` cannot change while the server runs; `None` if it can.
fn why_not_live(key: &str) -> Option<&'static str> {
    let mut parts = key.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("dispatch"), Some("default_back_office_capacity"), _) => {
            Some("read when an account is created from the running file; it changes only with a restart")
        }
        (Some("dispatch" | "routing"), _, _) => None,
        (Some("kinds"), Some(_), Some("queue" | "channel")) => {
            Some("a kind's queue and channel change only with a restart (work already filed by them stays)")
        }
        (Some("kinds"), Some(_), Some("dialling")) => Some("dialling modes change only with a restart"),
        (Some("kinds"), _, _) => None,
        (Some("server"), Some("http" | "sip" | "sip_tls" | "metrics"), _) => {
            Some("a listening address changes only with a restart")
        }
        (Some("server"), Some("database_url" | "data_dir"), _) => Some("the database changes only with a restart"),
        _ => Some("read when the server starts; it changes only with a restart"),
    }
}

/// The sections a reload may change (`[dispatch]`, `[kinds]`, `[routing]`),
/// as recorded with each version: nothing secret is in them.
pub fn live_part(config: &Config) -> Value {
    serde_json::json!({"dispatch": config.dispatch, "kinds": config.kinds, "routing": config.routing})
}

/// Every leaf of the configuration under its dotted key; lists are leaves.
fn flatten(config: &Config) -> BTreeMap<String, Value> {
    let mut leaves = BTreeMap::new();
    let value = serde_json::to_value(config).unwrap_or(Value::Null);
    walk(String::new(), value, &mut leaves);
    leaves
}

fn walk(key: String, value: Value, leaves: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                let key = if key.is_empty() { name } else { format!("{key}.{name}") };
                walk(key, inner, leaves);
            }
        }
        leaf => {
            leaves.insert(key, leaf);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn live_keys_are_listed_with_their_old_and_new_values() {
        let old = Config::default();
        let mut new = old.clone();
        new.dispatch.offer_timeout_secs = 25;
        new.kinds.get_mut("car_dispatch").unwrap().priority = 80;
        new.routing.stick_to_last_agent_minutes = 30;
        let changes = live_changes(&old, &new).unwrap();
        let keys: Vec<&str> = changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            ["dispatch.offer_timeout_secs", "kinds.car_dispatch.priority", "routing.stick_to_last_agent_minutes"]
        );
        assert_eq!((changes[1].from.clone(), changes[1].to.clone()), (json!(70), json!(80)));
        assert!(live_changes(&old, &old).unwrap().is_empty(), "nothing changes, nothing listed");
    }

    #[test]
    fn what_is_read_at_start_is_refused_by_name() {
        let old = Config::default();
        let mut new = old.clone();
        new.dispatch.wrap_up_secs = 10;
        new.server.http = "0.0.0.0:9999".parse().unwrap();
        new.server.database_url = "postgres://db/switchboard".into();
        new.kinds.get_mut("car_dispatch").unwrap().queue = "callbacks".into();
        new.queues.push("vip".into());
        let refused = live_changes(&old, &new).unwrap_err();
        assert_eq!(refused.len(), 4, "{refused:?}");
        assert!(refused[0].starts_with("kinds.car_dispatch.queue: a kind's queue"), "{refused:?}");
        assert!(refused[1].starts_with("queues: read when the server starts"), "{refused:?}");
        assert!(refused[2].starts_with("server.database_url: the database changes only with a restart"));
        assert!(refused[3].starts_with("server.http: a listening address changes only with a restart"));
    }
}
