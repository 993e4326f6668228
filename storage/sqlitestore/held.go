package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// CountHeld implements [storage.HeldCounter]: it reads the limits, the
// Processing jobs and the GCRA times, and, when a limit is full, counts
// the Enqueued jobs per queue, task and partition key.
func (s *Store) CountHeld(ctx context.Context) (map[string]int64, error) {
	var out map[string]int64
	err := s.read(ctx, func(q querier) error {
		out = map[string]int64{} // anew on each try: a busy read is retried
		query := func(query string, args ...any) (*sql.Rows, error) { return q.QueryContext(ctx, query, args...) }
		limits, err := queryLimits(query)
		if err != nil || len(limits) == 0 {
			return err
		}
		h := storage.NewHolds(limits, clock(time.Time{}))
		err = eachRow(query, `SELECT scope, name, partition_key, tat FROM limit_rates`, func(rows *sql.Rows) error {
			var (
				scope, name, pk string
				us              int64
			)
			if err := rows.Scan(&scope, &name, &pk, &us); err != nil {
				return err
			}
			h.Rate(storage.LimitScope(scope), name, pk, time.UnixMicro(us).UTC())
			return nil
		})
		if err != nil {
			return err
		}
		err = eachGroup(query, "processing", func(queue, task, pk string, n int64) { h.Running(queue, task, pk, n) })
		if queues, tasks, parts := h.Full(); err != nil || len(queues)+len(tasks)+len(parts) == 0 {
			return err
		}
		return eachGroup(query, "enqueued", func(queue, task, pk string, n int64) {
			if h.Held(queue, task, pk) {
				out[queue] += n
			}
		})
	})
	return out, interpretError("count held", err)
}

// eachGroup calls fn with the number of jobs in state of each queue, task
// and partition key.
func eachGroup(query func(string, ...any) (*sql.Rows, error), state string, fn func(queue, task, pk string, n int64)) error {
	return eachRow(query, `SELECT queue, task, coalesce(partition_key, ''), count(*) FROM jobs WHERE state = ? GROUP BY 1, 2, 3`,
		func(rows *sql.Rows) error {
			var (
				queue, task, pk string
				n               int64
			)
			if err := rows.Scan(&queue, &task, &pk, &n); err != nil {
				return err
			}
			fn(queue, task, pk, n)
			return nil
		}, state)
}

// eachRow calls fn on each row of q.
func eachRow(query func(string, ...any) (*sql.Rows, error), q string, fn func(*sql.Rows) error, args ...any) error {
	rows, err := query(q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
