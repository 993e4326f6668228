DROP TABLE {schema}.limit_rates;
DROP TABLE {schema}.limits;
DROP INDEX {schema}.jobs_partition_fetch;
ALTER TABLE {schema}.jobs DROP COLUMN partition_key;
