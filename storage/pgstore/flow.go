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

// awaitSQL: $1 parent ids → the parents that are not jobs, and whether each is a batch.
//
// Parents that are jobs are marked awaited, which also locks them
// against a concurrent Transition; the others are returned with
// whether they are a batch.
var awaitSQL = `
WITH marked AS (
	UPDATE {s}.jobs SET awaited = true
	WHERE id = ANY(ARRAY(SELECT id FROM {s}.jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE)) RETURNING id
)
SELECT p, EXISTS (SELECT 1 FROM {s}.jobs_all WHERE batch_id = p)
FROM unnest($1::uuid[]) p WHERE p NOT IN (SELECT id FROM marked)`

// await checks the parents of new Awaiting jobs, in the caller's
// transaction. Parents that are jobs are marked awaited, which locks them
// until commit, so that a Transition finishing one either comes first (and
// resolve then sees it finished) or reads the mark from the row it updates;
// a Failed parent moves back from jobs_kept to be marked (see unkeep).
// The other parents must be batches; it returns them.
func (s *Store) await(ctx context.Context, tx db, parents []pgtype.UUID) ([]pgtype.UUID, error) {
	if err := s.unkeep(ctx, tx, parents); err != nil {
		return nil, err
	}
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

// resolveSQL: $1 now, $2 parent ids (jobs or batches), $3 retention of deleted continuations (µs) → state, awaited, id, batch_id of each continuation moved.
//
// The continuations of the finished parents among $2 (jobs or
// batches) become Enqueued when their condition holds, else Deleted
// (expiring after $3 microseconds when positive); one marked
// args_from_result whose parent is a job that succeeded takes the
// parent's result as its args: the "result" JSON as stored (state_data is
// json, kept verbatim), else the base64 "result_bytes" decoded. Each continuation
// reads its parent's outcome by index as it is updated, rather than
// joining the parents to the children: every join between two row
// sets of the statement can be planned as a nested loop, quadratic
// in the batch (see TestPlansStayLinearInBatchSize).
var resolveSQL = `
WITH p AS (
	SELECT id, state = 'succeeded' AS success FROM {s}.jobs WHERE id = ANY($2::uuid[]) AND state IN ` + finished + `
	UNION ALL
	SELECT b, NOT EXISTS (SELECT 1 FROM {s}.jobs_all WHERE batch_id = b AND state <> 'succeeded')
	FROM unnest($2::uuid[]) b
	WHERE EXISTS (SELECT 1 FROM {s}.jobs_all WHERE batch_id = b)
		AND NOT EXISTS (SELECT 1 FROM {s}.jobs WHERE batch_id = b AND state NOT IN ` + finished + `)
), c AS (
	SELECT c.id FROM p CROSS JOIN LATERAL (
		SELECT id FROM {s}.jobs WHERE parent_id = p.id AND state = 'awaiting' OFFSET 0) c
), old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE id = ANY(ARRAY(SELECT id FROM c)) ORDER BY id FOR NO KEY UPDATE
), moved AS (
	UPDATE {s}.jobs j SET (state, state_data, state_reason, enqueued_seq, expire_at, unique_held, args) = (
		SELECT CASE WHEN run THEN 'enqueued' ELSE 'deleted' END,
			CASE WHEN run THEN ` + enqueuedData("'parent finished'") + `
				ELSE json_build_object('deleted_at', ` + clock + `, 'reason', 'continuation condition was not met') END,
			CASE WHEN run THEN 'parent finished' ELSE 'continuation condition was not met' END,
			CASE WHEN run THEN nextval('{sl}.enqueue_seq') END,
			CASE WHEN NOT run AND $3::int8 > 0 THEN ` + clock + ` + $3 * interval '1 microsecond' END,
			j.unique_held AND (run OR j.unique_until IS NOT NULL),
			CASE WHEN run AND success AND j.state_data->>'args_from_result' = 'true' THEN coalesce(
				(SELECT coalesce(convert_to((p.state_data->'result')::text, 'UTF8'), decode(p.state_data->>'result_bytes', 'base64'), ''::bytea)
				FROM {s}.jobs p WHERE p.id = j.parent_id AND p.state = 'succeeded'), j.args) ELSE j.args END
		FROM (SELECT CASE j.state_data->>'on' WHEN 'finish' THEN true WHEN 'failure' THEN NOT success ELSE success END AS run, success
			FROM (SELECT coalesce((SELECT state = 'succeeded' FROM {s}.jobs WHERE id = j.parent_id),
				NOT EXISTS (SELECT 1 FROM {s}.jobs_all WHERE batch_id = j.parent_id AND state <> 'succeeded')) AS success) ps) r),
		updated_at = ` + clock + `
	WHERE j.id = ANY(ARRAY(SELECT id FROM old)) AND j.state = 'awaiting'
	RETURNING j.id, j.state, j.awaited, j.batch_id
), ` + leaveHistory("state = 'awaiting'") + `
SELECT state, awaited, id, batch_id FROM moved`

// lockBatchesSQL: $1 batch ids → nothing (the batches' advisory locks, held until commit).
//
// Whether a batch has finished is decided under its lock, taken in a
// statement of its own so that the next one sees every commit made
// before it was granted.
var lockBatchesSQL = `SELECT pg_advisory_xact_lock(hashtextextended('{sl}' || b::text, 0))
FROM unnest($1::uuid[]) b`

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

// batchProgressSQL: $1 batch id → state, count.
var batchProgressSQL = `SELECT state, count(*) FROM {s}.jobs_all WHERE batch_id = $1 GROUP BY state`

// BatchProgress implements [storage.Batches].
func (s *Store) BatchProgress(ctx context.Context, batchID uuid.UUID) (map[states.Name]int64, error) {
	out, err := s.countStates(ctx, "batch progress", s.q.batchProgress, uid(batchID))
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("pgstore: batch %s: %w", batchID, storage.ErrNotFound)
	}
	return out, err
}

// upsertRecurringSQL: $1 id, $2 task, $3 args, $4 spec, $5 time zone, $6 queue, $7 priority, $8 misfire, $9 paused, $10 next_run, $11 last_run, $12 last_job_id, $13 created_at, $14 updated_at, $15 params, $16 unique_key, $17 unique_for (µs) → nothing.
//
// A definition declared again with the same spec and time zone keeps
// its schedule and pause; created_at is always kept.
var upsertRecurringSQL = `
INSERT INTO {s}.recurring_jobs AS r (id, task, args, spec, time_zone, queue, priority, misfire, paused,
	next_run, last_run, last_job_id, created_at, updated_at, params, unique_key, unique_for)
VALUES ($1, $2, coalesce($3::bytea, ''), $4, $5, $6, $7, $8, $9, $10, $11, $12, coalesce($13, now()), coalesce($14, now()),
	$15, $16, $17)
ON CONFLICT (id) DO UPDATE SET
	(task, args, spec, time_zone, queue, priority, misfire, updated_at, params, unique_key, unique_for) = (EXCLUDED.task,
		EXCLUDED.args, EXCLUDED.spec, EXCLUDED.time_zone, EXCLUDED.queue, EXCLUDED.priority, EXCLUDED.misfire,
		EXCLUDED.updated_at, EXCLUDED.params, EXCLUDED.unique_key, EXCLUDED.unique_for),
	paused = CASE WHEN ` + sameSchedule + ` THEN r.paused ELSE EXCLUDED.paused END,
	next_run = CASE WHEN ` + sameSchedule + ` THEN r.next_run ELSE EXCLUDED.next_run END,
	last_run = CASE WHEN ` + sameSchedule + ` THEN r.last_run ELSE EXCLUDED.last_run END,
	last_job_id = CASE WHEN ` + sameSchedule + ` THEN r.last_job_id ELSE EXCLUDED.last_job_id END`

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

// removeRecurringSQL: $1 id → nothing (rows affected: 0 when there is none).
var removeRecurringSQL = `DELETE FROM {s}.recurring_jobs WHERE id = $1`

// RemoveRecurring implements [storage.Recurring].
func (s *Store) RemoveRecurring(ctx context.Context, id string) error {
	return s.exec(ctx, "remove recurring job "+id, storage.ErrNotFound, s.q.removeRecurring, id)
}

// getRecurringSQL: $1 id → recurringCols of the definition.
var getRecurringSQL = `SELECT ` + recurringCols + ` FROM {s}.recurring_jobs WHERE id = $1`

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

// listRecurringSQL: () → recurringCols of every definition, by id.
var listRecurringSQL = `SELECT ` + recurringCols + ` FROM {s}.recurring_jobs ORDER BY id`

// ListRecurring implements [storage.Recurring].
func (s *Store) ListRecurring(ctx context.Context) ([]*storage.RecurringJob, error) {
	return s.queryRecurring(ctx, "list recurring jobs", s.q.listRecurring)
}

// nextRecurringSQL: $1 ids to leave out → the earliest next_run of the other unpaused definitions.
var nextRecurringSQL = `SELECT min(next_run) FROM {s}.recurring_jobs WHERE NOT paused AND id <> ALL($1)`

// dueRecurringSQL: $1 now, $2 limit → recurringCols of the unpaused definitions due, by id.
var dueRecurringSQL = `SELECT ` + recurringCols + ` FROM {s}.recurring_jobs
WHERE NOT paused AND next_run <= $1 ORDER BY id LIMIT $2`

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

// setLastJobSQL: $1 id, $2 job id → nothing.
var setLastJobSQL = `UPDATE {s}.recurring_jobs SET last_job_id = $2 WHERE id = $1`

// fireSQL: $1 id, $2 expected next_run, $3 new next_run, $4 last_run, $5 now → nothing (rows affected: 0 when another caller fired it).
//
// The compare-and-set on next_run: concurrent callers queue on the
// row lock and, once the first commits, find next_run moved.
var fireSQL = `UPDATE {s}.recurring_jobs SET next_run = $3, last_run = $4, updated_at = coalesce($5, now())
WHERE id = $1 AND NOT paused AND next_run = $2`

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
		last := p.LastJobID
		switch {
		case err != nil:
			return err
		case len(ids) > 0:
			last = ids[len(ids)-1]
		case last == uuid.Nil:
			return nil
		}
		wake = w
		_, err = tx.Exec(ctx, s.q.setLastJob, p.ID, uid(last))
		return err
	})
	if err != nil {
		return interpretError("fire recurring job "+p.ID, err)
	}
	return s.wake(ctx, wake)
}

// pauseRecurringSQL: $1 id, $2 paused, $3 next_run when resumed → nothing (rows affected: 0 when there is none).
var pauseRecurringSQL = `UPDATE {s}.recurring_jobs
SET paused = $2, next_run = CASE WHEN $2 THEN next_run ELSE $3 END, updated_at = now() WHERE id = $1`

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

// tryLockSQL: $1 key, $2 owner, $3 ttl (µs) → nothing (rows affected: 1 when owner holds the lock).
var tryLockSQL = `
INSERT INTO {s}.locks AS l (key, owner, until) VALUES ($1, $2, now() + $3 * interval '1 microsecond')
ON CONFLICT (key) DO UPDATE SET owner = EXCLUDED.owner, until = EXCLUDED.until
WHERE l.owner = EXCLUDED.owner OR l.until <= now()`

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

// unlockSQL: $1 key, $2 owner → nothing.
var unlockSQL = `DELETE FROM {s}.locks WHERE key = $1 AND owner = $2`

// Unlock implements [storage.Locker].
func (s *Store) Unlock(ctx context.Context, key, owner string) error {
	return s.exec(ctx, "unlock "+key, nil, s.q.unlock, key, owner)
}

// listWorkersSQL: () → id, host, pid, queues, concurrency, started_at, heartbeat_at, tasks of each worker, by id.
var listWorkersSQL = `SELECT id, host, pid, queues, concurrency, started_at, heartbeat_at, tasks FROM {s}.servers ORDER BY id`

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
		err := row.Scan(&v.ID, &v.Host, &v.PID, &v.Queues, &v.Concurrency, &started, &v.HeartbeatAt, &v.Tasks)
		v.StartedAt = started.Time
		return &v, err
	})
	return list, interpretError("list servers", err)
}

// removeWorkerSQL: $1 id → nothing.
var removeWorkerSQL = `DELETE FROM {s}.servers WHERE id = $1`

// RemoveWorker implements [storage.Workers].
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	return s.exec(ctx, "remove worker "+id, nil, s.q.removeWorker, id)
}

// removeDeadSQL: $1 unused, $2 timeout (µs) → the ids of the workers removed, the count of their jobs requeued.
//
// The dead servers' leased jobs go back to Enqueued in the same
// statement that unregisters the servers.
var removeDeadSQL = `
WITH dead AS (
	DELETE FROM {s}.servers WHERE heartbeat_at < now() - $2::bigint * interval '1 microsecond' RETURNING id
), old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE lease_until IS NOT NULL AND lease_owner IN (SELECT id FROM dead)
	ORDER BY id FOR NO KEY UPDATE
), moved AS (
	UPDATE {s}.jobs j SET ` + requeue(`'worker ' || j.lease_owner || '`+storage.ReasonWorkerDead+`'`) + moveToEnqueued + `
SELECT array(SELECT id FROM dead ORDER BY id), (SELECT count(*) FROM moved)`

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
