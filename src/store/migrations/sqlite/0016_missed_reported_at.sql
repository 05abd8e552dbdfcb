-- When the centre learnt of a missed call that a PBX reported afterwards;
-- NULL for a miss the connector saw as it happened. A miss reported after
-- its checkpoint passed waits for the next one and counts from it.
ALTER TABLE missed_calls ADD COLUMN reported_at BIGINT;
