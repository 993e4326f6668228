-- Undoes 008_failed_index.sql.

DROP INDEX {schema}.jobs_failed;
