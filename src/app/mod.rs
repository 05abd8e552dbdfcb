//! The wiring: the server's lifecycle (build, start, stop), leading and
//! relaying between nodes, secrets at rest, and the command line. Nothing
//! else in the crate imports this folder; `main` and the tests start here.

pub mod at_rest;
pub mod cli;
pub mod leading;
pub mod relay;
pub mod reload;
pub mod server;
pub mod what_if;
