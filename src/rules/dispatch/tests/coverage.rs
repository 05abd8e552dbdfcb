//! Someone always online (离开办公室前交接,确保该时段有在线客服接待): which
//! queues have nobody online, and which ones an agent alone keeps covered.

use super::*;

fn names(sim: &Sim, queues: Vec<QueueIdx>) -> Vec<String> {
    queues.into_iter().map(|q| sim.d.rules().queue_name(q).to_owned()).collect()
}

#[test]
fn a_queue_is_covered_while_one_of_its_agents_is_online() {
    let mut sim = Sim::new();
    let li = sim.agent("li", &["hotline", "callbacks"]);
    let wang = sim.agent("wang", &["hotline"]);
    let uncovered = |sim: &Sim| names(sim, sim.d.uncovered_queues());
    assert_eq!(uncovered(&sim), ["marketing", "travel", "complaints"]);
    // Both online: neither leaves the hotline alone.
    assert_eq!(names(&sim, sim.d.covered_only_by(wang)), Vec::<String>::new());
    assert_eq!(names(&sim, sim.d.covered_only_by(li)), ["callbacks"]);
    // Wang goes to lunch: Li alone keeps both of hers covered.
    sim.ok(Command::SetStatus { agent: wang, status: AgentStatus::Break(BreakReason::new("lunch").unwrap()) });
    assert_eq!(names(&sim, sim.d.covered_only_by(li)), ["hotline", "callbacks"]);
    assert_eq!(names(&sim, sim.d.covered_only_by(wang)), Vec::<String>::new(), "already away");
    // On a call and in wrap-up she is still online.
    let t = sim.task(TaskKind::NewSignupCallback, None);
    sim.ok(Command::Accept { agent: li, task: t });
    assert_eq!(sim.status(li), AgentStatus::Busy);
    assert_eq!(uncovered(&sim), ["marketing", "travel", "complaints"]);
    sim.ok(Command::Complete { agent: li, task: t, outcome: Outcome::Reached, summary: None });
    assert_eq!(sim.status(li), AgentStatus::WrapUp);
    assert_eq!(uncovered(&sim), ["marketing", "travel", "complaints"]);
    // She goes offline too: nobody answers the hotline or the callbacks.
    sim.ok(Command::ForceStatus { agent: li, status: AgentStatus::Offline });
    assert_eq!(uncovered(&sim), ["hotline", "callbacks", "marketing", "travel", "complaints"]);
}
