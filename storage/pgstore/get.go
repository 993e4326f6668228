package pgstore

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/storage"
)

// historySQL: $1 id → state, reason, data, at of every state the job has been in, oldest first.
//
// The states a job has left, then its current one. Those it left are in
// job_history, or in job_history_kept since it last became Failed (see
// keptHistory).
var historySQL = `SELECT state, reason, data, at FROM (
	SELECT id, state, reason, data, at FROM {s}.job_history WHERE job_id = $1
	UNION ALL
	SELECT id, state, reason, data, at FROM {s}.job_history_kept WHERE job_id = $1
	UNION ALL
	SELECT 9223372036854775807, state, coalesce(state_reason, ''), state_data, updated_at FROM {s}.jobs_all WHERE id = $1
) h ORDER BY id`

// Get implements [storage.Store].
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	j, err := s.Peek(ctx, id)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, s.q.history, uid(id))
	if err != nil {
		return nil, interpretError("get history", err)
	}
	j.History, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.StateRecord, error) {
		var h storage.StateRecord
		return h, r.Scan((*string)(&h.State), &h.Reason, &h.Data, &h.At)
	})
	return j, interpretError("get history", err)
}

// getSQL: $1 id → jobCols of the job, in jobs or jobs_kept.
var getSQL = `SELECT ` + jobCols + ` FROM {s}.jobs_all WHERE id = $1`

// Peek implements [storage.Peeker]: one query, on the job row.
func (s *Store) Peek(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, s.q.get, uid(id))
	if err != nil {
		return nil, interpretError("get", err)
	}
	j, err := pgx.CollectExactlyOneRow(rows, scanJob)
	if err != nil {
		return nil, interpretError("get job "+id.String(), err)
	}
	return j, nil
}
