//! Replay: a recorded day through the live dispatcher under another
//! configuration or staffing, on a virtual clock.
//!
//! A shell around the same core: where the server's shell turns sockets
//! and timers into the dispatcher's commands, this one turns a day's
//! records (`scenario`) into them (`engine`) and folds the effects into
//! the wallboard's own figures (`outcome`). Nothing in `rules/` changes to
//! serve it. It does no I/O: the command line and the REST API read the
//! recorded days from the store and hand them here. `generate` makes up
//! realistic recorded days for tests and benchmarks.

pub mod dice;
pub mod engine;
pub mod generate;
pub mod outcome;
pub mod recorded;
pub mod scenario;
mod tally;
#[cfg(test)]
mod tests;

pub use self::engine::{Settings, run};
pub use self::outcome::{DayResult, Kpis};
pub use self::scenario::{Answers, Arrival, Day, Patience, SimAgent};
