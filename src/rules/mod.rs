//! The pure rules: the dispatcher and every rule of the manuals.
//!
//! Nothing here does I/O, spawns, locks, or reads the clock: every function
//! takes the time it should use as an argument, so the same code runs live,
//! in tests on a virtual clock, and in replays. `tests/house.rs` fails if a
//! file under this folder names tokio, sqlx, redis or axum, or reads the
//! clock.

pub mod calendar;
pub mod cases;
pub mod customer_file;
pub mod dialling;
pub mod dispatch;
pub mod events;
pub mod figures;
pub mod followup;
pub mod greetings;
pub mod planning;
pub mod recurring;
pub mod registrations;
pub mod reports;
pub mod shifts;
pub mod travel;
pub mod warranty;
