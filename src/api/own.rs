//! What counts as a caller's own work, for the routes the security matrix
//! grants as `own` (`access.rs`): the tasks offered to or held by them now,
//! and what those tasks are about (the customer, the car order, the inn
//! booking).

use super::error::ApiError;
use crate::api::state::AppState;
use crate::domain::{Phone, TaskId, UserId};

/// Whether any of `tasks` is offered to or held by `agent` now.
pub async fn holds_any(state: &AppState, agent: UserId, tasks: Vec<TaskId>) -> Result<bool, ApiError> {
    let held = state
        .hub
        .query(move |d, _| tasks.iter().any(|t| d.live_task(*t).is_some_and(|live| live.agent == Some(agent))))
        .await?;
    Ok(held)
}

/// Whether a task for the customer at `phone` is offered to or held by `agent` now.
pub async fn holds_customer(state: &AppState, agent: UserId, phone: &Phone) -> Result<bool, ApiError> {
    let phone = phone.clone();
    let held = state.hub.query(move |d, _| d.agent_cards(agent).iter().any(|c| c.customer_phone == phone)).await?;
    Ok(held)
}

/// Refuses with 403 `not_your_work` unless `mine`.
pub fn require(mine: bool, what: &str) -> Result<(), ApiError> {
    if mine {
        Ok(())
    } else {
        Err(ApiError::not_your_work(format!("{what} is not part of work offered to or held by you")))
    }
}
