//! Erlang C and Erlang A: how many agents an interval's calls need.
//!
//! Erlang C (M/M/n) assumes every caller waits as long as it takes; it is
//! the planners' standard for "answer 80 % within 20 s" and it overstates
//! the agents needed when callers give up. Erlang A (M/M/n+M, Palm's model
//! with exponential patience) counts the callers who leave, so it is the
//! one that answers "how many keep abandonment under 25 %" honestly.
//!
//! Both are computed from the Erlang B recursion and ratios of the
//! birth-death chain's stationary probabilities, never from factorials or
//! powers of the load, so a floor of a thousand agents is as exact as one
//! of three. The tests hold them to values from established
//! implementations, kept in `testdata/erlang_reference.json` with the
//! script and versions that made them.

/// An interval's offered traffic: arrivals per second and the mean
/// handling time (talk and wrap-up) in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Traffic {
    pub arrivals_per_sec: f64,
    pub handling_secs: f64,
}

impl Traffic {
    /// Offered load in erlangs: the agents that would be busy all the time.
    pub fn erlangs(&self) -> f64 {
        self.arrivals_per_sec * self.handling_secs
    }

    fn is_empty(&self) -> bool {
        !(self.arrivals_per_sec > 0.0 && self.handling_secs > 0.0)
    }
}

/// Erlang B: the probability that all `agents` are busy with `load` erlangs
/// offered and no queue, by the stable recursion B(k) = aB(k-1) / (k + aB(k-1)).
pub fn erlang_b(agents: u32, load: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=agents {
        b = load * b / (k as f64 + load * b);
    }
    b
}

/// Erlang C: the probability that a caller waits at all (1 when the
/// agents cannot keep up: the queue grows without end).
pub fn wait_probability(agents: u32, traffic: Traffic) -> f64 {
    let load = traffic.erlangs();
    if traffic.is_empty() {
        return 0.0;
    }
    let n = agents as f64;
    if n <= load {
        return 1.0;
    }
    let b = erlang_b(agents, load);
    n * b / (n - load * (1.0 - b))
}

/// Erlang C: the share of callers answered within `target_secs`.
pub fn service_level(agents: u32, traffic: Traffic, target_secs: f64) -> f64 {
    if traffic.is_empty() {
        return 1.0;
    }
    let load = traffic.erlangs();
    let n = agents as f64;
    if n <= load {
        return 0.0;
    }
    let waits = wait_probability(agents, traffic);
    (1.0 - waits * (-(n - load) * target_secs / traffic.handling_secs).exp()).max(0.0)
}

/// Erlang C: the mean wait of all callers, in seconds (infinite when the
/// agents cannot keep up).
pub fn mean_wait_secs(agents: u32, traffic: Traffic) -> f64 {
    if traffic.is_empty() {
        return 0.0;
    }
    let load = traffic.erlangs();
    let n = agents as f64;
    if n <= load {
        return f64::INFINITY;
    }
    wait_probability(agents, traffic) * traffic.handling_secs / (n - load)
}

/// The fewest agents that answer `target_share` of callers within
/// `target_secs` by Erlang C (0 for no traffic).
pub fn agents_for_service_level(traffic: Traffic, target_secs: f64, target_share: f64) -> u32 {
    if traffic.is_empty() {
        return 0;
    }
    let mut agents = traffic.erlangs().floor() as u32 + 1;
    while service_level(agents, traffic, target_secs) < target_share {
        agents += 1;
    }
    agents
}

/// What Erlang A says of a floor: callers are patient for an exponential
/// time with mean `patience_secs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WithAbandonment {
    /// The share of callers who wait at all.
    pub wait_probability: f64,
    /// The share of callers who hang up before an agent answers.
    pub abandon_probability: f64,
    /// The mean wait of the callers who were answered, in seconds.
    pub mean_wait_answered_secs: f64,
}

/// Erlang A for `agents` serving `traffic` with callers' mean patience
/// `patience_secs`. Above the agents the chain's ratios are
/// p(n+j)/p(n) = Π a / (n + iα) with α = handling / patience: they fall
/// once the abandonments outrun the arrivals, so the sum stops when a term
/// no longer counts.
pub fn with_abandonment(agents: u32, traffic: Traffic, patience_secs: f64) -> WithAbandonment {
    if traffic.is_empty() {
        return WithAbandonment { wait_probability: 0.0, abandon_probability: 0.0, mean_wait_answered_secs: 0.0 };
    }
    let load = traffic.erlangs();
    let alpha = traffic.handling_secs / patience_secs.max(f64::MIN_POSITIVE);
    let n = agents as f64;
    // Σ_{k<n} p(k)/p(n) = 1/B(n, a) - 1: the states with a free agent.
    let mut free = if agents == 0 { 0.0 } else { 1.0 / erlang_b(agents, load) - 1.0 };
    // Σ_{j≥0} p(n+j)/p(n) and Σ j·p(n+j)/p(n): the states with everyone busy.
    let (mut busy, mut queued) = (1.0, 0.0);
    let mut ratio = 1.0;
    for j in 1..10_000_000u64 {
        ratio *= load / (n + j as f64 * alpha);
        if ratio > 1e200 {
            // An overloaded floor: the ratios climb before they fall. Only
            // their proportions matter, so all are scaled down together.
            for sum in [&mut ratio, &mut busy, &mut queued, &mut free] {
                *sum *= 1e-200;
            }
        }
        busy += ratio;
        queued += j as f64 * ratio;
        if ratio < 1e-17 * busy && n + j as f64 * alpha > load {
            break;
        }
    }
    let total = free + busy;
    let mean_queue = queued / total;
    let abandon_probability = (alpha * mean_queue / load).min(1.0);
    let mean_wait_all = mean_queue / traffic.arrivals_per_sec;
    let answered = 1.0 - abandon_probability;
    WithAbandonment {
        wait_probability: busy / total,
        abandon_probability,
        mean_wait_answered_secs: if answered > 0.0 { mean_wait_all / answered } else { f64::INFINITY },
    }
}

/// The fewest agents that keep abandonment at or under `max_abandon_share`
/// by Erlang A (0 for no traffic).
pub fn agents_for_abandonment(traffic: Traffic, patience_secs: f64, max_abandon_share: f64) -> u32 {
    if traffic.is_empty() {
        return 0;
    }
    // Abandonment falls as agents are added: double until it is low
    // enough, then halve the gap.
    let enough = |agents| with_abandonment(agents, traffic, patience_secs).abandon_probability <= max_abandon_share;
    let (mut low, mut high) = (0u32, 1u32);
    while !enough(high) {
        (low, high) = (high, high * 2);
    }
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if enough(mid) { high = mid } else { low = mid }
    }
    high
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn reference() -> Value {
        serde_json::from_str(include_str!("testdata/erlang_reference.json")).unwrap()
    }

    fn close(ours: f64, theirs: f64, what: &str) {
        assert!((ours - theirs).abs() <= 1e-9 * theirs.abs().max(1.0), "{what}: ours {ours}, reference {theirs}");
    }

    #[test]
    fn erlang_c_matches_the_reference_implementation() {
        let data = reference();
        let cases = data["erlang_c"].as_array().unwrap();
        assert!(cases.len() >= 20);
        for case in cases {
            let f = |k: &str| case[k].as_f64().unwrap();
            let traffic =
                Traffic { arrivals_per_sec: f("calls") / (f("interval_minutes") * 60.0), handling_secs: f("aht_secs") };
            let agents = f("agents") as u32;
            let what = format!("{case} ({})", data["source"]["erlang_c"]);
            close(wait_probability(agents, traffic), f("wait_probability"), &what);
            close(service_level(agents, traffic, f("target_secs")), f("service_level"), &what);
            if let Some(needed) = case["agents_for_80_percent"].as_u64() {
                assert_eq!(agents_for_service_level(traffic, f("target_secs"), 0.8), needed as u32, "{what}");
            }
        }
    }

    #[test]
    fn erlang_a_matches_the_reference_implementation() {
        let data = reference();
        let cases = data["erlang_a"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let f = |k: &str| case[k].as_f64().unwrap();
            let traffic = Traffic { arrivals_per_sec: f("calls_per_hour") / 3600.0, handling_secs: f("aht_secs") };
            let ours = with_abandonment(f("agents") as u32, traffic, f("patience_secs"));
            let what = format!("{case} ({})", data["source"]["erlang_a"]);
            // The reference truncates its sums at 500 states; the tail it
            // drops is below 1e-12 in every case kept.
            let near = |a: f64, b: f64| assert!((a - b).abs() <= 1e-7 * b.abs().max(1e-3), "{what}: {a} vs {b}");
            near(ours.wait_probability, f("wait_probability"));
            near(ours.abandon_probability, f("abandon_probability"));
            near(ours.mean_wait_answered_secs, f("mean_wait_answered_secs"));
        }
    }

    #[test]
    fn patient_callers_make_erlang_a_approach_erlang_c() {
        let traffic = Traffic { arrivals_per_sec: 200.0 / 3600.0, handling_secs: 180.0 };
        let a = with_abandonment(12, traffic, 1e9);
        assert!((a.wait_probability - wait_probability(12, traffic)).abs() < 1e-6);
        assert!(a.abandon_probability < 1e-6);
        assert!((a.mean_wait_answered_secs - mean_wait_secs(12, traffic)).abs() < 1e-3);
    }

    #[test]
    fn a_floor_that_cannot_keep_up_answers_no_one_in_time_but_erlang_a_still_has_an_answer() {
        let traffic = Traffic { arrivals_per_sec: 1.0, handling_secs: 60.0 };
        assert_eq!(wait_probability(60, traffic), 1.0);
        assert_eq!(service_level(59, traffic, 20.0), 0.0);
        assert!(mean_wait_secs(60, traffic).is_infinite());
        // Overloaded, callers leave: a finite share abandons, however
        // far the load outruns the agents.
        let flood = with_abandonment(2, Traffic { arrivals_per_sec: 10.0, handling_secs: 300.0 }, 600.0);
        assert!(flood.abandon_probability > 0.99 && flood.abandon_probability <= 1.0, "{flood:?}");
        let a = with_abandonment(50, traffic, 60.0);
        assert!(a.abandon_probability > 0.1 && a.abandon_probability < 0.5, "{a:?}");
        // Abandonment lets fewer agents hold the line than Erlang C needs.
        let by_c = agents_for_service_level(traffic, 20.0, 0.8);
        let by_a = agents_for_abandonment(traffic, 60.0, 0.25);
        assert!(by_a < by_c, "{by_a} < {by_c}");
        assert_eq!(agents_for_service_level(Traffic { arrivals_per_sec: 0.0, handling_secs: 60.0 }, 20.0, 0.8), 0);
    }

    #[test]
    fn a_thousand_agents_are_computed_without_overflow() {
        let traffic = Traffic { arrivals_per_sec: 5.0, handling_secs: 190.0 };
        let needed = agents_for_service_level(traffic, 20.0, 0.8);
        assert!((950..1000).contains(&needed), "{needed}");
        let a = with_abandonment(needed, traffic, 120.0);
        assert!(a.abandon_probability.is_finite() && a.abandon_probability < 0.01, "{a:?}");
    }

    fn traffic() -> impl Strategy<Value = Traffic> {
        (0.001f64..1.0, 20.0f64..600.0)
            .prop_map(|(arrivals_per_sec, handling_secs)| Traffic { arrivals_per_sec, handling_secs })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// More agents never lower the service level, nor raise the
        /// abandonment; more traffic never lowers the agents needed.
        #[test]
        fn more_agents_never_hurt_and_more_traffic_never_needs_fewer(
            t in traffic(), agents in 1u32..400, more in 0.0f64..2.0, patience in 5.0f64..600.0,
        ) {
            prop_assert!(service_level(agents + 1, t, 20.0) >= service_level(agents, t, 20.0));
            let (now, plus) = (with_abandonment(agents, t, patience), with_abandonment(agents + 1, t, patience));
            prop_assert!(plus.abandon_probability <= now.abandon_probability + 1e-12);
            let busier = Traffic { arrivals_per_sec: t.arrivals_per_sec * (1.0 + more), ..t };
            prop_assert!(agents_for_service_level(busier, 20.0, 0.8) >= agents_for_service_level(t, 20.0, 0.8));
            prop_assert!(
                agents_for_abandonment(busier, patience, 0.25) >= agents_for_abandonment(t, patience, 0.25)
            );
        }
    }
}
