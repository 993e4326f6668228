-- The two states a job left last, kept in its row: a job that is created,
-- fetched and finished writes no row of job_history, where a state it
-- leaves goes only once two newer ones have taken both places. A job's
-- history is its job_history rows, oldest first, then prev1, then prev2.
--
-- Every statement that changes a job's state shifts them (prev1 := prev2,
-- prev2 := the state it leaves, as trigger jobs_history recorded it), and
-- the trigger writes the state prev1 held to job_history.
ALTER TABLE jobs ADD COLUMN prev1_state TEXT;
ALTER TABLE jobs ADD COLUMN prev1_reason TEXT;
ALTER TABLE jobs ADD COLUMN prev1_at INTEGER;
ALTER TABLE jobs ADD COLUMN prev1_data TEXT;
ALTER TABLE jobs ADD COLUMN prev1_owner TEXT;
ALTER TABLE jobs ADD COLUMN prev2_state TEXT;
ALTER TABLE jobs ADD COLUMN prev2_reason TEXT;
ALTER TABLE jobs ADD COLUMN prev2_at INTEGER;
ALTER TABLE jobs ADD COLUMN prev2_data TEXT;
ALTER TABLE jobs ADD COLUMN prev2_owner TEXT;

DROP TRIGGER jobs_history;
CREATE TRIGGER jobs_history AFTER UPDATE OF state ON jobs WHEN old.prev1_state IS NOT NULL BEGIN
    INSERT INTO job_history (job_id, n, state, reason, at, data, owner)
    VALUES (old.id, (SELECT coalesce(max(n), 0) + 1 FROM job_history WHERE job_id = old.id),
        old.prev1_state, old.prev1_reason, old.prev1_at, old.prev1_data, old.prev1_owner);
END;
