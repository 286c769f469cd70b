-- Whether this database holds a paper deployment (the built-in simulator) or a live one (the
-- real exchange), recorded once, by the first `vigil init` or `vigil run`. A run of the other
-- kind refuses the database, so a paper user's jobs can never trade real money (#18 case 11).
CREATE TABLE deployment (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    mode        TEXT NOT NULL CHECK (mode IN ('paper', 'live')),
    recorded_at TEXT NOT NULL
) STRICT;

-- A database the paper run set up before the mode was recorded is a paper database.
INSERT INTO deployment (id, mode, recorded_at)
SELECT 1, 'paper', MIN(at) FROM audit_log WHERE reason = 'paper trading set-up'
HAVING COUNT(*) > 0;

CREATE TRIGGER deployment_no_update BEFORE UPDATE ON deployment
BEGIN
    SELECT RAISE(ABORT, 'the deployment mode is recorded once and never changed');
END;
CREATE TRIGGER deployment_no_delete BEFORE DELETE ON deployment
BEGIN
    SELECT RAISE(ABORT, 'the deployment mode is recorded once and never changed');
END;
