//! The clock-driven jobs, each named after the rule it runs: releasing
//! scheduled tasks, the missed-call follow-up's checkpoints, shift edges,
//! case deadlines and travel escalations.

pub mod cases;
pub mod followup;
pub mod scheduled;
pub mod shifts;
pub mod travel;
pub mod wake;
