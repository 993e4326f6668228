-- Failed jobs in a table of their own.
--
-- A job that ends Failed is kept until a person acts, while the jobs
-- around it are removed after their retention. Job ids are time-ordered,
-- so a few Failed rows left in jobs would keep almost every page of
-- jobs_pkey alive, and the index would grow with every job ever run (as
-- job_history's did before 012). The pruner (DeleteExpired) moves the rows
-- of Failed jobs that hold no unique key to jobs_kept, and the statements
-- that change a job (Transition without a lease, and the mark of a
-- continuation's parent) move it back to jobs first, so jobs_kept holds
-- Failed jobs only, and nothing but a move writes it. jobs_all reads both.
--
-- jobs_kept has the columns of jobs in their order, so that rows move as
-- SELECT *: a migration that adds a column to jobs adds it to jobs_kept
-- and recreates jobs_all.

CREATE TABLE {schema}.jobs_kept (
    LIKE {schema}.jobs INCLUDING DEFAULTS,
    PRIMARY KEY (id),
    CHECK (state = 'failed')
);
-- The jobs of a batch and the continuations of a parent, as in jobs.
CREATE INDEX jobs_kept_batch ON {schema}.jobs_kept (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX jobs_kept_parent ON {schema}.jobs_kept (parent_id) WHERE parent_id IS NOT NULL;
ALTER TABLE {schema}.jobs_kept SET (
    autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.05, autovacuum_vacuum_insert_threshold = 1000);

CREATE VIEW {schema}.jobs_all AS
    SELECT * FROM {schema}.jobs UNION ALL SELECT * FROM {schema}.jobs_kept;

-- A job's logs and progress stay while its row moves: their foreign keys
-- (whose cascade would delete them with the row that moves) give way to
-- the pruner, which deletes them with the jobs it removes.
ALTER TABLE {schema}.job_logs DROP CONSTRAINT job_logs_job_id_fkey;
ALTER TABLE {schema}.job_progress DROP CONSTRAINT job_progress_job_id_fkey;

WITH moved AS (
    DELETE FROM {schema}.jobs WHERE state = 'failed' AND expire_at IS NULL AND NOT unique_held RETURNING *
)
INSERT INTO {schema}.jobs_kept SELECT * FROM moved;
