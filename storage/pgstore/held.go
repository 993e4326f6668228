package pgstore

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/storage"
)

var _ storage.HeldCounter = (*Store)(nil)

// heldRunningSQL: () → queue, task, partition key, count of the leased
// jobs. It reads the lease index: a job holds a lease exactly while it is
// Processing.
const heldRunningSQL = `SELECT queue, task, coalesce(partition_key, ''), count(*) FROM {s}.jobs
WHERE lease_until IS NOT NULL AND state = 'processing' GROUP BY 1, 2, 3`

// heldSQL: $1 the queues, $2 the tasks held back whole, $3 and $4 the
// partitions held back (task, key) → queue, count of its Enqueued jobs
// held back by any of them, each counted once.
const heldSQL = `SELECT queue, count(*) FROM {s}.jobs
WHERE state = 'enqueued' AND (queue = ANY($1::text[]) OR task = ANY($2::text[])
	OR (task, coalesce(partition_key, '')) IN (SELECT * FROM unnest($3::text[], $4::text[])))
GROUP BY queue`

// CountHeld implements [storage.HeldCounter]. It reads the limits, the
// GCRA times and the leased jobs (the lease index), and only when a limit
// is full counts the Enqueued jobs it holds back, in one scan of them: a
// monitoring call.
func (s *Store) CountHeld(ctx context.Context) (map[string]int64, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	limits, now, err := s.readLimits(ctx, s.db)
	if err != nil || len(limits) == 0 {
		return out, err
	}
	h := storage.NewHolds(limits, now)
	tats, err := s.readRates(ctx, s.db)
	if err != nil {
		return nil, err
	}
	for k, tat := range tats {
		h.Rate(k.scope, k.name, k.partition, tat)
	}
	rows, err := s.db.Query(ctx, s.q.heldRunning)
	if err != nil {
		return nil, interpretError("count held", err)
	}
	var (
		queue, task, pk string
		n               int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&queue, &task, &pk, &n}, func() error {
		h.Running(queue, task, pk, n)
		return nil
	}); err != nil {
		return nil, interpretError("count held", err)
	}
	queues, tasks, parts := h.Full()
	if len(queues)+len(tasks)+len(parts) == 0 {
		return out, nil
	}
	partTasks, partKeys := make([]string, len(parts)), make([]string, len(parts))
	for i, p := range parts {
		partTasks[i], partKeys[i] = p[0], p[1]
	}
	if rows, err = s.db.Query(ctx, s.q.held, queues, tasks, partTasks, partKeys); err == nil {
		_, err = pgx.ForEachRow(rows, []any{&queue, &n}, func() error {
			out[queue] = n
			return nil
		})
	}
	if err != nil {
		return nil, interpretError("count held", err)
	}
	return out, nil
}
