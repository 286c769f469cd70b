-- Whether this database holds a paper deployment (the built-in simulator) or a live one (the
-- real exchange), recorded once, by the first `vigil init` or `vigil run`. A run of the other
-- kind refuses the database, so a paper user's jobs can never trade real money (#18 case 11).
CREATE TABLE deployment (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    mode        TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
    recorded_at TIMESTAMPTZ NOT NULL
);

-- A database the paper run set up before the mode was recorded is a paper database.
INSERT INTO deployment (id, mode, recorded_at)
SELECT 1, 'paper', MIN(at) FROM audit_log WHERE reason = 'paper trading set-up'
HAVING COUNT(*) > 0;

CREATE TRIGGER deployment_append_only
    BEFORE UPDATE OR DELETE ON deployment
    FOR EACH ROW EXECUTE FUNCTION vigil_refuse_change();
CREATE TRIGGER deployment_no_truncate
    BEFORE TRUNCATE ON deployment
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_refuse_change();
