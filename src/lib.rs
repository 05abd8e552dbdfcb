//! Switchboard: a real-time dispatch server for telephone customer-service
//! centres. See ARCHITECTURE.md for the map of this crate.
//!
//! # Layout
//!
//! The tree follows the design (ARCHITECTURE.md has the whole map):
//!
//! - [`domain`]: the vocabulary every layer shares (tasks, agents, calls).
//! - [`config`]: the typed settings, read in layers (defaults, the TOML
//!   file, the environment) and checked once at start.
//! - [`rules`]: the pure rules. The dispatcher and every rule of the
//!   manuals (calendar, follow-up, registrations, cases, shifts, travel,
//!   figures, reports). No I/O, no tokio, no clock: time is an argument.
//! - [`runtime`]: the imperative shell that runs the rules: the hub (the
//!   dispatcher's one owner), the record writer, the figures and travel
//!   board publishers, and the clock-driven jobs, each named after its rule.
//! - [`replay`]: a second shell around the same core: a recorded day
//!   through the dispatcher on a virtual clock, under another
//!   configuration or staffing (what-if), with the wallboard's figures.
//! - [`store`] (SQL only) and [`live`] (Redis only).
//! - The edges: [`api`] (REST), [`ws`] (WebSockets), [`sip`] (the PBX
//!   connector; the only module that knows SIP bytes), [`web`] (the pages),
//!   [`listen`] (sockets, TLS and the HTTP loop) and [`auth`] (accounts,
//!   passwords, tokens).
//! - [`app`]: the wiring: the server's lifecycle, leading and relaying
//!   between nodes, secrets at rest, the command line. Only `main` uses it.
//! - [`limits`] and [`metrics`]: small shared utilities.
#![forbid(unsafe_code)]

/// mimalloc instead of the system allocator, for every binary that links
/// the server. Under load (5,000 calls/s) glibc's malloc and free were a
/// fifth of all CPU time, mostly consolidating and unlinking chunks freed
/// on other threads; see the README's figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod api;
pub mod app;
pub mod auth;
pub mod config;
pub mod domain;
pub mod limits;
pub mod listen;
pub mod live;
pub mod metrics;
pub mod replay;
pub mod rules;
pub mod runtime;
pub mod sip;
pub mod store;
pub mod testing;
pub mod web;
pub mod ws;

pub use app::server::{Listeners, ServerError, run};
pub use config::Config;
