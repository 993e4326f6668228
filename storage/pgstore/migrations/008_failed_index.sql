-- Failed jobs are few among many finished ones; this index lets the
-- monitoring queries list and count them without reading the others.

CREATE INDEX jobs_failed ON {schema}.jobs (id) WHERE state = 'failed';
