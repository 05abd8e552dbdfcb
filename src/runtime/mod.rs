//! The imperative shell around the rules: the tasks that own state, write
//! it, publish it and act on the clock. Each holds no rule of its own; it
//! calls the pure function in `rules/` with the time and stores or sends
//! what that returns.

pub mod figures;
pub mod hub;
pub mod intake;
pub mod jobs;
pub mod live_rules;
pub mod live_writer;
pub mod merchant_lists;
pub mod planning;
pub mod record_writer;
pub mod recovery;
pub mod travel_board;
pub mod what_if;
