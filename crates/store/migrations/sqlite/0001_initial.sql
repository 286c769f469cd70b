-- Vigil's schema on SQLite (the embedded default). STRICT tables, so a value of the wrong type
-- is refused instead of converted. Money is TEXT holding the exact decimal string (never REAL);
-- times are TEXT in one fixed-width UTC form (YYYY-MM-DDTHH:MM:SS.ffffffZ), so comparing the
-- text compares the times; ids are TEXT holding the hyphenated UUID; booleans are 0/1.
-- Constraint names match the PostgreSQL schema: SQLite's errors name columns, not constraints,
-- and the store maps those columns back to these names.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL CONSTRAINT users_name_key UNIQUE,
    is_admin    INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    kill_switch INTEGER NOT NULL DEFAULT 0 CHECK (kill_switch IN (0, 1)),
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    token_sha256 TEXT NOT NULL CONSTRAINT api_tokens_token_sha256_key UNIQUE
                 CHECK (length(token_sha256) = 64 AND token_sha256 NOT GLOB '*[^0-9a-f]*'),
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE policies (
    user_id            TEXT PRIMARY KEY REFERENCES users (id),
    trading_enabled    INTEGER NOT NULL CHECK (trading_enabled IN (0, 1)),
    order_notional_max TEXT NOT NULL,
    daily_notional_max TEXT NOT NULL,
    cooldown_minutes   INTEGER NOT NULL CHECK (cooldown_minutes BETWEEN 0 AND 10080),
    anti_flip_minutes  INTEGER NOT NULL CHECK (anti_flip_minutes BETWEEN 0 AND 10080),
    auto_approve       INTEGER NOT NULL CHECK (auto_approve IN (0, 1)),
    llm_daily_budget   TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;

CREATE TABLE allowlist (
    user_id  TEXT NOT NULL REFERENCES users (id),
    market   TEXT NOT NULL,
    added_at TEXT NOT NULL,
    CONSTRAINT allowlist_user_market_key UNIQUE (user_id, market)
) STRICT;

CREATE TABLE global_settings (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    kill_switch INTEGER NOT NULL DEFAULT 0 CHECK (kill_switch IN (0, 1)),
    updated_at  TEXT
) STRICT;
INSERT INTO global_settings (id, kill_switch) VALUES (1, 0);

CREATE TABLE proposals (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    market      TEXT NOT NULL,
    side        TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type  TEXT NOT NULL CHECK (order_type IN ('market', 'limit')),
    size_kind   TEXT NOT NULL CHECK (size_kind IN ('quote', 'base')),
    size_value  TEXT NOT NULL,
    limit_price TEXT,
    source_kind TEXT NOT NULL CHECK (source_kind IN ('strategy', 'advisor', 'person')),
    source_name TEXT NOT NULL,
    rationale   TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'EXECUTED', 'CANCELLED')),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE INDEX proposals_user_status_idx ON proposals (user_id, status, created_at);

CREATE TABLE trade_executions (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id),
    proposal_id       TEXT NOT NULL REFERENCES proposals (id),
    client_order_id   TEXT NOT NULL,
    market            TEXT NOT NULL,
    side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type        TEXT NOT NULL CHECK (order_type IN ('market', 'limit')),
    size_kind         TEXT NOT NULL CHECK (size_kind IN ('quote', 'base')),
    size_value        TEXT NOT NULL,
    limit_price       TEXT,
    notional          TEXT NOT NULL,
    state             TEXT NOT NULL
                      CHECK (state IN ('CLAIMED', 'SUBMITTING', 'SUBMITTED', 'FILLED', 'CANCELED', 'REJECTED', 'FAILED')),
    outcome_unknown   INTEGER NOT NULL DEFAULT 0 CHECK (outcome_unknown IN (0, 1)),
    refusal           TEXT,
    failure           TEXT,
    exchange_order_id TEXT,
    signed_at         TEXT,
    access_window_ms  INTEGER CHECK (access_window_ms > 0),
    filled_notional   TEXT NOT NULL DEFAULT '0',
    event_seq         INTEGER NOT NULL CHECK (event_seq >= 1),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    CONSTRAINT trade_executions_user_proposal_key UNIQUE (user_id, proposal_id),
    CONSTRAINT trade_executions_client_order_id_key UNIQUE (client_order_id),
    CONSTRAINT trade_executions_market_order_key UNIQUE (market, exchange_order_id),
    CONSTRAINT trade_executions_signed_check
        CHECK (state IN ('CLAIMED', 'REJECTED') OR signed_at IS NOT NULL),
    CONSTRAINT trade_executions_order_id_check
        CHECK (state NOT IN ('SUBMITTED', 'FILLED', 'CANCELED') OR exchange_order_id IS NOT NULL),
    CONSTRAINT trade_executions_unknown_check
        CHECK (outcome_unknown = 0 OR state = 'SUBMITTING')
) STRICT;
CREATE INDEX trade_executions_guard_idx ON trade_executions (user_id, market, created_at);
CREATE INDEX trade_executions_unfinished_idx ON trade_executions (state, created_at)
    WHERE state IN ('CLAIMED', 'SUBMITTING', 'SUBMITTED');

CREATE TABLE execution_events (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL REFERENCES trade_executions (id),
    seq          INTEGER NOT NULL CHECK (seq >= 1),
    event        TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    payload      TEXT NOT NULL,
    at           TEXT NOT NULL,
    CONSTRAINT execution_events_execution_seq_key UNIQUE (execution_id, seq)
) STRICT;

-- I11: rows never change, here as on PostgreSQL.
CREATE TRIGGER execution_events_no_update BEFORE UPDATE ON execution_events
BEGIN
    SELECT RAISE(ABORT, 'execution_events is append-only (I11): UPDATE refused');
END;
CREATE TRIGGER execution_events_no_delete BEFORE DELETE ON execution_events
BEGIN
    SELECT RAISE(ABORT, 'execution_events is append-only (I11): DELETE refused');
END;

CREATE TABLE trade_history (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    execution_id    TEXT REFERENCES trade_executions (id),
    market          TEXT NOT NULL,
    fill_id         TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    client_order_id TEXT,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    amount          TEXT NOT NULL,
    price           TEXT NOT NULL,
    fee             TEXT NOT NULL,
    fee_currency    TEXT NOT NULL,
    filled_at       TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    CONSTRAINT trade_history_market_fill_key UNIQUE (market, fill_id)
) STRICT;
CREATE INDEX trade_history_user_market_time_idx ON trade_history (user_id, market, filled_at);
CREATE INDEX trade_history_execution_idx ON trade_history (execution_id);

CREATE TABLE scan_jobs (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id),
    strategy         TEXT NOT NULL,
    markets          TEXT NOT NULL,
    params           TEXT NOT NULL,
    interval_seconds INTEGER NOT NULL CHECK (interval_seconds > 0),
    next_run_at      TEXT NOT NULL,
    paused           INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    locked_by        TEXT,
    locked_until     TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CONSTRAINT scan_jobs_lease_check CHECK ((locked_by IS NULL) = (locked_until IS NULL))
) STRICT;
CREATE INDEX scan_jobs_due_idx ON scan_jobs (next_run_at)
    WHERE locked_by IS NULL AND paused = 0;
CREATE INDEX scan_jobs_lease_idx ON scan_jobs (locked_until)
    WHERE locked_by IS NOT NULL;

CREATE TABLE llm_usage_log (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id),
    model             TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens INTEGER NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    reserved_cost     TEXT NOT NULL,
    actual_cost       TEXT,
    status            TEXT NOT NULL CHECK (status IN ('reserved', 'settled', 'failed')),
    at                TEXT NOT NULL,
    settled_at        TEXT
) STRICT;
CREATE INDEX llm_usage_log_user_at_idx ON llm_usage_log (user_id, at);

CREATE TABLE audit_log (
    id     TEXT PRIMARY KEY,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before TEXT,
    after  TEXT,
    reason TEXT,
    at     TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_target_idx ON audit_log (target, at);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (I11): UPDATE refused');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only (I11): DELETE refused');
END;
