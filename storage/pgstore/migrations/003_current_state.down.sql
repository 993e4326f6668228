-- Undoes 003_current_state.sql: the current state of each job becomes the
-- last row of its history again (at its updated_at), with its reason.

INSERT INTO {schema}.job_history (job_id, state, reason, data, at)
SELECT id, state, coalesce(state_reason, ''), state_data, updated_at FROM {schema}.jobs ORDER BY id;

ALTER TABLE {schema}.jobs DROP COLUMN state_reason;
