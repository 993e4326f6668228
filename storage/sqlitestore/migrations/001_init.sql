-- Jobs, their history, and every table of the optional capabilities.
-- Times are microseconds since the Unix epoch (UTC); ids are 16-byte blobs.

CREATE TABLE jobs (
    id           BLOB PRIMARY KEY,
    task         TEXT NOT NULL,
    args         BLOB NOT NULL,             -- encoded by taskflow, never decoded here
    queue        TEXT NOT NULL,
    priority     INTEGER NOT NULL DEFAULT 0,
    state        TEXT NOT NULL,
    state_data   TEXT,                      -- kept verbatim
    state_reason TEXT NOT NULL DEFAULT '',
    run_at       INTEGER,
    attempt      INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    expire_at    INTEGER,
    params       TEXT,                      -- JSON object
    lease_owner  TEXT,
    lease_token  INTEGER,
    lease_until  INTEGER,
    seq          INTEGER,                   -- set each time the job becomes Enqueued: FIFO order
    parent_id    BLOB,                      -- what an Awaiting job waits for: a job or a batch
    batch_id     BLOB,
    unique_key   TEXT,
    unique_until INTEGER,
    unique_held  INTEGER NOT NULL DEFAULT 0, -- the job holds its unique key
    awaited      INTEGER NOT NULL DEFAULT 0, -- a continuation awaits the job
    -- The states the job has left, oldest first: JSON objects separated by
    -- commas (the array without its brackets), so that leaving a state is
    -- one append to the row, and a job is one row.
    history      TEXT
);
-- A rowid table, with the primary key an index beside it: a job's row grows
-- as it changes state, and a rowid table rewrites only the leaf that holds
-- it (fetch and complete cost 33–35 µs of CPU a job against 36–44 µs as a
-- WITHOUT ROWID table, in BenchmarkFetchComplete).

-- Fetch: the next Enqueued job of a queue, higher priority first, then FIFO.
CREATE INDEX jobs_fetch ON jobs (queue, priority DESC, seq) WHERE state = 'enqueued';
-- PromoteDue: Scheduled jobs by due time.
CREATE INDEX jobs_scheduled ON jobs (run_at) WHERE state = 'scheduled';
-- ReclaimExpired and the worker registry: leases by expiry.
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE lease_until IS NOT NULL;
-- DeleteExpired: final jobs by expiry.
CREATE INDEX jobs_expire ON jobs (expire_at) WHERE expire_at IS NOT NULL;
-- No two jobs hold one unique key.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_held;
-- Continuations of a job or batch.
CREATE INDEX jobs_parent ON jobs (parent_id, state) WHERE parent_id IS NOT NULL;
-- The jobs of a batch, by state: whether a batch has finished is a few probes.
CREATE INDEX jobs_batch ON jobs (batch_id, state) WHERE batch_id IS NOT NULL;
-- Failed jobs are few among many finished ones: list and count them apart.
CREATE INDEX jobs_failed ON jobs (id) WHERE state = 'failed';

-- One row: the enqueue sequence and the last fencing token handed out.
CREATE TABLE counters (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    token INTEGER NOT NULL
);
INSERT INTO counters (id, seq, token) VALUES (1, 0, 0);

-- One row: a counter per topic, bumped by each transaction that changes
-- one, which other processes poll to wake their workers.
CREATE TABLE topics (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    enqueued  INTEGER NOT NULL,
    scheduled INTEGER NOT NULL,
    recurring INTEGER NOT NULL,
    finished  INTEGER NOT NULL
);
INSERT INTO topics (id, enqueued, scheduled, recurring, finished) VALUES (1, 0, 0, 0, 0);

CREATE TABLE recurring_jobs (
    id          TEXT PRIMARY KEY,
    task        TEXT NOT NULL,
    args        BLOB NOT NULL,
    spec        TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    queue       TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    misfire     TEXT NOT NULL,
    paused      INTEGER NOT NULL,
    next_run    INTEGER,
    last_run    INTEGER,
    last_job_id BLOB,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    params      TEXT,
    unique_key  TEXT NOT NULL,
    unique_for  INTEGER NOT NULL
);

CREATE TABLE locks (
    key   TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until INTEGER NOT NULL
);

CREATE TABLE servers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT NOT NULL,             -- JSON array
    concurrency  INTEGER NOT NULL,
    started_at   INTEGER,
    heartbeat_at INTEGER NOT NULL
);

-- Paused queues: every worker's fetch skips them; their jobs stay.
CREATE TABLE queues (
    name      TEXT PRIMARY KEY,
    paused_at INTEGER NOT NULL
);

-- Outcome counts per minute, kept apart from the jobs.
CREATE TABLE stats (
    minute    INTEGER PRIMARY KEY,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    deleted   INTEGER NOT NULL DEFAULT 0
);

-- What tasks log, per attempt, and their latest progress; both go with
-- their job.
CREATE TABLE job_logs (
    job_id  BLOB NOT NULL,
    seq     INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL,
    attrs   TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE job_progress (
    job_id  BLOB PRIMARY KEY,
    attempt INTEGER NOT NULL,
    percent INTEGER NOT NULL,
    message TEXT NOT NULL,
    at      INTEGER NOT NULL
) WITHOUT ROWID;
