-- Vigil's schema on PostgreSQL (production; several instances coordinate through it).
-- Money is NUMERIC (exact), times are TIMESTAMPTZ (UTC), ids are UUID.
-- Constraint names are part of the contract: the store maps unique violations to domain
-- outcomes by name (the I1 claim answers with the existing execution).

CREATE TABLE users (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL CONSTRAINT users_name_key UNIQUE,
    is_admin    BOOLEAN NOT NULL DEFAULT FALSE,
    kill_switch BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Only the SHA-256 of a token is stored; the token itself is shown once and never kept.
CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id),
    token_sha256 TEXT NOT NULL CONSTRAINT api_tokens_token_sha256_key UNIQUE
                 CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE policies (
    user_id            UUID PRIMARY KEY REFERENCES users (id),
    trading_enabled    BOOLEAN NOT NULL,
    order_notional_max NUMERIC NOT NULL CHECK (order_notional_max > 0),
    daily_notional_max NUMERIC NOT NULL CHECK (daily_notional_max >= order_notional_max),
    cooldown_minutes   BIGINT NOT NULL CHECK (cooldown_minutes BETWEEN 0 AND 10080),
    anti_flip_minutes  BIGINT NOT NULL CHECK (anti_flip_minutes BETWEEN 0 AND 10080),
    auto_approve       BOOLEAN NOT NULL,
    llm_daily_budget   NUMERIC NOT NULL CHECK (llm_daily_budget >= 0),
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE TABLE allowlist (
    user_id  UUID NOT NULL REFERENCES users (id),
    market   TEXT NOT NULL,
    added_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT allowlist_user_market_key UNIQUE (user_id, market)
);

-- Exactly one row (id = 1).
CREATE TABLE global_settings (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    kill_switch BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at  TIMESTAMPTZ
);
INSERT INTO global_settings (id, kill_switch) VALUES (1, FALSE);

CREATE TABLE proposals (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id),
    market      TEXT NOT NULL,
    side        TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type  TEXT NOT NULL CHECK (order_type IN ('market', 'limit')),
    size_kind   TEXT NOT NULL CHECK (size_kind IN ('quote', 'base')),
    size_value  NUMERIC NOT NULL CHECK (size_value > 0),
    limit_price NUMERIC CHECK (limit_price > 0),
    source_kind TEXT NOT NULL CHECK (source_kind IN ('strategy', 'advisor', 'person')),
    source_name TEXT NOT NULL,
    rationale   TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'EXPIRED', 'EXECUTED', 'CANCELLED')),
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX proposals_user_status_idx ON proposals (user_id, status, created_at);

CREATE TABLE trade_executions (
    id                UUID PRIMARY KEY,
    user_id           UUID NOT NULL REFERENCES users (id),
    proposal_id       UUID NOT NULL REFERENCES proposals (id),
    client_order_id   UUID NOT NULL,
    market            TEXT NOT NULL,
    side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type        TEXT NOT NULL CHECK (order_type IN ('market', 'limit')),
    size_kind         TEXT NOT NULL CHECK (size_kind IN ('quote', 'base')),
    size_value        NUMERIC NOT NULL CHECK (size_value > 0),
    limit_price       NUMERIC CHECK (limit_price > 0),
    notional          NUMERIC NOT NULL CHECK (notional >= 0),
    state             TEXT NOT NULL
                      CHECK (state IN ('CLAIMED', 'SUBMITTING', 'SUBMITTED', 'FILLED', 'CANCELED', 'REJECTED', 'FAILED')),
    outcome_unknown   BOOLEAN NOT NULL DEFAULT FALSE,
    refusal           JSONB,
    failure           TEXT,
    exchange_order_id TEXT,
    signed_at         TIMESTAMPTZ,
    access_window_ms  BIGINT CHECK (access_window_ms > 0),
    filled_notional   NUMERIC NOT NULL DEFAULT 0 CHECK (filled_notional >= 0),
    -- How many execution_events rows exist; the compare-and-set token of every transition.
    event_seq         BIGINT NOT NULL CHECK (event_seq >= 1),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    -- I1: at most one execution (and so one order) per (user, proposal).
    CONSTRAINT trade_executions_user_proposal_key UNIQUE (user_id, proposal_id),
    CONSTRAINT trade_executions_client_order_id_key UNIQUE (client_order_id),
    -- An exchange order belongs to at most one execution (order ids are unique per market).
    CONSTRAINT trade_executions_market_order_key UNIQUE (market, exchange_order_id),
    -- I2, paired with the transition table: SUBMITTING and every state after it carry a
    -- signing time (only CLAIMED and REJECTED never reached SUBMITTING).
    CONSTRAINT trade_executions_signed_check
        CHECK (state IN ('CLAIMED', 'REJECTED') OR signed_at IS NOT NULL),
    CONSTRAINT trade_executions_order_id_check
        CHECK (state NOT IN ('SUBMITTED', 'FILLED', 'CANCELED') OR exchange_order_id IS NOT NULL),
    -- An unknown outcome is only ever resolved by an event that clears it (I3).
    CONSTRAINT trade_executions_unknown_check
        CHECK (NOT outcome_unknown OR state = 'SUBMITTING')
);
-- Guard facts (cooldown, anti-flip, daily cap) look executions up by user, market and time.
CREATE INDEX trade_executions_guard_idx ON trade_executions (user_id, market, created_at);
-- The reconciler and the fill follower only walk unfinished executions.
CREATE INDEX trade_executions_unfinished_idx ON trade_executions (state, created_at)
    WHERE state IN ('CLAIMED', 'SUBMITTING', 'SUBMITTED');

-- I11: every transition is one row here, and rows never change.
CREATE TABLE execution_events (
    id           UUID PRIMARY KEY,
    execution_id UUID NOT NULL REFERENCES trade_executions (id),
    seq          BIGINT NOT NULL CHECK (seq >= 1),
    event        TEXT NOT NULL,
    from_state   TEXT,
    to_state     TEXT NOT NULL,
    payload      JSONB NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT execution_events_execution_seq_key UNIQUE (execution_id, seq)
);

CREATE FUNCTION vigil_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only (I11): % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER execution_events_append_only
    BEFORE UPDATE OR DELETE ON execution_events
    FOR EACH ROW EXECUTE FUNCTION vigil_refuse_change();
CREATE TRIGGER execution_events_no_truncate
    BEFORE TRUNCATE ON execution_events
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_refuse_change();

-- Fills, one row per (market, fill id): recording a fill twice changes nothing.
CREATE TABLE trade_history (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id),
    execution_id    UUID REFERENCES trade_executions (id),
    market          TEXT NOT NULL,
    fill_id         TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    client_order_id TEXT,
    side            TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    amount          NUMERIC NOT NULL CHECK (amount > 0),
    price           NUMERIC NOT NULL CHECK (price > 0),
    fee             NUMERIC NOT NULL,
    fee_currency    TEXT NOT NULL,
    filled_at       TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT trade_history_market_fill_key UNIQUE (market, fill_id)
);
CREATE INDEX trade_history_user_market_time_idx ON trade_history (user_id, market, filled_at);
CREATE INDEX trade_history_execution_idx ON trade_history (execution_id);

-- I9: a due job is leased by at most one scheduler instance (locked_by + locked_until).
CREATE TABLE scan_jobs (
    id               UUID PRIMARY KEY,
    user_id          UUID NOT NULL REFERENCES users (id),
    strategy         TEXT NOT NULL,
    markets          JSONB NOT NULL,
    params           JSONB NOT NULL,
    interval_seconds BIGINT NOT NULL CHECK (interval_seconds > 0),
    next_run_at      TIMESTAMPTZ NOT NULL,
    paused           BOOLEAN NOT NULL DEFAULT FALSE,
    locked_by        TEXT,
    locked_until     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    CONSTRAINT scan_jobs_lease_check CHECK ((locked_by IS NULL) = (locked_until IS NULL))
);
-- The claim walks only unclaimed, unpaused jobs, in due order (never the claimed ones).
CREATE INDEX scan_jobs_due_idx ON scan_jobs (next_run_at)
    WHERE locked_by IS NULL AND paused = FALSE;
-- Expired leases of crashed instances are found through this one.
CREATE INDEX scan_jobs_lease_idx ON scan_jobs (locked_until)
    WHERE locked_by IS NOT NULL;

-- I8: the worst-case cost is reserved before an LLM call and settled after.
CREATE TABLE llm_usage_log (
    id                UUID PRIMARY KEY,
    user_id           UUID NOT NULL REFERENCES users (id),
    model             TEXT NOT NULL,
    prompt_tokens     BIGINT NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens BIGINT NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    reserved_cost     NUMERIC NOT NULL CHECK (reserved_cost >= 0),
    actual_cost       NUMERIC CHECK (actual_cost >= 0),
    status            TEXT NOT NULL CHECK (status IN ('reserved', 'settled', 'failed')),
    at                TIMESTAMPTZ NOT NULL,
    settled_at        TIMESTAMPTZ
);
CREATE INDEX llm_usage_log_user_at_idx ON llm_usage_log (user_id, at);

-- I11: operator actions (kill switch, policy, allowlist, rollback) with who, when and why.
CREATE TABLE audit_log (
    id     UUID PRIMARY KEY,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before JSONB,
    after  JSONB,
    reason TEXT,
    at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_target_idx ON audit_log (target, at);

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION vigil_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_refuse_change();
