package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// await checks the parents of new Awaiting jobs, in the caller's
// transaction. Parents that are jobs are marked awaited, which locks them
// until commit, so that a Transition finishing one either comes first (and
// resolve then sees it finished) or reads the mark from the row it updates.
// The other parents must be batches; it returns them.
func (s *Store) await(ctx context.Context, tx db, parents []pgtype.UUID) ([]pgtype.UUID, error) {
	rows, err := tx.Query(ctx, s.q.await, parents)
	if err != nil {
		return nil, err
	}
	var (
		batches []pgtype.UUID
		id      pgtype.UUID
		exists  bool
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &exists}, func() error {
		if !exists {
			return fmt.Errorf("awaited job or batch %s: %w", uuid.UUID(id.Bytes), storage.ErrNotFound)
		}
		batches = append(batches, id)
		return nil
	})
	return batches, err
}

// resolve moves on the continuations of the finished jobs and batches among
// jobs and batches, in the caller's transaction, then those of the
// continuations it deleted, until none is left. Each round takes the
// batches' locks first, so that of two transactions finishing the last jobs
// of a batch the later one sees the batch finished. It returns the topics to
// wake: TopicEnqueued when a continuation became Enqueued.
func (s *Store) resolve(ctx context.Context, tx db, now time.Time, retention time.Duration, jobs, batches []pgtype.UUID) (storage.Topic, error) {
	var wake storage.Topic
	for len(jobs)+len(batches) > 0 {
		if len(batches) > 0 {
			slices.SortFunc(batches, func(a, b pgtype.UUID) int { return bytes.Compare(a.Bytes[:], b.Bytes[:]) })
			batches = slices.Compact(batches)
			if _, err := tx.Exec(ctx, s.q.lockBatches, batches); err != nil {
				return 0, err
			}
		}
		rows, err := tx.Query(ctx, s.q.resolve, ts(now), append(jobs, batches...), retention.Microseconds())
		if err != nil {
			return 0, err
		}
		jobs, batches = nil, nil
		var (
			state     string
			awaited   bool
			id, batch pgtype.UUID
		)
		_, err = pgx.ForEachRow(rows, []any{&state, &awaited, &id, &batch}, func() error {
			switch {
			case state == string(states.NameEnqueued):
				wake = storage.TopicEnqueued
			case awaited:
				jobs = append(jobs, id)
			}
			if state == string(states.NameDeleted) && batch.Valid {
				batches = append(batches, batch)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return wake, nil
}

// EnforcesUniqueKeys implements [storage.UniqueKeys].
func (s *Store) EnforcesUniqueKeys() {}

// ResolvesContinuations implements [storage.Continuations].
func (s *Store) ResolvesContinuations() {}

// BatchProgress implements [storage.Batches].
func (s *Store) BatchProgress(ctx context.Context, batchID uuid.UUID) (map[states.Name]int64, error) {
	out, err := s.countStates(ctx, "batch progress", s.q.batchProgress, uid(batchID))
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("pgstore: batch %s: %w", batchID, storage.ErrNotFound)
	}
	return out, err
}

// UpsertRecurring implements [storage.Recurring]. Zero CreatedAt and
// UpdatedAt mean the server's clock.
func (s *Store) UpsertRecurring(ctx context.Context, r *storage.RecurringJob) error {
	params, err := marshalParams(r.Params)
	if err != nil {
		return fmt.Errorf("pgstore: recurring job %q params: %w", r.ID, err)
	}
	if err := s.exec(ctx, "upsert recurring job "+r.ID, nil, s.q.upsertRecurring, r.ID, r.Task, r.Args, r.Spec, r.TimeZone,
		r.Queue, r.Priority, r.Misfire, r.Paused, ts(r.NextRun), ts(r.LastRun), optUID(r.LastJobID), ts(r.CreatedAt), ts(r.UpdatedAt),
		params, r.UniqueKey, r.UniqueFor.Microseconds()); err != nil {
		return err
	}
	return s.wake(ctx, storage.TopicRecurring)
}

// RemoveRecurring implements [storage.Recurring].
func (s *Store) RemoveRecurring(ctx context.Context, id string) error {
	return s.exec(ctx, "remove recurring job "+id, storage.ErrNotFound, s.q.removeRecurring, id)
}

// GetRecurring implements [storage.Recurring].
func (s *Store) GetRecurring(ctx context.Context, id string) (*storage.RecurringJob, error) {
	list, err := s.queryRecurring(ctx, "get recurring job "+id, s.q.getRecurring, id)
	if err == nil && len(list) == 0 {
		err = fmt.Errorf("pgstore: recurring job %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return list[0], nil
}

// ListRecurring implements [storage.Recurring].
func (s *Store) ListRecurring(ctx context.Context) ([]*storage.RecurringJob, error) {
	return s.queryRecurring(ctx, "list recurring jobs", s.q.listRecurring)
}

// DueRecurring implements [storage.Recurring].
func (s *Store) DueRecurring(ctx context.Context, now time.Time, limit int) ([]*storage.RecurringJob, time.Time, error) {
	due, err := s.queryRecurring(ctx, "due recurring jobs", s.q.dueRecurring, now, limit)
	if err != nil {
		return nil, time.Time{}, err
	}
	ids := make([]string, len(due))
	for i, r := range due {
		ids[i] = r.ID
	}
	var next pgtype.Timestamptz
	err = s.db.QueryRow(ctx, s.q.nextRecurring, ids).Scan(&next)
	return due, next.Time, interpretError("next recurring job", err)
}

// FireRecurring implements [storage.Recurring] in one transaction: the
// compare-and-set on the definition's next run, then Create's work.
func (s *Store) FireRecurring(ctx context.Context, p *storage.FireParams) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	var wake storage.Topic
	err := s.maybeTx(ctx, true, func(tx db) error {
		tag, err := tx.Exec(ctx, s.q.fire, p.ID, p.ExpectedNext, ts(p.NextRun), ts(p.LastRun), ts(p.Now))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("recurring job %q was fired or changed meanwhile: %w", p.ID, storage.ErrStateConflict)
		}
		ids, w, err := s.create(ctx, tx, &storage.CreateParams{Jobs: p.Jobs, Now: p.Now})
		if err != nil || len(ids) == 0 {
			return err
		}
		wake = w
		_, err = tx.Exec(ctx, s.q.setLastJob, p.ID, uid(ids[len(ids)-1]))
		return err
	})
	if err != nil {
		return interpretError("fire recurring job "+p.ID, err)
	}
	return s.wake(ctx, wake)
}

// SetRecurringPaused implements [storage.Recurring].
func (s *Store) SetRecurringPaused(ctx context.Context, id string, paused bool, nextRun time.Time) error {
	if err := s.exec(ctx, "pause recurring job "+id, storage.ErrNotFound, s.q.pauseRecurring, id, paused, ts(nextRun)); err != nil {
		return err
	}
	if paused {
		return nil
	}
	return s.wake(ctx, storage.TopicRecurring)
}

// queryRecurring runs sql, which returns recurringCols.
func (s *Store) queryRecurring(ctx context.Context, op, sql string, args ...any) ([]*storage.RecurringJob, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, interpretError(op, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.RecurringJob, error) {
		var (
			r         storage.RecurringJob
			next, run pgtype.Timestamptz
			last      pgtype.UUID
			params    []byte
			uniqueFor int64
		)
		err := row.Scan(&r.ID, &r.Task, &r.Args, &r.Spec, &r.TimeZone, &r.Queue, &r.Priority, &r.Misfire, &r.Paused,
			&next, &run, &last, &r.CreatedAt, &r.UpdatedAt, &params, &r.UniqueKey, &uniqueFor)
		if err != nil {
			return nil, err
		}
		r.NextRun, r.LastRun, r.LastJobID = next.Time, run.Time, last.Bytes
		r.UniqueFor = time.Duration(uniqueFor) * time.Microsecond
		if params != nil {
			if err := json.Unmarshal(params, &r.Params); err != nil {
				return nil, fmt.Errorf("recurring job %q params: %w", r.ID, err)
			}
		}
		return &r, nil
	})
	return list, interpretError(op, err)
}

// exec runs a statement. With none set, a statement that changes no row
// fails with it.
func (s *Store) exec(ctx context.Context, op string, none error, sql string, args ...any) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, sql, args...)
	if err == nil && none != nil && tag.RowsAffected() == 0 {
		err = none
	}
	return interpretError(op, err)
}

// TryLock implements [storage.Locker] with one upsert that takes the lock
// when it is free, expired or already the owner's. Expiry follows the
// server's clock.
func (s *Store) TryLock(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	tag, err := s.db.Exec(ctx, s.q.tryLock, key, owner, ttl.Microseconds())
	if err != nil {
		return false, interpretError("lock "+key, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Unlock implements [storage.Locker].
func (s *Store) Unlock(ctx context.Context, key, owner string) error {
	return s.exec(ctx, "unlock "+key, nil, s.q.unlock, key, owner)
}

// ListWorkers implements [storage.Workers].
func (s *Store) ListWorkers(ctx context.Context) ([]*storage.WorkerInfo, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, s.q.listWorkers)
	if err != nil {
		return nil, interpretError("list servers", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.WorkerInfo, error) {
		var (
			v       storage.WorkerInfo
			started pgtype.Timestamptz
		)
		err := row.Scan(&v.ID, &v.Host, &v.PID, &v.Queues, &v.Concurrency, &started, &v.HeartbeatAt)
		v.StartedAt = started.Time
		return &v, err
	})
	return list, interpretError("list servers", err)
}

// RemoveWorker implements [storage.Workers].
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	return s.exec(ctx, "remove worker "+id, nil, s.q.removeWorker, id)
}

// RemoveDeadWorkers implements [storage.Workers] with one statement that
// unregisters the servers and moves the jobs they lease to Enqueued.
func (s *Store) RemoveDeadWorkers(ctx context.Context, timeout time.Duration) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var (
		dead  []string
		moved int
	)
	if err := s.db.QueryRow(ctx, s.q.removeDead, nil, timeout.Microseconds()).Scan(&dead, &moved); err != nil {
		return nil, interpretError("remove dead servers", err)
	}
	if moved == 0 {
		return dead, nil
	}
	return dead, s.wake(ctx, storage.TopicEnqueued)
}

// optUID passes the zero UUID as NULL.
func optUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: id != uuid.Nil} }
