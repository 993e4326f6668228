-- Flow control (storage.FlowControl): each job's partition key, the
-- declared limits and the GCRA time of each rate limit. Concurrency is
-- counted from the leased rows themselves, so a job leaving Processing by
-- any path gives its slot back in the same transaction.

ALTER TABLE jobs ADD COLUMN partition_key TEXT;

-- A fetch looks for Enqueued jobs with a partition key in its queue, which
-- it serves round robin, without reading the others.
CREATE INDEX jobs_partitioned ON jobs (queue) WHERE state = 'enqueued' AND partition_key IS NOT NULL;

-- A limited fetch counts the Processing jobs of every scope: few rows,
-- read without the others.
CREATE INDEX jobs_running ON jobs (task, partition_key, queue) WHERE state = 'processing';

CREATE TABLE limits (
    scope       TEXT NOT NULL,
    name        TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    rate        INTEGER NOT NULL,
    period_us   INTEGER NOT NULL,
    burst       INTEGER NOT NULL,
    PRIMARY KEY (scope, name)
);

CREATE TABLE limit_rates (
    scope         TEXT NOT NULL,
    name          TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    tat           INTEGER NOT NULL,         -- GCRA's theoretical arrival time, Unix microseconds
    PRIMARY KEY (scope, name, partition_key)
);
