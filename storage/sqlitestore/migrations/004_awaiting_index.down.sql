DROP INDEX jobs_awaiting;
