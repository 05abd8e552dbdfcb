//! Travel work as rules: private-car orders, trips and their drivers,
//! pooling drop-offs, and inn reminders.

pub mod cars;
pub mod inns;
pub mod pooling;
pub mod trips;
