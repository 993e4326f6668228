-- A recurring definition carries the settings of the jobs it spawns: their
-- parameters (a per-job timeout among them) and their unique key, held for
-- unique_for microseconds after a job is created (0: while it runs).

ALTER TABLE {schema}.recurring_jobs
    ADD COLUMN params     jsonb,
    ADD COLUMN unique_key text NOT NULL DEFAULT '',
    ADD COLUMN unique_for bigint NOT NULL DEFAULT 0;
