-- Undoes 007_partition_fetch.sql.
DROP INDEX jobs_partition_fetch;
CREATE INDEX jobs_partitioned ON jobs (queue) WHERE state = 'enqueued' AND partition_key IS NOT NULL;
