package pgstore

import (
	"context"

	"github.com/taskflow-go/taskflow/storage"
)

// pruneSQL: $1 now, $2 limit → the count of jobs removed with their history.
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
