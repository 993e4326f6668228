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

// listQueuesSQL: () → name, paused, enqueued count, enqueued time of the
// job next to run, of every queue with Enqueued jobs or paused, by name.
// It walks the fetch index only: the queues by a loose index scan, each
// queue's count by an index-only scan, and the job next to run (highest
// priority, first enqueued) by the index's first entry. So the time it
// gives is that job's, which is the oldest in a queue without priorities.
var listQueuesSQL = `WITH RECURSIVE qs AS (
	(SELECT queue FROM {s}.jobs WHERE state = 'enqueued' ORDER BY queue LIMIT 1)
	UNION ALL
	SELECT (SELECT j.queue FROM {s}.jobs j WHERE j.state = 'enqueued' AND j.queue > qs.queue ORDER BY j.queue LIMIT 1)
	FROM qs WHERE qs.queue IS NOT NULL
), waiting AS (
	SELECT q.queue AS name,
		(SELECT count(*) FROM {s}.jobs j WHERE j.state = 'enqueued' AND j.queue = q.queue) AS n,
		(SELECT j.updated_at FROM {s}.jobs j WHERE j.state = 'enqueued' AND j.queue = q.queue
			ORDER BY j.priority DESC, j.enqueued_seq LIMIT 1) AS oldest
	FROM qs q WHERE q.queue IS NOT NULL
)
SELECT name, bool_or(paused), sum(n)::int8, min(oldest) FROM (
	SELECT name, false AS paused, n, oldest FROM waiting
	UNION ALL
	SELECT name, true, 0, NULL FROM {s}.queues WHERE paused
) x GROUP BY name ORDER BY name`

// ListQueues implements [storage.Queues].
func (s *Store) ListQueues(ctx context.Context) ([]storage.QueueInfo, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var list []storage.QueueInfo
	// The planner costs the index walks high enough to compile them
	// (JIT), which takes longer than running them: off for this statement.
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, s.q.listQueues)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.QueueInfo, error) {
			var (
				q      storage.QueueInfo
				oldest pgtype.Timestamptz
			)
			err := r.Scan(&q.Name, &q.Paused, &q.Enqueued, &oldest)
			q.OldestEnqueued = oldest.Time
			return q, err
		})
		return err
	})
	return list, interpretError("list queues", err)
}
