-- Back to the index and the fetch_limited of migrations 013 and 015.
DROP INDEX {schema}.jobs_partition_fetch;
CREATE INDEX jobs_partition_fetch ON {schema}.jobs (queue, task, partition_key, (-(priority::bigint)), enqueued_seq)
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
    run AS (SELECT * FROM unnest(r_queue, r_task, r_pk, r_n) AS r(queue, task, pk, n)),
    -- Each counter of a limit in use (jobs running or a GCRA time ahead of
    -- now) that this fetch could fill, and its room: how many more jobs
    -- may start now. (A counter with room for the whole fetch bounds
    -- nothing: left out, it keeps the joins below small.)
    cnt AS (
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
    ),
    held AS (SELECT scope, name, pk FROM cnt WHERE room = 0),
    -- The queues served, not paused, with the room of their limit (NULL:
    -- none).
    qs AS (
        SELECT q.name, q.ord, q.floor, q.ceiling, q.ct, q.cp, q.plain, coalesce(c.room, l.full) AS room
        FROM unnest(p_queues, p_floors, p_ceilings, p_cursor_tasks, p_cursor_keys, p_plain)
            WITH ORDINALITY AS q(name, floor, ceiling, ct, cp, plain, ord)
        LEFT JOIN lim l ON l.scope = 'queue' AND l.name = q.name
        LEFT JOIN cnt c ON c.scope = 'queue' AND c.name = q.name
        WHERE NOT EXISTS (SELECT 1 FROM {schema}.queues pq WHERE pq.name = q.name AND pq.paused)
            AND (c.room IS NULL OR c.room > 0)
    ),
    -- The partitions with Enqueued jobs, by a loose scan: one index probe
    -- each. g1 goes from after the cursor, g2 from the start up to it.
    g1 AS (
        SELECT 1 AS lvl, q.name AS queue, f.task, f.partition_key AS pk FROM qs q CROSS JOIN LATERAL (
            SELECT task, partition_key FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = q.name AND (task, partition_key) > (q.ct, q.cp)
            ORDER BY task, partition_key LIMIT 1) f
        UNION ALL
        SELECT g.lvl + 1, g.queue, f.task, f.partition_key FROM g1 g CROSS JOIN LATERAL (
            SELECT task, partition_key FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = g.queue AND (task, partition_key) > (g.task, g.pk)
            ORDER BY task, partition_key LIMIT 1) f
    ),
    g2 AS (
        SELECT 1 AS lvl, q.name AS queue, q.ct, q.cp, f.task, f.partition_key AS pk FROM qs q CROSS JOIN LATERAL (
            SELECT task, partition_key FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = q.name AND (task, partition_key) <= (q.ct, q.cp)
            ORDER BY task, partition_key LIMIT 1) f
        UNION ALL
        SELECT g.lvl + 1, g.queue, g.ct, g.cp, f.task, f.partition_key FROM g2 g CROSS JOIN LATERAL (
            SELECT task, partition_key FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = g.queue
                AND (task, partition_key) > (g.task, g.pk) AND (task, partition_key) <= (g.ct, g.cp)
            ORDER BY task, partition_key LIMIT 1) f
    ),
    -- The first max(p_limit, 64) partitions that no limit holds back, each
    -- with its turn in this round.
    grp AS (
        SELECT x.queue, x.task, x.pk, row_number() OVER () AS turn FROM (
            SELECT g.queue, g.task, g.pk FROM (
                SELECT queue, task, pk FROM g1 UNION ALL SELECT queue, task, pk FROM g2) g
            WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.name = g.task
                AND ((h.scope = 'task' AND h.pk = '') OR (h.scope = 'partition' AND h.pk = g.pk)))
            LIMIT greatest(p_limit, 64)) x
    ),
    -- The first jobs of each partition: its share of the fetch, at least
    -- one, and no more than its limits' room; and of the jobs without a
    -- partition key, those of tasks that no limit holds back.
    cand AS (
        SELECT c.id, c.queue, c.task, c.partition_key AS pk, c.priority, c.enqueued_seq AS seq, g.turn
        FROM grp g JOIN qs q ON q.name = g.queue
        LEFT JOIN lim lp ON lp.scope = 'partition' AND lp.name = g.task
        LEFT JOIN cnt cp ON cp.scope = 'partition' AND cp.name = g.task AND cp.pk = g.pk
        LEFT JOIN lim lt ON lt.scope = 'task' AND lt.name = g.task
        LEFT JOIN cnt ct ON ct.scope = 'task' AND ct.name = g.task AND ct.pk = ''
        CROSS JOIN LATERAL (
            SELECT id, queue, task, partition_key, priority, enqueued_seq FROM {schema}.jobs
            WHERE state = 'enqueued' AND partition_key IS NOT NULL AND queue = g.queue AND task = g.task AND partition_key = g.pk
            ORDER BY -(priority::bigint), enqueued_seq
            LIMIT least((SELECT least(p_limit, p_limit / greatest(count(*), 1) + 1) FROM grp),
                coalesce(cp.room, lp.full), coalesce(ct.room, lt.full), q.room)) c
        WHERE c.priority BETWEEN q.floor AND q.ceiling
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
    -- Admitted in that order while the room of each limit lasts: of its
    -- partition, then its task, then its queue. A job turned away by a
    -- wider scope still counts in the narrower ones, which only ever
    -- admits fewer.
    a1 AS (
        SELECT o.* FROM (SELECT o.*, row_number() OVER (PARTITION BY o.task, o.pk ORDER BY o.o) AS n FROM ord o) o
        LEFT JOIN lim l ON l.scope = 'partition' AND l.name = o.task
        LEFT JOIN cnt c ON c.scope = 'partition' AND c.name = o.task AND c.pk = o.pk
        WHERE o.n <= coalesce(c.room, l.full, o.n)
    ),
    a2 AS (
        SELECT o.* FROM (SELECT o.*, row_number() OVER (PARTITION BY o.task ORDER BY o.o) AS n2 FROM a1 o) o
        LEFT JOIN lim l ON l.scope = 'task' AND l.name = o.task
        LEFT JOIN cnt c ON c.scope = 'task' AND c.name = o.task AND c.pk = ''
        WHERE o.n2 <= coalesce(c.room, l.full, o.n2)
    ),
    adm AS (
        SELECT o.id, o.queue, o.task, o.pk, o.o FROM (SELECT o.*, row_number() OVER (PARTITION BY o.queue ORDER BY o.o) AS n3 FROM a2 o) o
        LEFT JOIN lim l ON l.scope = 'queue' AND l.name = o.queue
        LEFT JOIN cnt c ON c.scope = 'queue' AND c.name = o.queue AND c.pk = ''
        WHERE o.n3 <= coalesce(c.room, l.full, o.n3)
        ORDER BY o.o LIMIT p_limit
    ),
    -- The jobs admitted, locked: under the lock of limited fetches only a
    -- fetch that does not know of flow control yet (see limitsRecheck)
    -- or a change to a job can have taken one meanwhile; that one is left
    -- out. The state is re-checked on the row locked, in an expression
    -- that no partial index of jobs matches, so that the plan is the
    -- primary key's whatever the statistics.
    lk AS (
        SELECT id FROM {schema}.jobs WHERE id = ANY(ARRAY(SELECT id FROM adm)) AND coalesce(state, '') = 'enqueued'
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
    old AS (
        SELECT id, state, state_reason, state_data, updated_at FROM {schema}.jobs WHERE id = ANY(ARRAY(SELECT id FROM lk))
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
        SELECT id, state, coalesce(state_reason, ''), state_data, updated_at FROM old
    )
    SELECT ROW(m.*)::{schema}.jobs, a.o FROM moved m JOIN adm a ON a.id = m.id
    UNION ALL
    SELECT jsonb_populate_record(NULL::{schema}.jobs, jsonb_build_object('queue', q.name)),
        (q.name = ANY(v_plain))::int::int8
    FROM unnest(p_queues, p_plain) AS q(name, plain) WHERE q.plain;
END
$$;
