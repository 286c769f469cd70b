-- The guard facts list a user's in-flight executions (SUBMITTING, SUBMITTED) in claim order, on
-- every market, and find an unknown-outcome one among them (src/facts.rs). Before this index the
-- planner walked all of the user's executions on (user_id, market, created_at) to find the few
-- in flight, so the read grew with the user's history (BENCHMARKS.md, section (e)). The
-- predicate must stay textually identical to the queries' state list, or SQLite's planner will
-- not use it.
CREATE INDEX trade_executions_in_flight_idx
    ON trade_executions (user_id, created_at)
    WHERE state IN ('SUBMITTING', 'SUBMITTED');
