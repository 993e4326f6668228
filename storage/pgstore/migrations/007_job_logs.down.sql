-- Undoes 007_job_logs.sql: what tasks logged, and their progress, is lost.

DROP TABLE {schema}.job_progress;
DROP TABLE {schema}.job_logs;
