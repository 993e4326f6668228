-- Monitoring lists filter by task or by queue, newest first. In a state
-- of many jobs (succeeded, deleted), a task or queue with few jobs would
-- otherwise have every job of the state read to fill one page; with these
-- indexes the page reads that task's or queue's newest jobs only.

CREATE INDEX jobs_task ON {schema}.jobs (task, id);
CREATE INDEX jobs_queue ON {schema}.jobs (queue, id);

-- Continuations of a job or batch, awaiting or not (jobs_awaiting holds
-- the awaiting ones only): few jobs have a parent.
CREATE INDEX jobs_parent ON {schema}.jobs (parent_id) WHERE parent_id IS NOT NULL;
