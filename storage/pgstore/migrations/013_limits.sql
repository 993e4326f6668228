-- Flow control (storage.FlowControl): each job's partition key, the
-- declared limits and the GCRA time of each rate limit. Concurrency is
-- counted from the leased rows themselves, so a job leaving Processing by
-- any path gives its slot back in the same statement.

ALTER TABLE {schema}.jobs ADD COLUMN partition_key text;

-- Limited fetches find a queue's partitions by a loose index scan and take
-- the first jobs of each: only jobs with a partition key are indexed. The
-- order is on -priority, an expression that jobs_fetch does not have, so
-- that the planner never takes jobs_fetch for a partition's first jobs (a
-- filter over every job of the queue), whatever its statistics.
CREATE INDEX jobs_partition_fetch ON {schema}.jobs (queue, task, partition_key, (-(priority::bigint)), enqueued_seq)
    WHERE state = 'enqueued' AND partition_key IS NOT NULL;

CREATE TABLE {schema}.limits (
    scope       text NOT NULL,
    name        text NOT NULL,
    concurrency integer NOT NULL,
    rate        integer NOT NULL,
    period_us   bigint NOT NULL,
    burst       integer NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, name)
);

CREATE TABLE {schema}.limit_rates (
    scope         text NOT NULL,
    name          text NOT NULL,
    partition_key text NOT NULL,
    tat           timestamptz NOT NULL,  -- GCRA's theoretical arrival time
    PRIMARY KEY (scope, name, partition_key)
);
