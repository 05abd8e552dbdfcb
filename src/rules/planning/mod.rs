//! Planning: the agents an interval needs, and how long a waiting task
//! will wait.
//!
//! Pure like the rest of `rules/`: the staffing formulas take the traffic
//! measured on the floor, the estimates take a view of the floor and the
//! time, and nothing reads a clock or a store.

pub mod erlang;
pub mod estimate;
pub mod staffing;
