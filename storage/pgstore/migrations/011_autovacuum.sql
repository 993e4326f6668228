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
