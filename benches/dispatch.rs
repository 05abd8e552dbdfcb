//! Time per routing decision of the dispatch core with 10,000 waiting tasks
//! and 2,000 agents. Each sample times one `Dispatcher::handle` call that
//! ends in an offer, including the explanation and effects it builds.
//! Reports median, p99 and p99.9 (a plain harness, because the usual bench
//! harnesses do not report p99).
//!
//! Run twice on one machine: as centres run today (plain skills, no
//! routing steps), and with routing steps on every kind (a level 4, then a
//! level 2 step) and agents of mixed levels (1 to 5), so that the tasks
//! are spread over every step and the agents over every class.
//!
//! Run: `cargo bench --bench dispatch`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use switchboard::domain::{AgentStatus, BreakReason, Phone, TaskId, TaskKind, UserId};
use switchboard::rules::dispatch::{AgentProfile, Command, Dispatcher, Effect, NewTask, RoutingStep, Rules, TaskCard};

const AGENTS: usize = 2_000;
const TASKS: usize = 10_000;
const SAMPLES: usize = 20_000;
const WARM_UP: usize = 2_000;

/// A small deterministic generator so every run builds the same floor.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn task(d: &Dispatcher, kind: TaskKind, now: Timestamp, rng: &mut Lcg) -> NewTask {
    let deadline =
        rng.next().is_multiple_of(3).then(|| now + SignedDuration::from_secs((rng.next() % 7200) as i64 + 60));
    let plan = d.rules().plan(kind, now, None, deadline);
    let card = Arc::new(TaskCard {
        id: TaskId::new(),
        kind,
        customer_phone: Phone::parse("13800138000").unwrap(),
        reason: None,
        deadline: plan.deadline,
        priority: plan.priority,
        queue: d.rules().queue_name(plan.queue).to_owned(),
        created_at: now,
        attempt: 1,
        attempts_allowed: 2,
        first_tried_at: None,
        last_outcome: None,
        handover_note: None,
        reserved: None,
        avoid_agent: None,
    });
    NewTask { card, plan, enqueued_at: now - SignedDuration::from_millis((rng.next() % 600_000) as i64), held_by: None }
}

fn agent(d: &mut Dispatcher, now: Timestamp, skills: &[&str], level: u8, out: &mut Vec<Effect>) -> UserId {
    let id = UserId::new();
    let profile = AgentProfile {
        id,
        name: "agent".into(),
        queues: d.rules().queue_set(skills.iter().copied()),
        levels: d.rules().levels(skills.iter().map(|s| (*s, level))),
        voice_capacity: 1,
        back_office_capacity: 2,
        sip_uri: None,
    };
    d.handle(now, Command::UpsertAgent(profile), out).unwrap();
    d.handle(now, Command::Connect { agent: id, winding_down: false }, out).unwrap();
    id
}

/// Times `decide` (which must end in an offer) for each sample, running
/// `undo` after it so every sample starts from the same floor.
fn measure(
    d: &mut Dispatcher,
    now: &mut Timestamp,
    out: &mut Vec<Effect>,
    mut step: impl FnMut(usize, &Dispatcher, Timestamp) -> (Command, Command),
) -> Vec<u64> {
    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..WARM_UP + SAMPLES {
        *now += SignedDuration::from_millis(1);
        let (decide, undo) = step(i, d, *now);
        let start = Instant::now();
        black_box(d.handle(*now, decide, out).unwrap());
        let took = start.elapsed().as_nanos() as u64;
        assert!(out.iter().any(|e| matches!(e, Effect::Offer { .. })), "no offer was made");
        d.handle(*now, undo, out).unwrap();
        // Timers (steps widening, offers expiring) fire between samples,
        // untimed, as the hub's clock would fire them.
        d.tick(*now, out);
        out.clear();
        if i >= WARM_UP {
            samples.push(took);
        }
    }
    samples
}

fn report(name: &str, mut samples: Vec<u64>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)] as f64 / 1000.0;
    println!(
        "{name:<40} n={:<6} median {:>6.2} µs   p99 {:>6.2} µs   p99.9 {:>6.2} µs   max {:>7.2} µs",
        samples.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        *samples.last().unwrap() as f64 / 1000.0
    );
}

/// Every kind wants level 4 in its queue for 2 minutes, then level 2 for
/// 3 more, then anyone serving the queue.
fn stepped_rules() -> Rules {
    let mut rules = Rules::manual_defaults();
    for kind in rules.kinds.iter_mut() {
        kind.steps = vec![
            RoutingStep { wants: vec![(kind.queue, 4)], wait: SignedDuration::from_secs(120) },
            RoutingStep { wants: vec![(kind.queue, 2)], wait: SignedDuration::from_secs(180) },
        ];
    }
    rules
}

fn main() {
    run("today's routing: plain skills, no steps", Rules::manual_defaults(), false);
    run("routing steps on every kind, levels 1-5", stepped_rules(), true);
}

fn run(title: &str, rules: Rules, levels: bool) {
    let mut rng = Lcg(42);
    let mut out = Vec::with_capacity(64);
    let mut d = Dispatcher::new(rules);
    let level = |i: usize| if levels { (i % 5) as u8 + 1 } else { 1 };
    let mut now: Timestamp = "2026-03-02T01:00:00Z".parse().unwrap();
    let skill_sets: [&[&str]; 5] = [
        &["hotline", "callbacks"],
        &["hotline"],
        &["callbacks", "marketing"],
        &["travel", "marketing"],
        &["hotline", "callbacks", "marketing", "travel"],
    ];
    let on_break = AgentStatus::Break(BreakReason::new("meeting").unwrap());
    // 1,800 agents on break, 200 complaint handlers free: none can take the
    // 10,000 tasks waiting in the other queues.
    let mut floor = Vec::new();
    for i in 0..AGENTS - 200 {
        let id = agent(&mut d, now, skill_sets[i % skill_sets.len()], level(i / skill_sets.len()), &mut out);
        d.handle(now, Command::SetStatus { agent: id, status: on_break.clone() }, &mut out).unwrap();
        floor.push(id);
    }
    for i in 0..200 {
        agent(&mut d, now, &["complaints"], level(i), &mut out);
    }
    let kinds: Vec<TaskKind> = TaskKind::ALL.iter().copied().filter(|k| *k != TaskKind::ComplaintFollowUp).collect();
    for _ in 0..TASKS {
        let kind = kinds[rng.next() as usize % kinds.len()];
        let t = task(&d, kind, now, &mut rng);
        d.handle(now, Command::AddTask(t), &mut out).unwrap();
    }
    out.clear();
    assert_eq!(d.live_task_count(), TASKS);

    // A freed agent picks the best task among its queues; it goes back on
    // break, so the offer is withdrawn and the task keeps its place.
    let samples = measure(&mut d, &mut now, &mut out, |i, _, _| {
        let agent = floor[i % floor.len()];
        let decide = Command::SetStatus { agent, status: AgentStatus::Available };
        (decide, Command::SetStatus { agent, status: on_break.clone() })
    });
    println!("dispatch core, {TASKS} waiting tasks, {AGENTS} agents; {title}");
    report("agent freed -> best waiting task", samples);

    // A new task picks the longest-idle eligible agent; then it is cancelled.
    let samples = measure(&mut d, &mut now, &mut out, |_, d, now| {
        let t = task(d, TaskKind::ComplaintFollowUp, now, &mut rng);
        let id = t.card.id;
        (Command::AddTask(t), Command::CancelTask { task: id })
    });
    report("task arrives -> longest-idle agent", samples);
    d.check_invariants(now).unwrap();
}
