//! The line an agent opens a call with, naming their work number (工号):
//! the manual's scripts for calls in (接入电话: 您好!“……”客服部,请问有什么
//! 可以帮到您?) and out (呼出电话: 这里是……客服部,我的工号是010,请问您现在
//! 方便接听电话吗?). Pure: the templates come from `[greetings]`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::domain::{Channel, TaskKind, WorkNumber};
use crate::rules::dispatch::Rules;

/// Placeholders a template may use.
const PLACEHOLDERS: [&str; 2] = ["{centre}", "{work_number}"];

/// `[greetings]` in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreetingSettings {
    /// How the centre names itself on the phone.
    pub centre: String,
    /// Answering a customer who phoned in.
    pub inbound: String,
    /// Calling a customer (callbacks, marketing, reminders, drivers).
    pub outbound: String,
}

impl Default for GreetingSettings {
    fn default() -> Self {
        GreetingSettings {
            centre: "客服部".into(),
            inbound: "您好!{centre},工号{work_number}为您服务,请问有什么可以帮到您?".into(),
            outbound: "您好!这里是{centre},我的工号是{work_number},请问您现在方便接听电话吗?".into(),
        }
    }
}

impl GreetingSettings {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.centre.trim().is_empty() || self.centre.chars().count() > 100 {
            problems.push("greetings.centre: 1-100 characters".into());
        }
        for (key, template) in [("inbound", &self.inbound), ("outbound", &self.outbound)] {
            if template.trim().is_empty() || template.chars().count() > 300 {
                problems.push(format!("greetings.{key}: 1-300 characters"));
            }
            let mut rest = template.as_str();
            while let Some(open) = rest.find('{') {
                let close = rest[open..].find('}').map(|c| open + c + 1);
                let token = close.map(|c| &rest[open..c]).unwrap_or(&rest[open..]);
                if !PLACEHOLDERS.contains(&token) {
                    problems.push(format!(
                        "greetings.{key}: {token:?} is not a placeholder; use {}",
                        PLACEHOLDERS.join(" or ")
                    ));
                    break;
                }
                rest = &rest[close.unwrap_or(rest.len())..];
            }
        }
        problems
    }

    /// The line for an agent with `work_number` taking a task of `kind` on
    /// `channel`: the inbound script for a customer who phoned in, the
    /// outbound one for a call the agent makes, none for back-office work.
    /// An agent without a work number gets no line when the script names
    /// it (it would have a hole where the number goes).
    pub fn line(&self, kind: TaskKind, channel: Channel, work_number: Option<&WorkNumber>) -> Option<String> {
        let template = match (kind, channel) {
            (_, Channel::BackOffice) => return None,
            (TaskKind::InboundCall, Channel::Voice) => &self.inbound,
            (_, Channel::Voice) => &self.outbound,
        };
        let line = template.replace("{centre}", &self.centre);
        match work_number {
            Some(w) => Some(line.replace("{work_number}", w.as_str())),
            None if line.contains("{work_number}") => None,
            None => Some(line),
        }
    }
}

/// The greetings with the rules that say each kind's channel, as the
/// console's sessions use them.
#[derive(Clone, Debug)]
pub struct Greeter {
    settings: GreetingSettings,
    rules: Arc<Rules>,
}

impl Greeter {
    pub fn new(settings: GreetingSettings, rules: Arc<Rules>) -> Greeter {
        Greeter { settings, rules }
    }

    /// The line for a task of `kind`, as [`GreetingSettings::line`].
    pub fn line(&self, kind: TaskKind, work_number: Option<&WorkNumber>) -> Option<String> {
        self.settings.line(kind, self.rules.kind(kind).channel, work_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_centre_and_the_work_number() {
        let mut g = GreetingSettings { centre: "风游精旅行客服部".into(), ..Default::default() };
        let w = WorkNumber::parse("010").unwrap();
        let voice = Channel::Voice;
        assert_eq!(
            g.line(TaskKind::InboundCall, voice, Some(&w)).unwrap(),
            "您好!风游精旅行客服部,工号010为您服务,请问有什么可以帮到您?"
        );
        assert_eq!(
            g.line(TaskKind::NewSignupCallback, voice, Some(&w)).unwrap(),
            "您好!这里是风游精旅行客服部,我的工号是010,请问您现在方便接听电话吗?"
        );
        let insurance = TaskKind::InsuranceRegistration;
        assert_eq!(g.line(insurance, Channel::BackOffice, Some(&w)), None, "back-office work has no call");
        assert_eq!(g.line(TaskKind::InboundCall, voice, None), None, "no hole where the number goes");
        g.inbound = "您好!{centre}".into();
        assert_eq!(g.line(TaskKind::InboundCall, voice, None).unwrap(), "您好!风游精旅行客服部");
        // The kinds' channels come from the rules: insurance is back-office.
        let greeter = Greeter::new(g, Arc::new(Rules::manual_defaults()));
        assert_eq!(greeter.line(insurance, Some(&w)), None);
        assert!(greeter.line(TaskKind::CarDispatch, Some(&w)).unwrap().contains("工号"));
    }

    #[test]
    fn unknown_placeholders_are_named() {
        assert!(GreetingSettings::default().problems().is_empty());
        let g = GreetingSettings { outbound: "工号{agent}".into(), inbound: "{centre".into(), centre: "".into() };
        let problems = g.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[2].contains("\"{agent}\""), "{problems:?}");
    }
}
