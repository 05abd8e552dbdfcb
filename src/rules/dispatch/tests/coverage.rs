//! Someone always online (离开办公室前交接,确保该时段有在线客服接待): the
//! queues an agent alone keeps covered, and what their leaving the line
//! would leave with nobody, in working hours.

use super::*;
use crate::rules::calendar::tests::local;

fn names(sim: &Sim, queues: Vec<QueueIdx>) -> Vec<String> {
    queues.into_iter().map(|q| sim.d.rules().queue_name(q).to_owned()).collect()
}

#[test]
fn an_agent_leaving_the_line_is_told_what_nobody_else_covers() {
    let mut sim = Sim::new();
    let cal = sim.d.rules().calendar.clone();
    sim.now = local(&cal, "2026-12-08T10:00");
    let li = sim.agent("li", &["hotline", "callbacks"]);
    let wang = sim.agent("wang", &["hotline"]);
    let lunch = AgentStatus::Break(BreakReason::new("lunch").unwrap());
    let leaving = |sim: &Sim, who, status: &AgentStatus| names(sim, sim.d.left_uncovered(who, status, sim.now));
    // Both online: Wang's lunch leaves Li on the hotline; Li alone has
    // the callbacks.
    assert_eq!(leaving(&sim, wang, &lunch), Vec::<String>::new());
    assert_eq!(leaving(&sim, li, &lunch), ["callbacks"]);
    assert_eq!(leaving(&sim, li, &AgentStatus::Offline), ["callbacks"]);
    assert_eq!(leaving(&sim, li, &AgentStatus::Available), Vec::<String>::new(), "staying on the line");
    // Wang goes to lunch: Li alone keeps both of hers covered.
    sim.ok(Command::SetStatus { agent: wang, status: lunch.clone() });
    assert_eq!(leaving(&sim, li, &lunch), ["hotline", "callbacks"]);
    assert_eq!(names(&sim, sim.d.covered_only_by(wang)), Vec::<String>::new(), "already away");
    // On a call and in wrap-up she is still on the line.
    let t = sim.task(TaskKind::NewSignupCallback, None);
    sim.ok(Command::Accept { agent: li, task: t });
    assert_eq!(sim.status(li), AgentStatus::Busy);
    assert_eq!(names(&sim, sim.d.covered_only_by(li)), ["hotline", "callbacks"]);
    sim.ok(Command::Complete { agent: li, task: t, outcome: Outcome::Reached, summary: None });
    assert_eq!(sim.status(li), AgentStatus::WrapUp);
    assert_eq!(names(&sim, sim.d.covered_only_by(li)), ["hotline", "callbacks"]);
    // After the close nobody need be online: nothing to tell.
    sim.now = local(&cal, "2026-12-08T23:00");
    assert_eq!(leaving(&sim, li, &lunch), Vec::<String>::new());
}
