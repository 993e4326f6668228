-- Undoes 009_list_filters.sql.

DROP INDEX {schema}.jobs_parent;
DROP INDEX {schema}.jobs_finished_queue;
DROP INDEX {schema}.jobs_finished_task;
