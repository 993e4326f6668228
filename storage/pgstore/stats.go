package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/storage"
)

// statsSQL: $1 from, $2 to, $3 step (µs) → the start of each period with
// counts, its succeeded, failed and deleted counts.
var statsSQL = `SELECT date_bin($3 * interval '1 microsecond', minute, 'epoch'::timestamptz) AS at,
	sum(succeeded)::int8, sum(failed)::int8, sum(deleted)::int8
FROM {s}.stats WHERE minute >= date_bin($3 * interval '1 microsecond', $1, 'epoch'::timestamptz) AND minute < $2
GROUP BY 1`

// Stats implements [storage.Statistics].
func (s *Store) Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]storage.StatsPoint, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	step = max(step.Truncate(time.Minute), time.Minute)
	rows, err := s.db.Query(ctx, s.q.stats, from, to, step.Microseconds())
	if err != nil {
		return nil, interpretError("statistics", err)
	}
	counted := map[time.Time]storage.StatsPoint{}
	var p storage.StatsPoint
	_, err = pgx.ForEachRow(rows, []any{&p.At, &p.Succeeded, &p.Failed, &p.Deleted}, func() error {
		counted[p.At.UTC()] = p
		return nil
	})
	if err != nil {
		return nil, interpretError("statistics", err)
	}
	return storage.FillStats(from.UTC(), to, step, counted), nil
}
