-- Private-car drivers the dispatchers phone and dispatch. `area` is the
-- service area the driver covers (a district, an airport); `status` one of
-- off_duty, available, assigned, on_trip.
CREATE TABLE drivers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL UNIQUE,
    vehicle TEXT,
    seats INTEGER NOT NULL,
    area TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX drivers_status ON drivers (status);
