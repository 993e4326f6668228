package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/storage"
)

var _ storage.Queues = (*Store)(nil)

// pauseQueueSQL: $1 queue, $2 paused → nothing.
var pauseQueueSQL = `INSERT INTO {s}.queues (name, paused, paused_at) VALUES ($1, $2, CASE WHEN $2 THEN now() END)
ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, paused_at = EXCLUDED.paused_at`

// SetQueuePaused implements [storage.Queues]. Every worker's fetch reads
// the paused queues, so a pause holds at once on every host.
func (s *Store) SetQueuePaused(ctx context.Context, queue string, paused bool) error {
	if err := s.exec(ctx, "pause queue "+queue, nil, s.q.pauseQueue, queue, paused); err != nil {
		return err
	}
	if !paused {
		return s.wake(ctx, storage.TopicEnqueued)
	}
	return nil
}

// listQueuesSQL: () → name, paused, enqueued count, oldest enqueued time
// of every queue with Enqueued jobs or paused, by name. It counts exactly,
// reading every Enqueued row through the fetch index.
var listQueuesSQL = `SELECT name, bool_or(paused), sum(n)::int8, min(oldest) FROM (
	SELECT queue AS name, false AS paused, count(*) AS n, min(updated_at) AS oldest
	FROM {s}.jobs WHERE state = 'enqueued' GROUP BY queue
	UNION ALL
	SELECT name, true, 0, NULL FROM {s}.queues WHERE paused
) x GROUP BY name ORDER BY name`

// ListQueues implements [storage.Queues].
func (s *Store) ListQueues(ctx context.Context) ([]storage.QueueInfo, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, s.q.listQueues)
	if err != nil {
		return nil, interpretError("list queues", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.QueueInfo, error) {
		var (
			q      storage.QueueInfo
			oldest pgtype.Timestamptz
		)
		err := r.Scan(&q.Name, &q.Paused, &q.Enqueued, &oldest)
		q.OldestEnqueued = oldest.Time
		return q, err
	})
	return list, interpretError("list queues", err)
}
