-- The current state lives on the job row only; job_history keeps the states
-- a job has left, appended as it leaves them. Creating a job then writes one
-- row, and each change one history row.

ALTER TABLE {schema}.jobs ADD COLUMN state_reason text; -- NULL for none

-- The last history entry of each job is its current state: move its reason
-- to the job row (rows without one are left as they are) and drop it. This
-- reads the whole history once, in the migration's transaction.
WITH last AS (
    SELECT DISTINCT ON (job_id) job_id, id, reason FROM {schema}.job_history ORDER BY job_id, id DESC
), moved AS (
    DELETE FROM {schema}.job_history h USING last WHERE h.job_id = last.job_id AND h.id = last.id
    RETURNING last.job_id, last.reason
)
UPDATE {schema}.jobs j SET state_reason = moved.reason FROM moved WHERE j.id = moved.job_id AND moved.reason <> '';
