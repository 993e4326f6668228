INSERT INTO {schema}.job_history (job_id, id, state, reason, data, at) OVERRIDING SYSTEM VALUE
SELECT job_id, id, state, reason, data, at FROM {schema}.job_history_kept;
DROP TABLE {schema}.job_history_kept;

ALTER TABLE {schema}.jobs RESET (
    autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
    autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold,
    autovacuum_analyze_scale_factor, autovacuum_analyze_threshold, autovacuum_vacuum_cost_delay);
ALTER TABLE {schema}.job_history RESET (
    autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
    autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold, autovacuum_vacuum_cost_delay);
ALTER TABLE {schema}.job_logs RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay);
ALTER TABLE {schema}.job_progress RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay);
ALTER TABLE {schema}.stats RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
ALTER TABLE {schema}.servers RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
ALTER TABLE {schema}.locks RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
ALTER TABLE {schema}.queues RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold);
