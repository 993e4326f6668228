-- Undoes 011_worker_tasks.sql.

ALTER TABLE {schema}.servers DROP COLUMN tasks;
