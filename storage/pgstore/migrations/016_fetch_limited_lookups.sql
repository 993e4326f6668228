-- fetch_limited (migration 015) with the same behaviour and fewer steps
-- per job: the room of each counter in use is looked up by key in a jsonb
-- object made before the fetch, where it was joined from a set the planner
-- estimated at one row (a nested loop: candidates times counters, which a
-- worker's large fetches under a partition limit made the largest cost);
-- the loose scan that finds each partition returns its first job, so a
-- fetch whose share of each partition is one job probes each partition
-- once; and a fetch that no limit can bind, from queues where no job with
-- a partition key waits, is the plain fetch (under the lock).
-- The partitions are ordered bytewise (COLLATE "C"): round robin needs an
-- order, not a language's, and comparing under the database's collation
-- cost each probe of the loose scan about twice as much.
DROP INDEX {schema}.jobs_partition_fetch;
CREATE INDEX jobs_partition_fetch ON {schema}.jobs (queue, task COLLATE "C", partition_key COLLATE "C", (-(priority::bigint)), enqueued_seq)
    WHERE state = 'enqueued' AND partition_key IS NOT NULL;

CREATE OR REPLACE FUNCTION {schema}.fetch_limited(p_now timestamptz, p_limit int4, p_owner text, p_lease_us int8,
    p_queues text[], p_floors int4[], p_ceilings int4[], p_cursor_tasks text[], p_cursor_keys text[], p_plain bool[])
RETURNS TABLE (job {schema}.jobs, served int8)
LANGUAGE plpgsql
-- Its plans depend on no parameter's value: planned once per connection.
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := coalesce(p_now, now());
    v_plain text[] := '{}'; -- the queues looked in that have jobs without a partition key
    v_seqscan text := current_setting('enable_seqscan');
    -- The jobs running, by queue, task and partition key.
    r_queue text[];
    r_task text[];
    r_pk text[];
    r_n int8[];
    -- The room of each counter in use that this fetch could fill (see
    -- below), keyed by jsonb_build_array(scope, name, partition key)::text;
    -- and the counters with none.
    v_room jsonb;
    h_scope text[];
    h_name text[];
    h_pk text[];
    -- No task or queue limit can bind this fetch: none has a counter with
    -- less room than the fetch, none is smaller or counts starts.
    v_tq_free bool;
BEGIN
    -- Whether jobs without a partition key wait, before the lock: the look
    -- walks jobs_fetch past every partitioned job ahead of the first.
    IF true = ANY(p_plain) THEN
        SELECT coalesce(array_agg(q.name), '{}') INTO v_plain
        FROM unnest(p_queues, p_floors, p_ceilings, p_plain) AS q(name, floor, ceiling, plain)
        WHERE q.plain AND EXISTS (SELECT 1 FROM {schema}.jobs WHERE state = 'enqueued' AND queue = q.name
            AND priority BETWEEN q.floor AND q.ceiling AND partition_key IS NULL);
    END IF;
    -- One limited fetch at a time, so that the slots one counts are not
    -- taken by another meanwhile, and the jobs it picks are not picked by
    -- another. SetLimits takes the same lock. The statement below, run
    -- after it is granted, sees every lease committed before.
    PERFORM pg_advisory_xact_lock(hashtext('taskflow.limits:{schema}'));
    -- Through the lease index, also when the statistics predate a large
    -- backlog (on which the planner would read the whole table): planned
    -- once, with sequential scans off.
    PERFORM set_config('enable_seqscan', 'off', true);
    SELECT array_agg(queue), array_agg(task), array_agg(pk), array_agg(n) INTO r_queue, r_task, r_pk, r_n FROM (
        SELECT queue, task, coalesce(partition_key, '') AS pk, count(*) AS n FROM {schema}.jobs
        WHERE lease_until IS NOT NULL AND state = 'processing' GROUP BY 1, 2, 3) r;
    PERFORM set_config('enable_seqscan', v_seqscan, true);
    -- Each counter of a limit in use (jobs running or a GCRA time ahead of
    -- now) that this fetch could fill, and its room: how many more jobs
    -- may start now. (A counter with room for the whole fetch bounds
    -- nothing: left out, it keeps the lookups below few.) The statement
    -- below looks rooms up by key in v_room rather than joining them: the
    -- planner would estimate such a set at one row and join it by nested
    -- loop, a cost of candidates times counters.
    WITH
    -- The limits; full is the room of a scope with
    -- nothing running and no start counted, t_ns the GCRA interval.
    lim AS (
        SELECT scope, name, concurrency, rate, burst,
            least(CASE WHEN concurrency > 0 THEN concurrency END, CASE WHEN rate > 0 THEN burst + 1 END)::int8 AS full,
            CASE WHEN rate > 0 THEN trunc(period_us * 1000::numeric / rate) END AS t_ns
        FROM {schema}.limits
    ),
    run AS (SELECT * FROM unnest(r_queue, r_task, r_pk, r_n) AS r(queue, task, pk, n))
    SELECT coalesce(jsonb_object_agg(jsonb_build_array(scope, name, pk)::text, room), '{}'),
        coalesce(array_agg(scope) FILTER (WHERE room = 0), '{}'),
        coalesce(array_agg(name) FILTER (WHERE room = 0), '{}'),
        coalesce(array_agg(pk) FILTER (WHERE room = 0), '{}'),
        coalesce(bool_and(scope = 'partition'), true)
    INTO v_room, h_scope, h_name, h_pk, v_tq_free FROM (
        SELECT * FROM (SELECT u.scope, u.name, u.pk, least(
            CASE WHEN l.concurrency > 0 THEN greatest(l.concurrency - u.n, 0) END,
            CASE WHEN l.rate > 0 THEN CASE
                WHEN u.d_ns > l.burst * l.t_ns THEN 0
                ELSE floor((l.burst * l.t_ns - u.d_ns) / l.t_ns) + 1 END END)::int8 AS room
        FROM (
            SELECT k.scope, k.name, k.pk, sum(k.n) AS n, max(k.tat) AS tat,
                coalesce(extract(epoch FROM max(k.tat) - v_now) * 1000000000, 0) AS d_ns
            FROM (
                SELECT 'queue' AS scope, queue AS name, '' AS pk, n, NULL::timestamptz AS tat FROM run
                UNION ALL SELECT 'task', task, '', n, NULL FROM run
                UNION ALL SELECT 'partition', task, pk, n, NULL FROM run
                UNION ALL SELECT scope, name, partition_key, 0, tat FROM {schema}.limit_rates WHERE tat > v_now
            ) k GROUP BY 1, 2, 3
        ) u JOIN lim l ON l.scope = u.scope AND l.name = u.name) c
        WHERE room < p_limit
    ) cnt;
    v_tq_free := v_tq_free
        AND NOT EXISTS (SELECT 1 FROM {schema}.limits WHERE scope <> 'partition' AND (rate > 0 OR concurrency < p_limit));
    -- No limit can bind this fetch: every counter has room for all of it
    -- (none is in v_room), no limit is smaller than it or counts starts,
    -- and no job with a partition key waits, which would be served round
    -- robin. Then it is the plain fetch, under the lock.
    IF v_room = '{}' AND NOT EXISTS (SELECT 1 FROM {schema}.limits WHERE rate > 0 OR concurrency < p_limit)
        AND NOT EXISTS (SELECT 1 FROM unnest(p_queues) q(name) WHERE EXISTS (SELECT 1 FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = q.name))
    THEN
        RETURN QUERY
        WITH old AS (
            SELECT p.id, p.state, p.state_reason, p.state_data, p.updated_at,
                row_number() OVER (ORDER BY q.ord, p.priority DESC, p.enqueued_seq) AS o
            FROM unnest(p_queues, p_floors, p_ceilings) WITH ORDINALITY AS q(name, floor, ceiling, ord)
            CROSS JOIN LATERAL (
                SELECT id, state, state_reason, state_data, updated_at, priority, enqueued_seq FROM {schema}.jobs
                WHERE state = 'enqueued' AND queue = q.name AND priority BETWEEN q.floor AND q.ceiling
                ORDER BY priority DESC, enqueued_seq
                LIMIT p_limit FOR NO KEY UPDATE SKIP LOCKED) p
            WHERE NOT EXISTS (SELECT 1 FROM {schema}.queues pq WHERE pq.name = q.name AND pq.paused)
            ORDER BY q.ord, p.priority DESC, p.enqueued_seq
            LIMIT p_limit
        ),
        moved AS (
            UPDATE {schema}.jobs j SET
                state = 'processing',
                state_data = (SELECT json_build_object('started_at', v_now, 'server_id', p_owner)),
                state_reason = NULL,
                attempt = j.attempt + 1,
                updated_at = v_now,
                lease_owner = p_owner,
                lease_token = nextval('{schema}.lease_token_seq'),
                lease_until = v_now + p_lease_us * interval '1 microsecond'
            WHERE j.id = ANY(ARRAY(SELECT id FROM old))
            RETURNING j.*
        ),
        h AS (
            INSERT INTO {schema}.job_history (job_id, state, reason, data, at)
            SELECT id, state, coalesce(state_reason, ''), state_data, updated_at FROM old
        )
        SELECT ROW(m.*)::{schema}.jobs, o.o FROM moved m JOIN old o ON o.id = m.id
        UNION ALL
        SELECT jsonb_populate_record(NULL::{schema}.jobs, jsonb_build_object('queue', q.name)),
            (q.name = ANY(v_plain))::int::int8
        FROM unnest(p_queues, p_plain) AS q(name, plain) WHERE q.plain;
        RETURN;
    END IF;
    RETURN QUERY
    WITH RECURSIVE
    -- The limits; full is the room of a scope with
    -- nothing running and no start counted, t_ns the GCRA interval.
    lim AS (
        SELECT scope, name, concurrency, rate, burst,
            least(CASE WHEN concurrency > 0 THEN concurrency END, CASE WHEN rate > 0 THEN burst + 1 END)::int8 AS full,
            CASE WHEN rate > 0 THEN trunc(period_us * 1000::numeric / rate) END AS t_ns
        FROM {schema}.limits
    ),
    held AS (SELECT * FROM unnest(h_scope, h_name, h_pk) AS h(scope, name, pk)),
    -- The queues served, not paused, with the room of their limit (NULL:
    -- none).
    qs AS (
        SELECT q.name, q.ord, q.floor, q.ceiling, q.ct, q.cp, q.plain, coalesce(q.room, l.full) AS room
        FROM (SELECT q.*, (v_room ->> jsonb_build_array('queue', q.name, '')::text)::int8 AS room
            FROM unnest(p_queues, p_floors, p_ceilings, p_cursor_tasks, p_cursor_keys, p_plain)
            WITH ORDINALITY AS q(name, floor, ceiling, ct, cp, plain, ord)) q
        LEFT JOIN lim l ON l.scope = 'queue' AND l.name = q.name
        WHERE NOT EXISTS (SELECT 1 FROM {schema}.queues pq WHERE pq.name = q.name AND pq.paused)
            AND (q.room IS NULL OR q.room > 0)
    ),
    -- The partitions with Enqueued jobs, by a loose scan: one index probe
    -- each, whose row is the partition's first job. g1 goes from after the
    -- cursor, g2 from the start up to it.
    g1 AS (
        SELECT q.name AS queue, f.* FROM qs q CROSS JOIN LATERAL (
            SELECT task, partition_key AS pk, id, priority, enqueued_seq AS seq FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = q.name
                AND (task COLLATE "C", partition_key COLLATE "C") > (q.ct, q.cp)
            ORDER BY task COLLATE "C", partition_key COLLATE "C", -(priority::bigint), enqueued_seq LIMIT 1) f
        UNION ALL
        SELECT g.queue, f.* FROM g1 g CROSS JOIN LATERAL (
            SELECT task, partition_key, id, priority, enqueued_seq FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = g.queue
                AND (task COLLATE "C", partition_key COLLATE "C") > (g.task, g.pk)
            ORDER BY task COLLATE "C", partition_key COLLATE "C", -(priority::bigint), enqueued_seq LIMIT 1) f
    ),
    g2 AS (
        SELECT q.name AS queue, q.ct, q.cp, f.* FROM qs q CROSS JOIN LATERAL (
            SELECT task, partition_key AS pk, id, priority, enqueued_seq AS seq FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = q.name
                AND (task COLLATE "C", partition_key COLLATE "C") <= (q.ct, q.cp)
            ORDER BY task COLLATE "C", partition_key COLLATE "C", -(priority::bigint), enqueued_seq LIMIT 1) f
        UNION ALL
        SELECT g.queue, g.ct, g.cp, f.* FROM g2 g CROSS JOIN LATERAL (
            SELECT task, partition_key, id, priority, enqueued_seq FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = g.queue
                AND (task COLLATE "C", partition_key COLLATE "C") > (g.task, g.pk)
                AND (task COLLATE "C", partition_key COLLATE "C") <= (g.ct, g.cp)
            ORDER BY task COLLATE "C", partition_key COLLATE "C", -(priority::bigint), enqueued_seq LIMIT 1) f
    ),
    -- The first max(p_limit, 64) partitions that no limit holds back, each
    -- with its first job and its turn in this round.
    grp AS (
        SELECT x.*, row_number() OVER () AS turn FROM (
            SELECT g.* FROM (
                SELECT queue, task, pk, id, priority, seq FROM g1
                UNION ALL SELECT queue, task, pk, id, priority, seq FROM g2) g
            WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.name = g.task
                AND ((h.scope = 'task' AND h.pk = '') OR (h.scope = 'partition' AND h.pk = g.pk)))
            LIMIT greatest(p_limit, 64)) x
    ),
    -- Each partition's share of the fetch: one job when the partitions
    -- found are enough to fill it, else an even share and one more.
    sh AS (
        SELECT CASE WHEN count(*) >= p_limit THEN 1 ELSE least(p_limit, p_limit / greatest(count(*), 1) + 1) END AS share
        FROM grp
    ),
    -- The first jobs of each partition: its share of the fetch, and no
    -- more than its limits' room (a partition found has room for one: those
    -- without are held); and of the jobs without a partition key, those of
    -- tasks that no limit holds back.
    cand AS (
        SELECT g.id, g.queue, g.task, g.pk, g.priority, g.seq, g.turn
        FROM grp g JOIN qs q ON q.name = g.queue
        WHERE (SELECT share FROM sh) = 1 AND g.priority BETWEEN q.floor AND q.ceiling
        UNION ALL
        SELECT c.id, c.queue, c.task, c.partition_key AS pk, c.priority, c.enqueued_seq AS seq, g.turn
        FROM grp g JOIN qs q ON q.name = g.queue
        LEFT JOIN lim lp ON lp.scope = 'partition' AND lp.name = g.task
        LEFT JOIN lim lt ON lt.scope = 'task' AND lt.name = g.task
        CROSS JOIN LATERAL (
            SELECT id, queue, task, partition_key, priority, enqueued_seq FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = g.queue
                AND task COLLATE "C" = g.task AND partition_key COLLATE "C" = g.pk
            ORDER BY -(priority::bigint), enqueued_seq
            LIMIT least((SELECT share FROM sh),
                coalesce((v_room ->> jsonb_build_array('partition', g.task, g.pk)::text)::int8, lp.full),
                coalesce((v_room ->> jsonb_build_array('task', g.task, '')::text)::int8, lt.full), q.room)) c
        WHERE (SELECT share FROM sh) > 1 AND c.priority BETWEEN q.floor AND q.ceiling
        UNION ALL
        SELECT c.id, c.queue, c.task, '', c.priority, c.enqueued_seq, (SELECT count(*) + 1 FROM grp)
        FROM qs q CROSS JOIN LATERAL (
            SELECT id, queue, task, priority, enqueued_seq FROM {schema}.jobs
            WHERE state = 'enqueued' AND queue = q.name AND priority BETWEEN q.floor AND q.ceiling
                AND partition_key IS NULL AND task <> ALL(ARRAY(SELECT name FROM held WHERE pk = '' AND scope <> 'queue'))
            ORDER BY priority DESC, enqueued_seq LIMIT CASE WHEN q.name = ANY(v_plain) THEN least(p_limit, q.room) ELSE 0 END) c
    ),
    -- The order served: by queue, higher priority first, then round robin
    -- between partitions (the jobs without a key coming last in a round),
    -- then as enqueued.
    ord AS (
        SELECT r.*, row_number() OVER (ORDER BY r.qord, r.priority DESC, r.rank, r.turn, r.seq) AS o FROM (
            SELECT c.*, q.ord AS qord, row_number() OVER (PARTITION BY c.queue, c.task, c.pk ORDER BY c.seq) AS rank
            FROM cand c JOIN qs q ON q.name = c.queue) r
    ),
    -- Whether every candidate is admitted: each is the one job taken from
    -- a partition with room, and no task or queue limit can bind.
    fr AS (SELECT v_tq_free AND (SELECT share FROM sh) = 1 AND NOT EXISTS (SELECT 1 FROM cand WHERE pk = '') AS free),
    -- Else admitted in that order while the room of each limit lasts: of
    -- its partition, then its task, then its queue. A job turned away by a
    -- wider scope still counts in the narrower ones, which only ever
    -- admits fewer.
    a1 AS (
        SELECT o.* FROM (SELECT o.*, row_number() OVER (PARTITION BY o.task, o.pk ORDER BY o.o) AS n FROM ord o) o
        LEFT JOIN lim l ON l.scope = 'partition' AND l.name = o.task
        WHERE o.n <= coalesce((v_room ->> jsonb_build_array('partition', o.task, o.pk)::text)::int8, l.full, o.n)
    ),
    a2 AS (
        SELECT o.* FROM (SELECT o.*, row_number() OVER (PARTITION BY o.task ORDER BY o.o) AS n2 FROM a1 o) o
        LEFT JOIN lim l ON l.scope = 'task' AND l.name = o.task
        WHERE o.n2 <= coalesce((v_room ->> jsonb_build_array('task', o.task, '')::text)::int8, l.full, o.n2)
    ),
    adm AS (
        (SELECT o.id, o.queue, o.task, o.pk, o.o FROM (SELECT o.*, row_number() OVER (PARTITION BY o.queue ORDER BY o.o) AS n3 FROM a2 o) o
        LEFT JOIN lim l ON l.scope = 'queue' AND l.name = o.queue
        WHERE NOT (SELECT free FROM fr) AND o.n3 <= coalesce((v_room ->> jsonb_build_array('queue', o.queue, '')::text)::int8, l.full, o.n3)
        ORDER BY o.o LIMIT p_limit)
        UNION ALL
        (SELECT o.id, o.queue, o.task, o.pk, o.o FROM ord o WHERE (SELECT free FROM fr) ORDER BY o.o LIMIT p_limit)
    ),
    -- The jobs admitted, locked: under the lock of limited fetches only a
    -- fetch that does not know of flow control yet (see limitsRecheck)
    -- or a change to a job can have taken one meanwhile; that one is left
    -- out. The state is re-checked on the row locked, in an expression
    -- that no partial index of jobs matches, so that the plan is the
    -- primary key's whatever the statistics. What is read is what the
    -- history keeps of the state each leaves.
    lk AS (
        SELECT id, state, state_reason, state_data, updated_at FROM {schema}.jobs
        WHERE id = ANY(ARRAY(SELECT id FROM adm)) AND coalesce(state, '') = 'enqueued'
        FOR NO KEY UPDATE SKIP LOCKED
    ),
    -- The GCRA times the starts move.
    rates AS (
        INSERT INTO {schema}.limit_rates (scope, name, partition_key, tat)
        SELECT s.scope, s.name, s.pk,
            greatest(coalesce(r.tat, v_now), v_now) + floor(s.n * l.t_ns / 1000)::float8 * interval '1 microsecond'
        FROM (
            SELECT k.scope, k.name, k.pk, count(*) AS n FROM adm a JOIN lk ON lk.id = a.id
            CROSS JOIN LATERAL (VALUES ('queue', a.queue, ''), ('task', a.task, ''), ('partition', a.task, a.pk)) k(scope, name, pk)
            GROUP BY 1, 2, 3
        ) s JOIN lim l ON l.scope = s.scope AND l.name = s.name AND l.rate > 0
        LEFT JOIN {schema}.limit_rates r ON r.scope = s.scope AND r.name = s.name AND r.partition_key = s.pk
        ON CONFLICT (scope, name, partition_key) DO UPDATE SET tat = EXCLUDED.tat
    ),
    moved AS (
        UPDATE {schema}.jobs j SET
            state = 'processing',
            state_data = (SELECT json_build_object('started_at', v_now, 'server_id', p_owner)),
            state_reason = NULL,
            attempt = j.attempt + 1,
            updated_at = v_now,
            lease_owner = p_owner,
            lease_token = nextval('{schema}.lease_token_seq'),
            lease_until = v_now + p_lease_us * interval '1 microsecond'
        WHERE j.id = ANY(ARRAY(SELECT id FROM lk))
        RETURNING j.*
    ),
    h AS (
        INSERT INTO {schema}.job_history (job_id, state, reason, data, at)
        SELECT id, state, coalesce(state_reason, ''), state_data, updated_at FROM lk
    )
    SELECT ROW(m.*)::{schema}.jobs, a.o FROM moved m JOIN adm a ON a.id = m.id
    UNION ALL
    SELECT jsonb_populate_record(NULL::{schema}.jobs, jsonb_build_object('queue', q.name)),
        (q.name = ANY(v_plain))::int::int8
    FROM unnest(p_queues, p_plain) AS q(name, plain) WHERE q.plain;
END
$$;
