-- Jobs and their history. {schema} is replaced by the quoted schema name.

-- enqueue_seq orders jobs within a priority by the time they became Enqueued.
CREATE SEQUENCE {schema}.enqueue_seq;
-- lease_token_seq hands out fencing tokens; every lease takes a new, larger one.
CREATE SEQUENCE {schema}.lease_token_seq;

CREATE TABLE {schema}.jobs (
    id           uuid PRIMARY KEY,
    task         text NOT NULL,
    args         bytea NOT NULL,          -- encoded by taskflow, never decoded here
    queue        text NOT NULL,
    priority     integer NOT NULL DEFAULT 0,
    state        text NOT NULL,
    state_data   json,                    -- kept verbatim (json, not jsonb)
    run_at       timestamptz,
    attempt      integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    expire_at    timestamptz,
    params       jsonb,
    lease_owner  text,
    lease_token  bigint,
    lease_until  timestamptz,
    enqueued_seq bigint                   -- set each time the job becomes Enqueued
);

-- Fetch: the next Enqueued job of a queue, higher priority first, then FIFO.
CREATE INDEX jobs_fetch ON {schema}.jobs (queue, priority DESC, enqueued_seq) WHERE state = 'enqueued';
-- PromoteDue: Scheduled jobs by due time.
CREATE INDEX jobs_scheduled ON {schema}.jobs (run_at) WHERE state = 'scheduled';
-- ReclaimExpired: leases by expiry. Keyed on the lease, not on the state (see docs).
CREATE INDEX jobs_lease ON {schema}.jobs (lease_until) WHERE lease_until IS NOT NULL;
-- DeleteExpired: final jobs by expiry.
CREATE INDEX jobs_expire ON {schema}.jobs (expire_at) WHERE expire_at IS NOT NULL;

-- Append-only history: one row per state a job has been in, in id order.
CREATE TABLE {schema}.job_history (
    job_id uuid NOT NULL,
    id     bigint GENERATED ALWAYS AS IDENTITY,
    state  text NOT NULL,
    reason text NOT NULL DEFAULT '',
    data   json,
    at     timestamptz NOT NULL,
    PRIMARY KEY (job_id, id)
);
