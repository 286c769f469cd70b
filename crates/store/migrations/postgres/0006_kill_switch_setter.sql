-- Who turned a user's kill switch on, and with what authority (#18 case 4): a switch an admin
-- set is cleared only by an admin; a user may turn their own switch on, and off only if they
-- turned it on. A switch already on before this migration has no known setter, so it is
-- treated as an admin's (fail closed: only an admin clears it).
ALTER TABLE users ADD COLUMN kill_switch_set_by TEXT;
ALTER TABLE users ADD COLUMN kill_switch_set_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN kill_switch_by_admin BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE users
SET kill_switch_by_admin = TRUE, kill_switch_set_by = 'unknown (set before setters were recorded)'
WHERE kill_switch;
