-- Who turned a user's kill switch on, and with what authority (#18 case 4): a switch an admin
-- set is cleared only by an admin; a user may turn their own switch on, and off only if they
-- turned it on. A switch already on before this migration has no known setter, so it is
-- treated as an admin's (fail closed: only an admin clears it).
ALTER TABLE users ADD COLUMN kill_switch_set_by TEXT;
ALTER TABLE users ADD COLUMN kill_switch_set_at TEXT;
ALTER TABLE users ADD COLUMN kill_switch_by_admin INTEGER NOT NULL DEFAULT 0
    CHECK (kill_switch_by_admin IN (0, 1));

UPDATE users
SET kill_switch_by_admin = 1, kill_switch_set_by = 'unknown (set before setters were recorded)'
WHERE kill_switch = 1;
