-- Tables and indexes that stay bounded under churn.
--
-- A job that ends Failed is kept until a person acts, while the jobs
-- around it are removed after their retention. Job ids and history keys
-- are time-ordered, so the few history rows of Failed jobs would keep
-- almost every page of job_history's primary key alive, and the index
-- would grow with every job ever run. The history of a job that becomes
-- Failed moves to job_history_kept instead (Transition does it in the
-- statement that fails the job), so job_history holds only rows that
-- retention removes, and its pages empty and are reused. Rows keep the id
-- they were given from job_history's sequence, so a job's history reads
-- in order across both tables.

CREATE TABLE {schema}.job_history_kept (
    job_id uuid NOT NULL,
    id     bigint NOT NULL,
    state  text NOT NULL,
    reason text NOT NULL DEFAULT '',
    data   json,
    at     timestamptz NOT NULL,
    PRIMARY KEY (job_id, id)
);

INSERT INTO {schema}.job_history_kept (job_id, id, state, reason, data, at)
SELECT h.job_id, h.id, h.state, h.reason, h.data, h.at
FROM {schema}.job_history h JOIN {schema}.jobs j ON j.id = h.job_id WHERE j.state = 'failed';
DELETE FROM {schema}.job_history h USING {schema}.jobs j WHERE j.id = h.job_id AND j.state = 'failed';

-- Autovacuum sized for queue tables, which PostgreSQL's defaults (vacuum
-- once a fifth of a table is dead) leave to bloat: a job row is updated
-- several times in its life and deleted after its retention, so at a few
-- hundred jobs a second a table of millions of rows would gather hundreds
-- of thousands of dead rows, and its indexes as many dead entries, between
-- two vacuums. These settings vacuum after about 1% of a table (at least
-- 1,000 rows) has changed, with no cost delay, so that vacuum keeps pace
-- with the churn; inserts alone trigger it too (it sets the visibility map
-- that index-only scans need). The small tables that are rewritten every
-- second (heartbeats, locks, per-minute statistics) are vacuumed after a
-- fixed number of changes. They only take effect where autovacuum runs:
-- pgstore warns at start-up when the server has it off.

ALTER TABLE {schema}.jobs SET (
    autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_insert_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0);
ALTER TABLE {schema}.job_history SET (
    autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_insert_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0);
ALTER TABLE {schema}.job_logs SET (
    autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0);
ALTER TABLE {schema}.job_progress SET (
    autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0);
ALTER TABLE {schema}.stats SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 200);
ALTER TABLE {schema}.servers SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 100);
ALTER TABLE {schema}.locks SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 100);
ALTER TABLE {schema}.queues SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 100);
ALTER TABLE {schema}.job_history_kept SET (
    autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_insert_threshold = 1000);
