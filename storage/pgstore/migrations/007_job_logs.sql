-- What tasks log, per attempt, and their latest progress; both go with
-- their job.

CREATE TABLE {schema}.job_logs (
    job_id  uuid NOT NULL REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    seq     bigint GENERATED ALWAYS AS IDENTITY,
    attempt integer NOT NULL,
    at      timestamptz NOT NULL,
    level   text NOT NULL,
    message text NOT NULL,
    attrs   jsonb,
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE {schema}.job_progress (
    job_id  uuid PRIMARY KEY REFERENCES {schema}.jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    percent integer NOT NULL,
    message text NOT NULL,
    at      timestamptz NOT NULL
);
