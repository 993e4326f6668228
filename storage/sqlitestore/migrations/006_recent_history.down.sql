-- Undoes 006_recent_history.sql: the states kept in a job's row go to
-- job_history, after its rows there.

INSERT INTO job_history (job_id, n, state, reason, at, data, owner)
SELECT id, (SELECT coalesce(max(n), 0) + 1 FROM job_history WHERE job_id = jobs.id),
    prev1_state, prev1_reason, prev1_at, prev1_data, prev1_owner
FROM jobs WHERE prev1_state IS NOT NULL;

INSERT INTO job_history (job_id, n, state, reason, at, data, owner)
SELECT id, (SELECT coalesce(max(n), 0) + 1 FROM job_history WHERE job_id = jobs.id),
    prev2_state, prev2_reason, prev2_at, prev2_data, prev2_owner
FROM jobs WHERE prev2_state IS NOT NULL;

DROP TRIGGER jobs_history;
CREATE TRIGGER jobs_history AFTER UPDATE OF state ON jobs BEGIN
    INSERT INTO job_history (job_id, n, state, reason, at, data, owner)
    VALUES (old.id, (SELECT coalesce(max(n), 0) + 1 FROM job_history WHERE job_id = old.id),
        old.state, old.state_reason, old.updated_at, old.state_data,
        CASE WHEN old.state_data IS NULL THEN old.lease_owner END);
END;

ALTER TABLE jobs DROP COLUMN prev1_state;
ALTER TABLE jobs DROP COLUMN prev1_reason;
ALTER TABLE jobs DROP COLUMN prev1_at;
ALTER TABLE jobs DROP COLUMN prev1_data;
ALTER TABLE jobs DROP COLUMN prev1_owner;
ALTER TABLE jobs DROP COLUMN prev2_state;
ALTER TABLE jobs DROP COLUMN prev2_reason;
ALTER TABLE jobs DROP COLUMN prev2_at;
ALTER TABLE jobs DROP COLUMN prev2_data;
ALTER TABLE jobs DROP COLUMN prev2_owner;
