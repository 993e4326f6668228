-- Undoes 001_init.sql: every table, and everything in them, is lost.

DROP TABLE job_progress;
DROP TABLE job_logs;
DROP TABLE stats;
DROP TABLE queues;
DROP TABLE servers;
DROP TABLE locks;
DROP TABLE recurring_jobs;
DROP TABLE topics;
DROP TABLE counters;
DROP TABLE jobs;
