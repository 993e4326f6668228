-- Undoes 002_worker_tasks.sql.
ALTER TABLE servers DROP COLUMN tasks;
