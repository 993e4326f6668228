-- Undoes 009_list_filters.sql.

DROP INDEX {schema}.jobs_parent;
