-- Undoes 001_init.sql: jobs, their history and the sequences.

DROP TABLE {schema}.job_history;
DROP TABLE {schema}.jobs;
DROP SEQUENCE {schema}.lease_token_seq;
DROP SEQUENCE {schema}.enqueue_seq;
