-- Undoes 005_queues.sql: paused queues are resumed.

DROP TABLE {schema}.queues;
