-- Outcome counts per minute, kept apart from the jobs so that they survive
-- the jobs' retention. Each connection adds to its own shard of a minute
-- (its backend pid modulo 8), so that concurrent completions never wait on
-- one row; a query sums the shards.

CREATE TABLE {schema}.stats (
    minute    timestamptz NOT NULL,
    shard     smallint NOT NULL,
    succeeded bigint NOT NULL DEFAULT 0,
    failed    bigint NOT NULL DEFAULT 0,
    deleted   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, shard)
);
