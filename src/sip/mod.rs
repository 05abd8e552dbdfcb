//! SIP: the only module that knows SIP bytes. The PBX connector answers
//! the hotline as a queueing redirect server (see [`connector`]).

pub mod check;
pub mod connector;
pub mod message;
pub mod parse;
pub mod respond;
#[cfg(test)]
mod tests;
pub mod transaction;
pub mod transport;
pub mod trust;
