//! Switchboard: a real-time dispatch server for telephone customer-service
//! centres. See ARCHITECTURE.md for the map of this crate.
#![forbid(unsafe_code)]

/// mimalloc instead of the system allocator, for every binary that links
/// the server. Under load (5,000 calls/s) glibc's malloc and free were a
/// fifth of all CPU time, mostly consolidating and unlinking chunks freed
/// on other threads; see the README's figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod account_watch;
pub mod accounts;
pub mod api;
pub mod at_rest;
pub mod auth;
pub mod board;
pub mod calendar;
pub mod cars;
pub mod case_watch;
pub mod cases;
pub mod checkpoints;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod domain;
pub mod figures;
pub mod floor;
pub mod followup;
pub mod hub;
pub mod inns;
pub mod leading;
pub mod limits;
pub mod listen;
pub mod live;
pub mod metrics;
pub mod pooling;
pub mod registrations;
pub mod relay;
pub mod reports;
pub mod schedule;
pub mod server;
pub mod shift_clock;
pub mod shifts;
pub mod sip;
pub mod store;
pub mod testing;
pub mod travel_watch;
pub mod trips;
pub mod wake;
pub mod web;
pub mod writer;
pub mod ws;

pub use config::Config;
pub use server::{Listeners, ServerError, run};
