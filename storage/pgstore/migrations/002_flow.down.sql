-- Undoes 002_flow.sql. Continuations, batches, unique keys, recurring
-- definitions, locks and the server registry are lost.

DROP TABLE {schema}.servers;
DROP TABLE {schema}.locks;
DROP TABLE {schema}.recurring_jobs;

-- Dropping the columns drops their indexes.
ALTER TABLE {schema}.jobs
    DROP COLUMN awaited,
    DROP COLUMN unique_held,
    DROP COLUMN unique_until,
    DROP COLUMN unique_key,
    DROP COLUMN batch_id,
    DROP COLUMN parent_id;
