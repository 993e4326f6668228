package pgstore

import (
	"strings"

	"github.com/jackc/pgx/v5"
)

// queries holds the SQL of a store, its schema name filled in. Rows are
// always reached through the primary key or one of the partial indexes of
// migrations/001_init.sql: an UPDATE that filters on state, or joins a batch
// by id = ANY, can be planned as a scan per row or of the whole table when
// statistics are stale, which cost 10-100x in measurements.
type queries struct {
	version, notify, create, fetch, transition, extend, promote, reclaim,
	get, history, list, count, prune string
}

// jobCols is the column list that scanJob reads.
const jobCols = `id, task, args, queue, priority, state, state_data, run_at, attempt, created_at,
	updated_at, expire_at, params, coalesce(lease_owner, ''), coalesce(lease_token, 0), lease_until`

// clock is the time of a call: the caller's Now, else the server's clock.
const clock = `coalesce($1::timestamptz, now())`

// enqueuedData builds states.Enqueued JSON for the store-initiated moves
// (promotion and reclaim), which happen per row on the server.
const enqueuedData = `json_build_object('queue', j.queue, 'enqueued_at', ` + clock + `, 'reason', $3::text)`

// moveToEnqueued is the shared tail of PromoteDue and ReclaimExpired: $1 is
// Now, $2 the limit, $3 the reason; the WHERE clause picks the rows.
const moveToEnqueued = `
	RETURNING j.id, j.state_data, j.updated_at
), h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT id, 'enqueued', $3, state_data, updated_at FROM moved
)`

func buildQueries(schema string) queries {
	quoted := pgx.Identifier{schema}.Sanitize()
	r := strings.NewReplacer("{s}", quoted, "{sl}", strings.ReplaceAll(quoted, "'", "''"))
	return queries{
		version: r.Replace(`SELECT coalesce(max(version), 0) FROM {s}.schema_migrations`),
		notify:  `SELECT pg_notify($1, '')`,

		create: r.Replace(`
WITH arg AS (
	SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::int4[], $6::text[],
		$7::json[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::jsonb[], $12::text[], $13::int4[])
		WITH ORDINALITY AS t(id, task, args, queue, priority, state, state_data, run_at, created,
			expire_at, params, reason, attempt, ord)
), input AS (
	SELECT *, coalesce(created, now()) AS created_at FROM arg
), ins AS (
	INSERT INTO {s}.jobs (id, task, args, queue, priority, state, state_data, run_at, attempt,
		created_at, updated_at, expire_at, params, enqueued_seq)
	SELECT id, task, coalesce(args, ''), queue, priority, state, state_data, run_at, attempt,
		created_at, created_at, expire_at, params,
		CASE WHEN state = 'enqueued' THEN nextval('{sl}.enqueue_seq') END
	FROM input ORDER BY ord
)
INSERT INTO {s}.job_history (job_id, state, reason, data, at)
SELECT id, state, coalesce(reason, ''), state_data, created_at FROM input ORDER BY ord`),

		// The ids are picked by a sub-select that locks and skips, per
		// queue in the order given, then the rows are updated by id.
		fetch: r.Replace(`
WITH leased AS (
	UPDATE {s}.jobs j SET
		state = 'processing',
		state_data = (SELECT json_build_object('started_at', ` + clock + `, 'server_id', $3::text)),
		attempt = j.attempt + 1,
		updated_at = ` + clock + `,
		lease_owner = $3,
		lease_token = nextval('{sl}.lease_token_seq'),
		lease_until = ` + clock + ` + $4::bigint * interval '1 microsecond'
	WHERE j.id = ANY(ARRAY(
		SELECT p.id FROM unnest($5::text[]) WITH ORDINALITY AS q(name, ord)
		CROSS JOIN LATERAL (
			SELECT id, priority, enqueued_seq FROM {s}.jobs
			WHERE state = 'enqueued' AND queue = q.name
			ORDER BY priority DESC, enqueued_seq
			LIMIT $2 FOR UPDATE SKIP LOCKED) p
		ORDER BY q.ord, p.priority DESC, p.enqueued_seq
		LIMIT $2))
	RETURNING j.*
), h AS (
	INSERT INTO {s}.job_history (job_id, state, data, at)
	SELECT id, state, state_data, updated_at FROM leased
)
SELECT ` + jobCols + ` FROM leased ORDER BY array_position($5, queue), priority DESC, enqueued_seq`),

		// One statement applies a batch whose ids are distinct. The
		// compare-and-set is in the UPDATE's WHERE, which PostgreSQL
		// re-checks on the latest row version, and reaches rows by primary
		// key. The token alone proves Processing: only leased jobs have one.
		// History keeps traversed entries before the new state's. Rows not
		// updated are read back (as of the statement's start) so that the
		// caller can tell why.
		transition: r.Replace(`
WITH t AS (
	SELECT * FROM unnest($2::uuid[], $3::text[], $4::int8[], $5::text[], $6::json[], $7::text[],
		$8::text[], $9::timestamptz[], $10::timestamptz[], $11::jsonb[])
		WITH ORDINALITY AS t(id, from_states, token, to_state, data, reason, queue, run_at, expire_at, params, ord)
), upd AS (
	UPDATE {s}.jobs j SET
		state = t.to_state,
		state_data = t.data,
		updated_at = ` + clock + `,
		queue = coalesce(nullif(t.queue, ''), j.queue),
		run_at = CASE WHEN t.to_state = 'scheduled' THEN t.run_at ELSE j.run_at END,
		expire_at = CASE WHEN t.to_state IN ('succeeded', 'deleted') THEN t.expire_at END,
		params = CASE WHEN t.params IS NULL THEN j.params ELSE coalesce(j.params, '{}') || t.params END,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL,
		enqueued_seq = CASE WHEN t.to_state = 'enqueued' THEN nextval('{sl}.enqueue_seq') ELSE j.enqueued_seq END
	FROM t
	WHERE j.id = t.id AND (t.token = 0 OR j.lease_token = t.token)
		AND (t.from_states = '' OR j.state = ANY(string_to_array(t.from_states, ',')))
	RETURNING t.*
), h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT id, state, reason, data, at FROM (
		SELECT upd.id, tr.state, tr.reason, tr.data, tr.at, tr.ord, tr.n
		FROM unnest($12::int8[], $13::text[], $14::text[], $15::json[], $16::timestamptz[])
			WITH ORDINALITY AS tr(ord, state, reason, data, at, n)
		JOIN upd ON upd.ord = tr.ord
		UNION ALL
		SELECT id, to_state, reason, data, ` + clock + `, ord, 9223372036854775807 FROM upd
		ORDER BY ord, n) x
)
SELECT t.ord, f.state, f.lease_token FROM t
LEFT JOIN upd USING (ord)
LEFT JOIN LATERAL (
	SELECT state, coalesce(lease_token, 0) AS lease_token FROM {s}.jobs WHERE upd.ord IS NULL AND id = t.id
) f ON true
WHERE upd.ord IS NULL`),

		extend: r.Replace(`
WITH t AS (
	SELECT * FROM unnest($1::uuid[], $2::int8[]) AS t(id, token)
), upd AS (
	UPDATE {s}.jobs j SET lease_until = $4
	FROM t WHERE j.id = t.id AND j.lease_token = t.token AND j.lease_owner = $3
	RETURNING j.id
)
SELECT id FROM t WHERE id NOT IN (SELECT id FROM upd)`),

		promote: r.Replace(`
WITH moved AS (
	UPDATE {s}.jobs j SET state = 'enqueued', state_data = ` + enqueuedData + `,
		updated_at = ` + clock + `, enqueued_seq = nextval('{sl}.enqueue_seq')
	WHERE j.id = ANY(ARRAY(
		SELECT id FROM {s}.jobs WHERE state = 'scheduled' AND run_at <= ` + clock + `
		ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED))` + moveToEnqueued + `
SELECT (SELECT count(*) FROM moved),
	(SELECT run_at FROM {s}.jobs WHERE state = 'scheduled' AND id NOT IN (SELECT id FROM moved)
	 ORDER BY run_at LIMIT 1)`),

		reclaim: r.Replace(`
WITH moved AS (
	UPDATE {s}.jobs j SET state = 'enqueued', state_data = ` + enqueuedData + `,
		updated_at = ` + clock + `, enqueued_seq = nextval('{sl}.enqueue_seq'),
		lease_owner = NULL, lease_token = NULL, lease_until = NULL
	WHERE j.id = ANY(ARRAY(
		SELECT id FROM {s}.jobs WHERE lease_until <= ` + clock + `
		ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED))` + moveToEnqueued + `
SELECT count(*) FROM moved`),

		get:     r.Replace(`SELECT ` + jobCols + ` FROM {s}.jobs WHERE id = $1`),
		history: r.Replace(`SELECT state, reason, data, at FROM {s}.job_history WHERE job_id = $1 ORDER BY id`),
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
	}
}
