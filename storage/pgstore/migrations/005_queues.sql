-- Paused queues: every worker's fetch skips them; their jobs stay.

CREATE TABLE {schema}.queues (
    name      text PRIMARY KEY,
    paused    boolean NOT NULL DEFAULT false,
    paused_at timestamptz
);
