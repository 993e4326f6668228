-- Undoes 005_job_history.sql: each job's history goes back into its row.

DROP INDEX jobs_processing;
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE lease_until IS NOT NULL;
CREATE INDEX jobs_running ON jobs (task, partition_key, queue) WHERE state = 'processing';

DROP TRIGGER jobs_history;

ALTER TABLE jobs ADD COLUMN history TEXT;

UPDATE jobs SET history = (
    SELECT group_concat('{"s":' || json_quote(h.state) || ',"r":' || json_quote(h.reason) || ',"t":' || h.at ||
        CASE WHEN h.owner IS NOT NULL THEN ',"o":' || json_quote(h.owner) ELSE ',"d":' || coalesce(h.data, 'null') END || '}',
        ',' ORDER BY h.n)
    FROM job_history h WHERE h.job_id = jobs.id);

DROP TABLE job_history;
