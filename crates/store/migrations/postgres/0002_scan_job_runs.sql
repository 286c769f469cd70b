-- I9: one row per scan-job run that reached its final transaction. The row is written in the
-- same transaction as the run's proposals and the lease release, and only while the worker
-- still holds the lease, so a worker that lost its lease leaves no trace and no proposals.
-- UNIQUE (job_id, due_at): a due run is recorded at most once, whatever the workers do.
-- No foreign key to scan_jobs: the history of what ran outlives a removed job.
CREATE TABLE scan_job_runs (
    id          UUID PRIMARY KEY,
    job_id      UUID NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id),
    worker      TEXT NOT NULL,
    due_at      TIMESTAMPTZ NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('proposed', 'no_signal', 'failed', 'skipped')),
    proposals   BIGINT NOT NULL DEFAULT 0 CHECK (proposals >= 0),
    detail      TEXT,
    CONSTRAINT scan_job_runs_job_due_key UNIQUE (job_id, due_at),
    CONSTRAINT scan_job_runs_time_check CHECK (finished_at >= started_at)
);
CREATE INDEX scan_job_runs_job_idx ON scan_job_runs (job_id, started_at);
