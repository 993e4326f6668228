-- A job's history in a table of its own: changing a job's state appends a
-- row there (trigger jobs_history) instead of growing the job's row, so
-- that fetches and completions rewrite small rows. And one index of
-- Processing jobs where there were two, so that a fetch and a completion
-- each change one entry fewer.

CREATE TABLE job_history (
    job_id BLOB NOT NULL,
    n      INTEGER NOT NULL,                -- 1, 2, ...: the order of the job's entries
    state  TEXT NOT NULL,                   -- the state the job left
    reason TEXT NOT NULL,
    at     INTEGER NOT NULL,                -- when the job entered it
    data   TEXT,                            -- the state's JSON, verbatim
    owner  TEXT,                            -- for a Processing state Fetch made, stored without data: its owner
    PRIMARY KEY (job_id, n)
) WITHOUT ROWID;

INSERT INTO job_history (job_id, n, state, reason, at, data, owner)
SELECT j.id, e.key + 1, e.value ->> 's', e.value ->> 'r', e.value ->> 't',
    CASE WHEN e.value ->> 'o' IS NULL AND e.value ->> 'd' IS NOT NULL THEN e.value -> 'd' END, e.value ->> 'o'
FROM jobs j, json_each('[' || j.history || ']') e
WHERE j.history IS NOT NULL AND j.history <> '';

ALTER TABLE jobs DROP COLUMN history;

-- Every statement that changes a job's state sets column state, and every
-- other leaves it out: the entry of the state left is written here, in the
-- statement's own pass over the row.
CREATE TRIGGER jobs_history AFTER UPDATE OF state ON jobs BEGIN
    INSERT INTO job_history (job_id, n, state, reason, at, data, owner)
    VALUES (old.id, (SELECT coalesce(max(n), 0) + 1 FROM job_history WHERE job_id = old.id),
        old.state, old.state_reason, old.updated_at, old.state_data,
        CASE WHEN old.state_data IS NULL THEN old.lease_owner END);
END;

-- Processing jobs: by lease expiry for ReclaimExpired (the jobs Fetch
-- leased; NULL first for the others), and a covering index for the counts
-- of a limited fetch.
DROP INDEX jobs_lease;
DROP INDEX jobs_running;
CREATE INDEX jobs_processing ON jobs (lease_until, task, partition_key, queue) WHERE state = 'processing';
