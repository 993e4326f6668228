package pgstore

import (
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/storage"
)

// queries holds the SQL of a store, its schema name filled in. Rows are
// always reached through the primary key or one of the partial indexes of
// migrations/: an UPDATE that filters on state, or joins a batch
// by id = ANY, can be planned as a scan per row or of the whole table when
// statistics are stale, which cost 10-100x in measurements.
type queries struct {
	version, notify, create, fetch, fetchRange, transition, extend, checkLeases, promote, reclaim,
	get, history, list, count, prune string
	// Continuations, batches and unique keys (flow.go).
	createUnique, releaseStale, holders, await, lockBatches, resolve, batchProgress string
	// Recurring definitions, locks and servers (flow.go).
	upsertRecurring, removeRecurring, getRecurring, listRecurring, dueRecurring, nextRecurring,
	fire, setLastJob, pauseRecurring, tryLock, unlock, heartbeat, listWorkers, removeWorker, removeDead string
}

// jobCols is the column list that scanJob reads.
const jobCols = `id, task, args, queue, priority, state, state_data, run_at, attempt, created_at,
	updated_at, expire_at, params, coalesce(lease_owner, ''), coalesce(lease_token, 0), lease_until,
	parent_id, batch_id, coalesce(unique_key, ''), unique_until`

// fetchSQL leases jobs: rows are picked by a sub-select that locks and
// skips, per queue in the order given, then updated by id.
var fetchSQL = `
WITH old AS (
	SELECT p.* FROM {queues}
	CROSS JOIN LATERAL (
		SELECT ` + oldCols + `, priority, enqueued_seq FROM {s}.jobs
		WHERE state = 'enqueued' AND queue = q.name{floor}
		ORDER BY priority DESC, enqueued_seq
		LIMIT $2 FOR UPDATE SKIP LOCKED) p
	ORDER BY q.ord, p.priority DESC, p.enqueued_seq
	LIMIT $2
), moved AS (
	UPDATE {s}.jobs j SET
		state = 'processing',
		state_data = (SELECT json_build_object('started_at', ` + clock + `, 'server_id', $3::text)),
		state_reason = NULL,
		attempt = j.attempt + 1,
		updated_at = ` + clock + `,
		lease_owner = $3,
		lease_token = nextval('{sl}.lease_token_seq'),
		lease_until = ` + clock + ` + $4::bigint * interval '1 microsecond'
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
	RETURNING j.*
), ` + leaveHistory("true") + `
SELECT ` + jobCols + ` FROM moved ORDER BY array_position($5, queue), priority DESC, enqueued_seq`

// lostLeases lists the leases of t (id, token) that owner $3 no longer
// holds, with the state each job is in now (an empty string for a job that is gone).
const lostLeases = `
SELECT t.id, coalesce(j.state, '') FROM t LEFT JOIN {s}.jobs j ON j.id = t.id
WHERE j.id IS NULL OR j.lease_token IS DISTINCT FROM t.token OR j.lease_owner IS DISTINCT FROM $3`

// clock is the time of a call: the caller's Now, else the server's clock.
const clock = `coalesce($1::timestamptz, now())`

// enqueuedData builds states.Enqueued JSON with the given reason for the
// store-initiated moves (promotion, reclaim, resolved continuations), which
// happen per row on the server.
func enqueuedData(reason string) string {
	return `json_build_object('queue', j.queue, 'enqueued_at', ` + clock + `, 'reason', ` + reason + `)`
}

// requeue is the SET list that moves a leased job back to Enqueued.
func requeue(reason string) string {
	return toEnqueued(reason) + `, lease_owner = NULL, lease_token = NULL, lease_until = NULL`
}

// toEnqueued is the SET list that makes a job Enqueued for the given reason.
func toEnqueued(reason string) string {
	return `state = 'enqueued', state_data = ` + enqueuedData(reason) + `, state_reason = ` + reason + `,
		updated_at = ` + clock + `, enqueued_seq = nextval('{sl}.enqueue_seq')`
}

// oldCols are the columns that a CTE named old reads from the rows a
// statement locks: the state each job leaves, for its history.
const oldCols = `id, state, state_reason, state_data, updated_at`

// leaveHistory is a CTE named h that appends to the history the state each
// job of old leaves. Rows locked by old are updated by the statement unless
// a condition re-checked on them excludes them; where is that condition,
// true when none. (Joining old to the updated rows instead is planned as a
// nested loop: CTE row counts are estimated at one.)
func leaveHistory(where string) string {
	return `h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT id, state, coalesce(state_reason, ''), state_data, updated_at FROM old WHERE ` + where + `
)`
}

// moveToEnqueued is the shared tail of the statements that lock rows in a
// CTE named old and move them all to Enqueued in a CTE named moved; $1 is
// Now.
var moveToEnqueued = `
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
	RETURNING j.id
), ` + leaveHistory("true")

// finished lists the states in which a job has finished (storage.Finished).
const finished = `('succeeded', 'failed', 'deleted')`

// createSQL inserts jobs, whose initial state lives on the row until they
// leave it. In its unique form a job whose key is held is skipped, and the
// inserted ids are returned.
const createSQL = `
INSERT INTO {s}.jobs (id, task, args, queue, priority, state, state_data, state_reason, run_at, attempt,
	created_at, updated_at, expire_at, params, enqueued_seq, parent_id, batch_id, unique_key, unique_until, unique_held)
SELECT id, task, coalesce(args, ''), queue, priority, state, state_data, nullif(reason, ''), run_at, attempt,
	coalesce(created, now()), coalesce(created, now()), expire_at, params,
	CASE WHEN state = 'enqueued' THEN nextval('{sl}.enqueue_seq') END,
	parent_id, batch_id, unique_key, unique_until, unique_key IS NOT NULL
FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::int4[], $6::text[],
	$7::json[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::jsonb[], $12::text[], $13::int4[],
	$14::uuid[], $15::uuid[], $16::text[], $17::timestamptz[])
	WITH ORDINALITY AS t(id, task, args, queue, priority, state, state_data, run_at, created,
		expire_at, params, reason, attempt, parent_id, batch_id, unique_key, unique_until, ord)
ORDER BY ord{conflict}`

func buildQueries(schema string) queries {
	quoted := pgx.Identifier{schema}.Sanitize()
	r := strings.NewReplacer("{s}", quoted, "{sl}", strings.ReplaceAll(quoted, "'", "''"))
	return queries{
		version: r.Replace(`SELECT coalesce(max(version), 0) FROM {s}.schema_migrations`),
		notify:  `SELECT pg_notify($1, $2)`,

		create:       r.Replace(strings.ReplaceAll(createSQL, "{conflict}", "")),
		createUnique: r.Replace(strings.ReplaceAll(createSQL, "{conflict}", "\nON CONFLICT (unique_key) WHERE unique_held DO NOTHING RETURNING id")),

		fetch: r.Replace(strings.NewReplacer("{queues}", "unnest($5::text[]) WITH ORDINALITY AS q(name, ord)", "{floor}", "").Replace(fetchSQL)),
		// fetchRange is fetch limited to a priority range per queue (floor
		// $6, ceiling $7), an index condition.
		fetchRange: r.Replace(strings.NewReplacer("{queues}", "unnest($5::text[], $6::int4[], $7::int4[]) WITH ORDINALITY AS q(name, floor, ceiling, ord)",
			"{floor}", " AND priority BETWEEN q.floor AND q.ceiling").Replace(fetchSQL)),

		// One statement applies a batch whose ids are distinct. It first
		// locks the rows in id order, as every statement that waits for
		// several job rows does, so that two of them cannot deadlock, and
		// reads the states they leave from the locked (latest) versions. The
		// compare-and-set is in the UPDATE's WHERE, which PostgreSQL
		// re-checks on the latest row version, and reaches rows by primary
		// key. The token alone proves Processing: only leased jobs have one.
		// History gets the state left, then the traversed entries. Rows not
		// updated are read back (as of the statement's start) so that the
		// caller can tell why.
		transition: r.Replace(`
WITH t AS (
	SELECT * FROM unnest($2::uuid[], $3::text[], $4::int8[], $5::text[], $6::json[], $7::text[],
		$8::text[], $9::timestamptz[], $10::timestamptz[], $11::jsonb[])
		WITH ORDINALITY AS t(id, from_states, token, to_state, data, reason, queue, run_at, expire_at, params, ord)
), old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE id = ANY($2::uuid[]) ORDER BY id FOR UPDATE
), upd AS (
	UPDATE {s}.jobs j SET
		state = t.to_state,
		state_data = t.data,
		state_reason = nullif(t.reason, ''),
		updated_at = ` + clock + `,
		queue = coalesce(nullif(t.queue, ''), j.queue),
		run_at = CASE WHEN t.to_state = 'scheduled' THEN t.run_at ELSE j.run_at END,
		expire_at = CASE WHEN t.to_state IN ('succeeded', 'deleted') THEN t.expire_at END,
		params = CASE WHEN t.params IS NULL THEN j.params ELSE coalesce(j.params, '{}') || t.params END,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL,
		enqueued_seq = CASE WHEN t.to_state = 'enqueued' THEN nextval('{sl}.enqueue_seq') ELSE j.enqueued_seq END,
		unique_held = j.unique_held AND NOT (t.to_state IN ` + finished + ` AND j.unique_until IS NULL)
	FROM t
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
		AND j.id = t.id AND (t.token = 0 OR j.lease_token = t.token)
		AND (t.from_states = '' OR j.state = ANY(string_to_array(t.from_states, ',')))
	RETURNING t.*, j.awaited, j.batch_id
), h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT id, state, reason, data, at FROM (
		SELECT old.id, old.state, coalesce(old.state_reason, '') AS reason, old.state_data AS data,
			old.updated_at AS at, upd.ord, 0 AS n
		FROM upd JOIN old ON old.id = upd.id
		UNION ALL
		SELECT upd.id, tr.state, tr.reason, tr.data, tr.at, tr.ord, tr.n
		FROM unnest($12::int8[], $13::text[], $14::text[], $15::json[], $16::timestamptz[])
			WITH ORDINALITY AS tr(ord, state, reason, data, at, n)
		JOIN upd ON upd.ord = tr.ord
		ORDER BY ord, n) x
)
SELECT t.ord, f.state, f.lease_token, upd.ord IS NOT NULL, coalesce(upd.awaited, false), upd.batch_id FROM t
LEFT JOIN upd USING (ord)
LEFT JOIN LATERAL (
	SELECT state, coalesce(lease_token, 0) AS lease_token FROM {s}.jobs WHERE upd.ord IS NULL AND id = t.id
) f ON true
WHERE upd.ord IS NULL OR upd.to_state IN ` + finished + ` AND (upd.awaited OR upd.batch_id IS NOT NULL)`),

		// Lease renewal never waits for a row lock: a row locked by a
		// concurrent completion (or anyone else) is skipped, neither renewed
		// nor reported lost, so renewal cannot deadlock with completions.
		// Lost means the job no longer holds the token for this owner as of
		// the statement's start.
		extend: r.Replace(`
WITH t AS (
	SELECT * FROM unnest($1::uuid[], $2::int8[]) AS t(id, token)
), upd AS (
	UPDATE {s}.jobs j SET lease_until = $4
	WHERE j.id = ANY(ARRAY(
		SELECT j.id FROM {s}.jobs j JOIN t ON j.id = t.id AND j.lease_token = t.token AND j.lease_owner = $3
		ORDER BY j.id FOR UPDATE OF j SKIP LOCKED))
)` + lostLeases),
		// checkLeases is extend without the renewal: a plain read.
		checkLeases: r.Replace(`
WITH t AS (
	SELECT * FROM unnest($1::uuid[], $2::int8[]) AS t(id, token)
)` + lostLeases),

		promote: r.Replace(`
WITH old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE state = 'scheduled' AND run_at <= ` + clock + `
	ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED
), moved AS (
	UPDATE {s}.jobs j SET ` + toEnqueued("$3::text") + moveToEnqueued + `
SELECT (SELECT count(*) FROM moved),
	(SELECT run_at FROM {s}.jobs WHERE state = 'scheduled' AND id NOT IN (SELECT id FROM moved)
	 ORDER BY run_at LIMIT 1)`),

		reclaim: r.Replace(`
WITH old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE lease_until <= ` + clock + `
	ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED
), moved AS (
	UPDATE {s}.jobs j SET ` + requeue("$3::text") + moveToEnqueued + `
SELECT count(*) FROM moved`),

		get: r.Replace(`SELECT ` + jobCols + ` FROM {s}.jobs WHERE id = $1`),
		// The states a job has left, then its current one.
		history: r.Replace(`SELECT state, reason, data, at FROM (
	SELECT id, state, reason, data, at FROM {s}.job_history WHERE job_id = $1
	UNION ALL
	SELECT 9223372036854775807, state, coalesce(state_reason, ''), state_data, updated_at FROM {s}.jobs WHERE id = $1
) h ORDER BY id`),
		list: r.Replace(`SELECT ` + jobCols + ` FROM {s}.jobs WHERE state = $1 AND ($2 = '' OR queue = $2)
ORDER BY id DESC OFFSET $3 LIMIT nullif($4::int, 0)`),
		count: r.Replace(`SELECT state, count(*) FROM {s}.jobs WHERE ($1 = '' OR queue = $1) GROUP BY state`),

		prune: r.Replace(`
WITH d AS (
	DELETE FROM {s}.jobs WHERE id = ANY(ARRAY(
		SELECT id FROM {s}.jobs WHERE expire_at <= ` + clock + `
		ORDER BY expire_at LIMIT $2 FOR UPDATE SKIP LOCKED))
	RETURNING id
), h AS (
	DELETE FROM {s}.job_history WHERE job_id = ANY(ARRAY(SELECT id FROM d))
)
SELECT count(*) FROM d`),

		// Keys of finished jobs whose unique_until has passed (or was never
		// set) are released before inserting jobs that want them.
		releaseStale: r.Replace(`UPDATE {s}.jobs SET unique_held = false
WHERE id = ANY(ARRAY(SELECT id FROM {s}.jobs WHERE unique_key = ANY($2) AND unique_held AND state IN ` + finished + `
	AND (unique_until IS NULL OR unique_until <= ` + clock + `) ORDER BY id FOR UPDATE))
	AND unique_held AND state IN ` + finished + ` AND (unique_until IS NULL OR unique_until <= ` + clock + `)`),
		holders: r.Replace(`SELECT unique_key, id FROM {s}.jobs WHERE unique_key = ANY($1) AND unique_held`),

		// Parents that are jobs are marked awaited, which also locks them
		// against a concurrent Transition; the others are returned with
		// whether they are a batch.
		await: r.Replace(`
WITH marked AS (
	UPDATE {s}.jobs SET awaited = true
	WHERE id = ANY(ARRAY(SELECT id FROM {s}.jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE)) RETURNING id
)
SELECT p, EXISTS (SELECT 1 FROM {s}.jobs WHERE batch_id = p)
FROM unnest($1::uuid[]) p WHERE p NOT IN (SELECT id FROM marked)`),
		// Whether a batch has finished is decided under its lock, taken in a
		// statement of its own so that the next one sees every commit made
		// before it was granted.
		lockBatches: r.Replace(`SELECT pg_advisory_xact_lock(hashtextextended('{sl}' || b::text, 0))
FROM unnest($1::uuid[]) b`),

		// The continuations of the finished parents among $2 (jobs or
		// batches) become Enqueued when their condition holds, else Deleted
		// (expiring after $3 microseconds when positive). Each continuation
		// reads its parent's outcome by index as it is updated, rather than
		// joining the parents to the children: every join between two row
		// sets of the statement can be planned as a nested loop, quadratic
		// in the batch (see TestPlansStayLinearInBatchSize).
		resolve: r.Replace(`
WITH p AS (
	SELECT id, state = 'succeeded' AS success FROM {s}.jobs WHERE id = ANY($2::uuid[]) AND state IN ` + finished + `
	UNION ALL
	SELECT b, NOT EXISTS (SELECT 1 FROM {s}.jobs WHERE batch_id = b AND state <> 'succeeded')
	FROM unnest($2::uuid[]) b
	WHERE EXISTS (SELECT 1 FROM {s}.jobs WHERE batch_id = b)
		AND NOT EXISTS (SELECT 1 FROM {s}.jobs WHERE batch_id = b AND state NOT IN ` + finished + `)
), c AS (
	SELECT c.id FROM p CROSS JOIN LATERAL (
		SELECT id FROM {s}.jobs WHERE parent_id = p.id AND state = 'awaiting' OFFSET 0) c
), old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE id = ANY(ARRAY(SELECT id FROM c)) ORDER BY id FOR UPDATE
), moved AS (
	UPDATE {s}.jobs j SET (state, state_data, state_reason, enqueued_seq, expire_at, unique_held) = (
		SELECT CASE WHEN run THEN 'enqueued' ELSE 'deleted' END,
			CASE WHEN run THEN ` + enqueuedData("'parent finished'") + `
				ELSE json_build_object('deleted_at', ` + clock + `, 'reason', 'continuation condition was not met') END,
			CASE WHEN run THEN 'parent finished' ELSE 'continuation condition was not met' END,
			CASE WHEN run THEN nextval('{sl}.enqueue_seq') END,
			CASE WHEN NOT run AND $3::int8 > 0 THEN ` + clock + ` + $3 * interval '1 microsecond' END,
			j.unique_held AND (run OR j.unique_until IS NOT NULL)
		FROM (SELECT CASE j.state_data->>'on' WHEN 'finish' THEN true WHEN 'failure' THEN NOT success ELSE success END AS run
			FROM (SELECT coalesce((SELECT state = 'succeeded' FROM {s}.jobs WHERE id = j.parent_id),
				NOT EXISTS (SELECT 1 FROM {s}.jobs WHERE batch_id = j.parent_id AND state <> 'succeeded')) AS success) ps) r),
		updated_at = ` + clock + `
	WHERE j.id = ANY(ARRAY(SELECT id FROM old)) AND j.state = 'awaiting'
	RETURNING j.id, j.state, j.awaited, j.batch_id
), ` + leaveHistory("state = 'awaiting'") + `
SELECT state, awaited, id, batch_id FROM moved`),
		batchProgress: r.Replace(`SELECT state, count(*) FROM {s}.jobs WHERE batch_id = $1 GROUP BY state`),

		// A definition declared again with the same spec and time zone keeps
		// its schedule and pause; created_at is always kept.
		upsertRecurring: r.Replace(`
INSERT INTO {s}.recurring_jobs AS r (id, task, args, spec, time_zone, queue, priority, misfire, paused,
	next_run, last_run, last_job_id, created_at, updated_at, params, unique_key, unique_for)
VALUES ($1, $2, coalesce($3::bytea, ''), $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13, now()), coalesce($14, now()),
	$15, $16, $17)
ON CONFLICT (id) DO UPDATE SET
	(task, args, spec, time_zone, queue, priority, misfire, updated_at, params, unique_key, unique_for) = (EXCLUDED.task,
		EXCLUDED.args, EXCLUDED.spec, EXCLUDED.time_zone, EXCLUDED.queue, EXCLUDED.priority, EXCLUDED.misfire,
		EXCLUDED.updated_at, EXCLUDED.params, EXCLUDED.unique_key, EXCLUDED.unique_for),
	paused = CASE WHEN ` + sameSchedule + ` THEN r.paused ELSE EXCLUDED.paused END,
	next_run = CASE WHEN ` + sameSchedule + ` THEN r.next_run ELSE EXCLUDED.next_run END,
	last_run = CASE WHEN ` + sameSchedule + ` THEN r.last_run ELSE EXCLUDED.last_run END,
	last_job_id = CASE WHEN ` + sameSchedule + ` THEN r.last_job_id ELSE EXCLUDED.last_job_id END`),
		removeRecurring: r.Replace(`DELETE FROM {s}.recurring_jobs WHERE id = $1`),
		getRecurring:    r.Replace(`SELECT ` + recurringCols + ` FROM {s}.recurring_jobs WHERE id = $1`),
		listRecurring:   r.Replace(`SELECT ` + recurringCols + ` FROM {s}.recurring_jobs ORDER BY id`),
		dueRecurring: r.Replace(`SELECT ` + recurringCols + ` FROM {s}.recurring_jobs
WHERE NOT paused AND next_run <= $1 ORDER BY id LIMIT $2`),
		nextRecurring: r.Replace(`SELECT min(next_run) FROM {s}.recurring_jobs WHERE NOT paused AND id <> ALL($1)`),
		// The compare-and-set on next_run: concurrent callers queue on the
		// row lock and, once the first commits, find next_run moved.
		fire: r.Replace(`UPDATE {s}.recurring_jobs SET next_run = $3, last_run = $4, updated_at = coalesce($5, now())
WHERE id = $1 AND NOT paused AND next_run = $2`),
		setLastJob: r.Replace(`UPDATE {s}.recurring_jobs SET last_job_id = $2 WHERE id = $1`),
		pauseRecurring: r.Replace(`UPDATE {s}.recurring_jobs
SET paused = $2, next_run = CASE WHEN $2 THEN next_run ELSE $3 END, updated_at = now() WHERE id = $1`),

		tryLock: r.Replace(`
INSERT INTO {s}.locks AS l (key, owner, until) VALUES ($1, $2, now() + $3 * interval '1 microsecond')
ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
WHERE l.owner = EXCLUDED.owner OR l.until <= now()`),
		unlock: r.Replace(`DELETE FROM {s}.locks WHERE key = $1 AND owner = $2`),

		heartbeat: r.Replace(`
INSERT INTO {s}.servers (id, host, pid, queues, concurrency, started_at, heartbeat_at)
VALUES ($1, $2, $3, coalesce($4::text[], '{}'), $5, $6, now())
ON CONFLICT (id) DO UPDATE SET (host, pid, queues, concurrency, started_at, heartbeat_at) =
	(EXCLUDED.host, EXCLUDED.pid, EXCLUDED.queues, EXCLUDED.concurrency, EXCLUDED.started_at, now())`),
		listWorkers:  r.Replace(`SELECT id, host, pid, queues, concurrency, started_at, heartbeat_at FROM {s}.servers ORDER BY id`),
		removeWorker: r.Replace(`DELETE FROM {s}.servers WHERE id = $1`),
		// The dead servers' leased jobs go back to Enqueued in the same
		// statement that unregisters the servers.
		removeDead: r.Replace(`
WITH dead AS (
	DELETE FROM {s}.servers WHERE heartbeat_at < now() - $2::bigint * interval '1 microsecond' RETURNING id
), old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE lease_until IS NOT NULL AND lease_owner IN (SELECT id FROM dead)
	ORDER BY id FOR UPDATE
), moved AS (
	UPDATE {s}.jobs j SET ` + requeue(`'worker ' || j.lease_owner || '`+storage.ReasonWorkerDead+`'`) + moveToEnqueued + `
SELECT array(SELECT id FROM dead ORDER BY id), (SELECT count(*) FROM moved)`),
	}
}

const sameSchedule = `(r.spec, r.time_zone) = (EXCLUDED.spec, EXCLUDED.time_zone)`

// recurringCols is the column list that scanRecurring reads.
const recurringCols = `id, task, args, spec, time_zone, queue, priority, misfire, paused, next_run, last_run,
	last_job_id, created_at, updated_at, params, unique_key, unique_for`
