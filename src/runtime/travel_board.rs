//! The dispatch board: what a dispatcher sees at once (open car orders by
//! urgency, trips, proposed pools, drivers, inn bookings waiting), pushed to
//! every dispatcher's socket when anything on it changes.
//!
//! Changes are announced, not diffed: whoever changes travel work calls
//! [`Board::touch`]; one loader task waits a moment for a burst to settle,
//! reads the board once from the store and publishes it on a watch channel,
//! which every dispatcher session follows. A dispatcher that falls behind
//! only ever gets the latest board, never a queue of stale ones. The same
//! wake-up nudges the travel watch (`runtime/jobs/travel.rs`), so an inn booking
//! reported already overdue is phoned about at once.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use utoipa::ToSchema;

use crate::domain::{CarOrderKind, CarOrderStatus, DriverStatus, InnOrderStatus};
use crate::rules::travel::cars::CarRules;
use crate::rules::travel::pooling::{self, DropOff};
use crate::store::{CarOrder, Driver, InnOrder, Store, StoreError, Trip};

/// How long the loader lets a burst of changes settle before reading.
const SETTLE: Duration = Duration::from_millis(30);
/// Read again at least this often, for what changes without a touch (a
/// reminder's task taken or ended by an agent, an escalation's clock); a
/// board that did not change is not sent.
const REFRESH: Duration = Duration::from_secs(5);

/// A pool the server proposes: open drop-offs to one airport, departing
/// within `cars.pool_window_minutes`, whose passengers fit the largest car
/// on duty.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PoolProposalView {
    /// Stable while the same orders make the pool.
    pub id: String,
    pub order_ids: Vec<crate::domain::CarOrderId>,
    pub airport: String,
    /// Passengers in all.
    pub seats: u32,
    #[schema(value_type = String)]
    pub earliest: Timestamp,
    #[schema(value_type = String)]
    pub latest: Timestamp,
}

/// Everything on a dispatcher's screen.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct DispatchBoard {
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// Open orders, most urgent (earliest confirmation deadline) first,
    /// then dispatched ones waiting to complete.
    pub car_orders: Vec<CarOrder>,
    /// Trips planned, confirmed or dispatched.
    pub trips: Vec<Trip>,
    pub pools: Vec<PoolProposalView>,
    pub drivers: Vec<Driver>,
    /// Inn bookings still unprocessed, oldest first.
    pub inn_orders: Vec<InnOrder>,
}

/// The open drop-offs that are not yet in a trip, as pooling sees them.
fn unplanned_drop_offs(open: &[CarOrder]) -> Vec<DropOff> {
    open.iter()
        .filter(|o| o.kind == CarOrderKind::Dropoff && o.trip_id.is_none())
        .filter_map(|o| {
            Some(DropOff { order: o.id, airport: o.airport.clone()?, departs: o.time, passengers: o.passengers })
        })
        .collect()
}

/// Pools proposed among `open` orders now: sized by the largest car on
/// duty, leaving out orders already in a trip and proposals turned down.
pub async fn pool_proposals(
    store: &Store,
    rules: &CarRules,
    open: &[CarOrder],
) -> Result<Vec<PoolProposalView>, StoreError> {
    let drivers = store.drivers(None).await?;
    let capacity = drivers.iter().filter(|d| d.status != DriverStatus::OffDuty).map(|d| d.seats).max().unwrap_or(0);
    let rejected = store.rejected_pools().await?;
    Ok(pooling::propose(&unplanned_drop_offs(open), rules.pool_window(), capacity)
        .into_iter()
        .map(|p| PoolProposalView {
            id: p.id(),
            order_ids: p.orders,
            airport: p.airport,
            seats: p.seats,
            earliest: p.earliest,
            latest: p.latest,
        })
        .filter(|p| !rejected.contains(&p.id))
        .collect())
}

/// Reads the whole board from the store.
pub async fn load(store: &Store, rules: &CarRules, now: Timestamp) -> Result<DispatchBoard, StoreError> {
    let mut open = store.car_orders(CarOrderStatus::Open).await?;
    open.sort_by_key(|o| (o.confirm_by, o.time));
    let pools = pool_proposals(store, rules, &open).await?;
    let mut car_orders = open;
    car_orders.extend(store.car_orders(CarOrderStatus::Dispatched).await?);
    Ok(DispatchBoard {
        at: now,
        car_orders,
        trips: store.active_trips().await?,
        pools,
        drivers: store.drivers(None).await?,
        inn_orders: store.inn_orders(InnOrderStatus::Unprocessed).await?,
    })
}

/// Where changes are announced and the latest board is published.
#[derive(Clone)]
pub struct Board {
    changed: Arc<Notify>,
    nudge: Arc<Notify>,
    latest: watch::Sender<Option<Arc<DispatchBoard>>>,
}

impl Default for Board {
    fn default() -> Self {
        Board { changed: Arc::default(), nudge: Arc::default(), latest: watch::Sender::new(None) }
    }
}

impl Board {
    /// Something on the board changed: redraw it (and let the travel watch look).
    pub fn touch(&self) {
        self.changed.notify_one();
        self.nudge.notify_one();
    }

    /// Follows the published board; `None` until the first is loaded.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<DispatchBoard>>> {
        self.latest.subscribe()
    }

    /// Resolves when the travel watch should look again before its timer.
    pub async fn nudged(&self) {
        self.nudge.notified().await
    }

    /// The loader: one read per burst of changes, and every few seconds;
    /// published only when something on it changed.
    pub async fn run(self, store: Store, rules: CarRules, shutdown: CancellationToken) {
        loop {
            match load(&store, &rules, Timestamp::now()).await {
                Ok(board) => {
                    self.latest.send_if_modified(|current| {
                        let same = current.as_ref().is_some_and(|c| DispatchBoard { at: c.at, ..board.clone() } == **c);
                        if !same {
                            *current = Some(Arc::new(board));
                        }
                        !same
                    });
                }
                Err(e) => tracing::error!(error = %e, "loading the dispatch board failed; will retry"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.changed.notified() => {}
                _ = tokio::time::sleep(REFRESH) => {}
            }
            tokio::time::sleep(SETTLE).await;
        }
    }
}
