-- Undoes 014_kept_jobs.sql: kept Failed jobs move back to jobs, and the
-- logs and progress of jobs that are gone are deleted before their foreign
-- keys come back.

DROP VIEW {schema}.jobs_all;
INSERT INTO {schema}.jobs SELECT * FROM {schema}.jobs_kept;
DROP TABLE {schema}.jobs_kept;

DELETE FROM {schema}.job_logs l WHERE NOT EXISTS (SELECT 1 FROM {schema}.jobs j WHERE j.id = l.job_id);
DELETE FROM {schema}.job_progress p WHERE NOT EXISTS (SELECT 1 FROM {schema}.jobs j WHERE j.id = p.job_id);
ALTER TABLE {schema}.job_logs ADD CONSTRAINT job_logs_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES {schema}.jobs (id) ON DELETE CASCADE;
ALTER TABLE {schema}.job_progress ADD CONSTRAINT job_progress_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES {schema}.jobs (id) ON DELETE CASCADE;
