-- Monitoring lists filter by task or by queue, newest first. Among the
-- many finished jobs (succeeded, failed, deleted), a task or queue with
-- few jobs would otherwise have every job of the state read to fill one
-- page; with these indexes the page reads that task's or queue's newest
-- jobs only. They hold finished jobs only, so enqueueing does not write
-- them; a job enters them once, when it finishes.

CREATE INDEX jobs_finished_task ON {schema}.jobs (task, id) WHERE state IN ('succeeded', 'failed', 'deleted');
CREATE INDEX jobs_finished_queue ON {schema}.jobs (queue, id) WHERE state IN ('succeeded', 'failed', 'deleted');

-- Continuations of a job or batch, awaiting or not (jobs_awaiting holds
-- the awaiting ones only): few jobs have a parent.
CREATE INDEX jobs_parent ON {schema}.jobs (parent_id) WHERE parent_id IS NOT NULL;
