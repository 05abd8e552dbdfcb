-- Trips: one or more car orders one driver drives together (a pool of
-- drop-offs is one trip). planned, then confirmed (a driver said yes on the
-- phone), dispatched, completed; or cancelled. starts_at/ends_at is the
-- span the trip keeps its driver (cars.trip_minutes either side).
CREATE TABLE car_trips (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    driver_id TEXT REFERENCES drivers (id),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    passengers INTEGER NOT NULL,
    pool_id TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX car_trips_driver ON car_trips (driver_id, status);
-- Every phone call to a driver about a trip, and how it ended.
CREATE TABLE car_trip_calls (
    id BIGSERIAL PRIMARY KEY,
    trip_id TEXT NOT NULL REFERENCES car_trips (id),
    driver_id TEXT NOT NULL REFERENCES drivers (id),
    outcome TEXT NOT NULL,
    user_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX car_trip_calls_trip ON car_trip_calls (trip_id, id);
ALTER TABLE car_orders ADD COLUMN trip_id TEXT REFERENCES car_trips (id);
ALTER TABLE car_orders ADD COLUMN policy_number TEXT;
ALTER TABLE car_orders ADD COLUMN insurance_task_id TEXT REFERENCES tasks (id);
ALTER TABLE car_orders ADD COLUMN escalated_at BIGINT;
-- Pool proposals a dispatcher turned down: not proposed again.
CREATE TABLE pool_rejections (
    proposal_id TEXT PRIMARY KEY,
    user_id TEXT,
    at BIGINT NOT NULL
);
