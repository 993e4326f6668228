-- Undoes 006_stats.sql: the outcome counts are lost.

DROP TABLE {schema}.stats;
