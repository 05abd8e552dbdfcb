//! The rules in force, shared by everything that plans or routes work (the
//! REST handlers, the SIP connector, the clock-driven jobs). A
//! configuration reload replaces them at one instant, right after the
//! dispatcher took them (`Hub::apply_rules`), so a task planned after the
//! reload is planned by the new rules everywhere.

use std::sync::{Arc, RwLock};

use crate::rules::dispatch::Rules;

/// A cloneable handle to the rules in force.
#[derive(Clone)]
pub struct LiveRules(Arc<RwLock<Arc<Rules>>>);

impl LiveRules {
    pub fn new(rules: Rules) -> LiveRules {
        LiveRules(Arc::new(RwLock::new(Arc::new(rules))))
    }

    /// The rules in force now; a caller keeps them for the work at hand,
    /// so one decision is made under one version.
    pub fn get(&self) -> Arc<Rules> {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    pub fn set(&self, rules: Arc<Rules>) {
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = rules;
    }
}

impl std::fmt::Debug for LiveRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveRules")
    }
}
