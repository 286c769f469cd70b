-- The guard facts read only executions that may hold an order (SUBMITTING, SUBMITTED, FILLED,
-- CANCELED), by the time of their order (signing time, else claim time). These partial
-- expression indexes make those reads cost what they return (the latest order per side, today's
-- orders) instead of the user's whole history (measured in BENCHMARKS.md, "Guards as history
-- grows"). The predicate must stay identical to the queries' state list in src/facts.rs, or
-- SQLite's planner will not use them.
CREATE INDEX trade_executions_order_time_idx
    ON trade_executions (user_id, market, side, COALESCE(signed_at, created_at))
    WHERE state IN ('SUBMITTING', 'SUBMITTED', 'FILLED', 'CANCELED');

CREATE INDEX trade_executions_user_order_time_idx
    ON trade_executions (user_id, COALESCE(signed_at, created_at))
    WHERE state IN ('SUBMITTING', 'SUBMITTED', 'FILLED', 'CANCELED');
