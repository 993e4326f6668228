-- The Awaiting jobs by ID, for their list (newest first): without it the
-- list walked every job by ID for the one in a thousand that awaits (on a
-- million jobs, about a second a page). Only continuations enter it.
CREATE INDEX jobs_awaiting ON jobs (id) WHERE state = 'awaiting';
