package pgstore

import (
	"context"
	"strconv"

	"github.com/taskflow-go/taskflow/storage"
)

// pruneSQL: $1 now, $2 limit → the count of jobs removed with their
// history, logs and progress.
//
// It also moves up to $2 Failed jobs to jobs_kept (kept.go): those that
// hold no unique key and never expire. It releases the keys of Failed
// jobs whose unique_until has passed, as Create would before reusing
// them, so that the next call moves those too. It deletes up to $2 GCRA
// times of rate limits that passed storage.RateTimeKept ago or more (flow
// control reads a past time as none), so that one partition key per tenant
// does not keep a row for ever. Each part locks its rows
// and skips those locked: a job being changed stays where it is. The
// deletes of empty id arrays cost an index probe each.
var pruneSQL = `
WITH d AS (
	DELETE FROM {s}.jobs WHERE id = ANY(ARRAY(
		SELECT id FROM {s}.jobs WHERE expire_at <= ` + clock + `
		ORDER BY expire_at LIMIT $2 FOR UPDATE SKIP LOCKED))
	RETURNING id
), h AS (
	DELETE FROM {s}.job_history WHERE job_id = ANY(ARRAY(SELECT id FROM d))
), hk AS (
	DELETE FROM {s}.job_history_kept WHERE job_id = ANY(ARRAY(SELECT id FROM d))
), l AS (
	DELETE FROM {s}.job_logs WHERE job_id = ANY(ARRAY(SELECT id FROM d))
), pr AS (
	DELETE FROM {s}.job_progress WHERE job_id = ANY(ARRAY(SELECT id FROM d))
), k AS (
	DELETE FROM {s}.jobs WHERE id = ANY(ARRAY(
		SELECT id FROM {s}.jobs WHERE state = 'failed' AND expire_at IS NULL AND NOT unique_held
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED))
	RETURNING *
), ki AS (
	INSERT INTO {s}.jobs_kept SELECT * FROM k
), r AS (
	DELETE FROM {s}.limit_rates WHERE (scope, name, partition_key) IN (
		SELECT scope, name, partition_key FROM {s}.limit_rates
		WHERE tat <= ` + clock + ` - ` + strconv.FormatInt(storage.RateTimeKept.Microseconds(), 10) + ` * interval '1 microsecond'
		LIMIT $2 FOR UPDATE SKIP LOCKED)
), u AS (
	UPDATE {s}.jobs SET unique_held = false WHERE id = ANY(ARRAY(
		SELECT id FROM {s}.jobs WHERE state = 'failed' AND unique_held AND unique_until <= ` + clock + `
		ORDER BY id LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED))
)
SELECT count(*) FROM d`

// DeleteExpired implements [storage.Pruner].
func (s *Store) DeleteExpired(ctx context.Context, p *storage.PruneParams) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRow(ctx, s.q.prune, ts(p.Now), p.Limit).Scan(&n); err != nil {
		return 0, interpretError("delete expired", err)
	}
	_, err := s.db.Exec(ctx, s.q.pruneStats, ts(p.Now), storage.StatsRetention.Microseconds())
	return n, interpretError("delete expired statistics", err)
}

// pruneStatsSQL: $1 now, $2 retention (µs) → nothing.
var pruneStatsSQL = `DELETE FROM {s}.stats WHERE minute < ` + clock + ` - $2 * interval '1 microsecond'`
