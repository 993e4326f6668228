-- Continuations, batches, unique keys, recurring definitions, locks and the
-- server registry.

ALTER TABLE {schema}.jobs
    ADD COLUMN parent_id    uuid,        -- what an Awaiting job waits for: a job or a batch
    ADD COLUMN batch_id     uuid,
    ADD COLUMN unique_key   text,
    ADD COLUMN unique_until timestamptz,
    -- Whether the job holds its unique key. Cleared when it finishes without
    -- unique_until, or by Create once the job has finished and unique_until passed.
    ADD COLUMN unique_held  boolean NOT NULL DEFAULT false,
    -- Set on a job once a continuation awaits it. Transition reads it from the
    -- row it updates, so a continuation created concurrently is never missed.
    ADD COLUMN awaited      boolean NOT NULL DEFAULT false;

-- No two jobs hold one key: Create inserts with ON CONFLICT DO NOTHING.
CREATE UNIQUE INDEX jobs_unique_key ON {schema}.jobs (unique_key) WHERE unique_held;
-- Continuations to resolve when their parent finishes.
CREATE INDEX jobs_awaiting ON {schema}.jobs (parent_id) WHERE state = 'awaiting';
-- The jobs of a batch.
CREATE INDEX jobs_batch ON {schema}.jobs (batch_id) WHERE batch_id IS NOT NULL;

CREATE TABLE {schema}.recurring_jobs (
    id          text PRIMARY KEY,
    task        text NOT NULL,
    args        bytea NOT NULL,
    spec        text NOT NULL,
    time_zone   text NOT NULL,
    queue       text NOT NULL,
    priority    integer NOT NULL,
    misfire     text NOT NULL,
    paused      boolean NOT NULL,
    next_run    timestamptz,
    last_run    timestamptz,
    last_job_id uuid,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX recurring_jobs_due ON {schema}.recurring_jobs (next_run) WHERE NOT paused;

CREATE TABLE {schema}.locks (
    key   text PRIMARY KEY,
    owner text NOT NULL,
    until timestamptz NOT NULL
);

CREATE TABLE {schema}.servers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    queues       text[] NOT NULL,
    concurrency  integer NOT NULL,
    started_at   timestamptz,
    heartbeat_at timestamptz NOT NULL
);
