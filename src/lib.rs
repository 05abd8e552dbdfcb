//! Switchboard: a real-time dispatch server for telephone customer-service centres.
#![forbid(unsafe_code)]

pub mod config;
pub mod dispatch;
pub mod domain;
pub mod store;
pub mod testing;
