-- Undoes 004_recurring_job_settings.sql: recurring definitions lose the
-- parameters and unique keys of the jobs they spawn.

ALTER TABLE {schema}.recurring_jobs
    DROP COLUMN unique_for,
    DROP COLUMN unique_key,
    DROP COLUMN params;
