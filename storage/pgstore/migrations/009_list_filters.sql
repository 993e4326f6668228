-- Continuations of a job or batch, awaiting or not (jobs_awaiting holds
-- the awaiting ones only), for a job's page: few jobs have a parent, so
-- only they write it.
--
-- No index serves a list of finished jobs filtered by task or queue: one
-- would cost every finishing job two index entries (a burn-down 0.86–0.92×
-- as fast), so such a list scans the table (List orders it so). Where such
-- lists are frequent on a large table, an operator may add jobs (task, id)
-- and jobs (queue, id), partial on the finished states.

CREATE INDEX jobs_parent ON {schema}.jobs (parent_id) WHERE parent_id IS NOT NULL;
