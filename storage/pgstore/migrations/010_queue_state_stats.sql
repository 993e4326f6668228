-- Statistics of queue and state together, so that the planner's estimate
-- of a queue's jobs in one state (EstimateCount of a queue: succeeded and
-- deleted jobs on a large table) follows how they are correlated, not the
-- product of each column's frequencies. ANALYZE (autovacuum) keeps them.

CREATE STATISTICS {schema}.jobs_queue_state (mcv) ON queue, state FROM {schema}.jobs;
