-- Undoes 003_limits.sql: the limits and the jobs' partition keys are lost.
DROP TABLE limit_rates;
DROP TABLE limits;
DROP INDEX jobs_running;
DROP INDEX jobs_partitioned;
ALTER TABLE jobs DROP COLUMN partition_key;
