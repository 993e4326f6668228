-- A fair fetch (a queue with jobs that have a partition key, or any fetch
-- once a limit is stored) finds each partition of a queue at a priority
-- with one seek in this index, and skips a partition that a full limit
-- holds back without reading its jobs: where it read the queue's jobs in
-- enqueue order, so that one partition's held-back backlog slowed every
-- fetch by the time it took to read it. It replaces jobs_partitioned,
-- which held the same jobs by queue alone; jobs without a partition key
-- are in neither.
DROP INDEX jobs_partitioned;
CREATE INDEX jobs_partition_fetch ON jobs (queue, priority DESC, task, partition_key, seq)
    WHERE state = 'enqueued' AND partition_key IS NOT NULL;
