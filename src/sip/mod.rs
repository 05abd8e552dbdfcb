//! SIP: the only module that knows SIP bytes. So far the message model,
//! the parser and the request checks; the PBX connector builds on them.

pub mod check;
pub mod message;
pub mod parse;
pub mod respond;
#[cfg(test)]
mod tests;
pub mod transaction;
pub mod trust;
