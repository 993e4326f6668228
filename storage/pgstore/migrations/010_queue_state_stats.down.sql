-- Undoes 010_queue_state_stats.sql.

DROP STATISTICS {schema}.jobs_queue_state;
