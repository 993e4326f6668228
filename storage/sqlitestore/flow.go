package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// uniqueHolder returns the job holding key at now, or uuid.Nil. A finished
// job whose hold has passed releases the key first.
func (w *wtx) uniqueHolder(key string, now time.Time) (uuid.UUID, error) {
	if _, err := w.exec(`UPDATE jobs SET unique_held = 0 WHERE unique_key = ? AND unique_held AND state IN `+finishedStates+`
		AND (unique_until IS NULL OR unique_until <= ?)`, key, now.UnixMicro()); err != nil {
		return uuid.Nil, err
	}
	var id []byte
	err := w.queryRow(`SELECT id FROM jobs WHERE unique_key = ? AND unique_held`, key).Scan(&id)
	if err == sql.ErrNoRows {
		return uuid.Nil, nil
	}
	var out uuid.UUID
	copy(out[:], id)
	return out, err
}

// await files Awaiting job j under its parent, which must exist (a job,
// or a batch with jobs), and resolves it at once when the parent has
// already finished.
func (w *wtx) await(j *storage.Job, now time.Time, retention time.Duration) error {
	var state sql.NullString
	err := w.queryRow(`UPDATE jobs SET awaited = 1 WHERE id = ? RETURNING state`, uid(j.ParentID)).Scan(&state)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	if state.Valid {
		if !states.Name(state.String).Finished() {
			return nil
		}
		return w.resolve(j.ID, j.Queue, j.StateData, state.String == string(states.NameSucceeded), now, retention)
	}
	var exists bool
	if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM jobs WHERE batch_id = ?)`, uid(j.ParentID)).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("sqlitestore: job %s awaits %s: %w", j.ID, j.ParentID, storage.ErrNotFound)
	}
	done, success, err := w.batchOutcome(j.ParentID)
	if err != nil || !done {
		return err
	}
	return w.resolve(j.ID, j.Queue, j.StateData, success, now, retention)
}

// batchOutcome reports whether every job of batch id has finished, and
// whether each succeeded.
func (w *wtx) batchOutcome(id uuid.UUID) (done, success bool, err error) {
	var open, failed bool
	err = w.queryRow(`SELECT EXISTS (SELECT 1 FROM jobs WHERE batch_id = ?1 AND state IN `+unfinishedStates+`),
		EXISTS (SELECT 1 FROM jobs WHERE batch_id = ?1 AND state IN ('failed', 'deleted'))`, uid(id)).Scan(&open, &failed)
	return !open, !failed, err
}

// finished resolves what awaits job id, which has just finished in state
// to, and its batch if the batch has finished with it.
func (w *wtx) finished(id uuid.UUID, to states.Name, awaited bool, batch []byte, now time.Time, retention time.Duration) error {
	if awaited {
		if err := w.resolveChildren(id, to == states.NameSucceeded, now, retention); err != nil {
			return err
		}
	}
	if len(batch) != 16 {
		return nil
	}
	var b uuid.UUID
	copy(b[:], batch)
	var waiting bool
	if err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM jobs WHERE parent_id = ? AND state = 'awaiting')`, uid(b)).Scan(&waiting); err != nil || !waiting {
		return err
	}
	done, success, err := w.batchOutcome(b)
	if err != nil || !done {
		return err
	}
	return w.resolveChildren(b, success, now, retention)
}

// resolveChildren resolves every job awaiting parent, which finished.
func (w *wtx) resolveChildren(parent uuid.UUID, success bool, now time.Time, retention time.Duration) error {
	rows, err := w.query(`SELECT id, queue, state_data FROM jobs WHERE parent_id = ? AND state = 'awaiting'`, uid(parent))
	if err != nil {
		return err
	}
	type child struct {
		id    uuid.UUID
		queue string
		data  []byte
	}
	var children []child
	for rows.Next() {
		var (
			id   []byte
			c    child
			data sql.NullString
		)
		if err := rows.Scan(&id, &c.queue, &data); err != nil {
			rows.Close()
			return err
		}
		copy(c.id[:], id)
		c.data = []byte(data.String)
		children = append(children, c)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, c := range children {
		if err := w.resolve(c.id, c.queue, c.data, success, now, retention); err != nil {
			return err
		}
	}
	return nil
}

// resolve moves an Awaiting job on: to Enqueued when its condition holds,
// else to Deleted, which finishes it in turn.
func (w *wtx) resolve(id uuid.UUID, queue string, data []byte, success bool, now time.Time, retention time.Duration) error {
	var aw states.Awaiting
	if st, err := states.Unmarshal(states.NameAwaiting, data); err == nil {
		aw = st.(states.Awaiting)
	}
	m := &move{id: id, from: []states.Name{states.NameAwaiting}}
	var err error
	if aw.On.Holds(success) {
		if aw.ArgsFromResult && success {
			if err := w.argsFromResult(id); err != nil {
				return err
			}
		}
		m.to, m.reason = states.NameEnqueued, "parent finished"
		m.data, err = states.Marshal(states.Enqueued{Queue: queue, EnqueuedAt: now, Reason: m.reason})
	} else {
		m.to, m.reason = states.NameDeleted, "continuation condition was not met"
		m.data, err = states.Marshal(states.Deleted{DeletedAt: now, Reason: m.reason})
		if retention > 0 {
			m.expireAt = now.Add(retention)
		}
	}
	if err != nil {
		return err
	}
	_, err = w.apply(m, now, retention)
	return err
}

// argsFromResult makes the result of the parent of job id, when that is a
// job that Succeeded, the job's args.
func (w *wtx) argsFromResult(id uuid.UUID) error {
	var data sql.NullString
	err := w.queryRow(`SELECT p.state_data FROM jobs c JOIN jobs p ON p.id = c.parent_id
		WHERE c.id = ? AND p.state = 'succeeded'`, uid(id)).Scan(&data)
	if err == sql.ErrNoRows {
		return nil // the parent is a batch
	}
	if err != nil {
		return err
	}
	st, err := states.Unmarshal(states.NameSucceeded, []byte(data.String))
	if err != nil {
		return fmt.Errorf("sqlitestore: result of the parent of job %s: %w", id, err)
	}
	args := st.(states.Succeeded).Result
	if args == nil {
		args = []byte{}
	}
	_, err = w.exec(`UPDATE jobs SET args = ? WHERE id = ?`, args, uid(id))
	return err
}

// EnforcesUniqueKeys implements [storage.UniqueKeys].
func (s *Store) EnforcesUniqueKeys() {}

// ResolvesContinuations implements [storage.Continuations].
func (s *Store) ResolvesContinuations() {}

// BatchProgress implements [storage.Batches].
func (s *Store) BatchProgress(ctx context.Context, id uuid.UUID) (map[states.Name]int64, error) {
	out := map[states.Name]int64{}
	err := s.read(ctx, func(conn querier) error {
		clear(out)
		rows, err := conn.QueryContext(ctx, `SELECT state, count(*) FROM jobs WHERE batch_id = ? GROUP BY state`, uid(id))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				st string
				n  int64
			)
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			out[states.Name(st)] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, interpretError("batch progress", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sqlitestore: batch %s: %w", id, storage.ErrNotFound)
	}
	return out, nil
}

// ListBatches implements [storage.BatchLister] by a loose scan of
// jobs_batch from the cursor: one seek per batch (the max, or backwards
// the min, of the IDs beyond the last), however many jobs each has.
func (s *Store) ListBatches(ctx context.Context, p *storage.BatchListParams) ([]uuid.UUID, error) {
	next, cmp := "max", "<"
	if p.Backward {
		next, cmp = "min", ">"
	}
	from, args := "batch_id IS NOT NULL", []any{}
	if p.Cursor != uuid.Nil {
		from, args = "batch_id "+cmp+" ?", append(args, uid(p.Cursor))
	}
	limit := p.Limit
	if limit <= 0 {
		limit = -1
	}
	q := `WITH RECURSIVE b(id) AS (
		SELECT ` + next + `(batch_id) FROM jobs WHERE ` + from + `
		UNION ALL
		SELECT (SELECT ` + next + `(batch_id) FROM jobs WHERE batch_id ` + cmp + ` b.id) FROM b WHERE b.id IS NOT NULL
	) SELECT id FROM b WHERE id IS NOT NULL LIMIT ?`
	args = append(args, limit)
	var out []uuid.UUID
	err := s.read(ctx, func(conn querier) error {
		out = out[:0]
		rows, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				b  []byte
				id uuid.UUID
			)
			if err := rows.Scan(&b); err != nil {
				return err
			}
			copy(id[:], b)
			out = append(out, id)
		}
		return rows.Err()
	})
	return out, interpretError("list batches", err)
}

const recurringCols = `id, task, args, spec, time_zone, queue, priority, misfire, paused, next_run, last_run,
	last_job_id, created_at, updated_at, params, unique_key, unique_for`

func scanRecurring(r scanner) (*storage.RecurringJob, error) {
	var (
		j                          storage.RecurringJob
		next, last                 sql.NullInt64
		created, updated, uniqueFr int64
		lastJob                    []byte
		params                     sql.NullString
	)
	if err := r.Scan(&j.ID, &j.Task, &j.Args, &j.Spec, &j.TimeZone, &j.Queue, &j.Priority, &j.Misfire, &j.Paused,
		&next, &last, &lastJob, &created, &updated, &params, &j.UniqueKey, &uniqueFr); err != nil {
		return nil, err
	}
	j.NextRun, j.LastRun = fromMicros(next), fromMicros(last)
	j.CreatedAt, j.UpdatedAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	copy(j.LastJobID[:], lastJob)
	j.UniqueFor = time.Duration(uniqueFr) * time.Microsecond
	if params.Valid && params.String != "" {
		if err := json.Unmarshal([]byte(params.String), &j.Params); err != nil {
			return nil, err
		}
	}
	if j.Args == nil {
		j.Args = []byte{}
	}
	return &j, nil
}

// UpsertRecurring implements [storage.Recurring].
func (s *Store) UpsertRecurring(ctx context.Context, r *storage.RecurringJob) error {
	params, err := encodeParams(r.Params)
	if err != nil {
		return err
	}
	now := clock(time.Time{})
	created, updated := r.CreatedAt, r.UpdatedAt
	if created.IsZero() {
		created = now
	}
	if updated.IsZero() {
		updated = now
	}
	err = s.write(ctx, func(w *wtx) error {
		args := r.Args
		if args == nil {
			args = []byte{}
		}
		_, err := w.exec(`INSERT INTO recurring_jobs AS r (`+recurringCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET task = excluded.task, args = excluded.args, queue = excluded.queue,
				priority = excluded.priority, misfire = excluded.misfire, updated_at = excluded.updated_at,
				params = excluded.params, unique_key = excluded.unique_key, unique_for = excluded.unique_for,
				next_run = CASE WHEN (r.spec, r.time_zone) = (excluded.spec, excluded.time_zone) THEN r.next_run ELSE excluded.next_run END,
				last_run = CASE WHEN (r.spec, r.time_zone) = (excluded.spec, excluded.time_zone) THEN r.last_run ELSE excluded.last_run END,
				last_job_id = CASE WHEN (r.spec, r.time_zone) = (excluded.spec, excluded.time_zone) THEN r.last_job_id ELSE excluded.last_job_id END,
				paused = CASE WHEN (r.spec, r.time_zone) = (excluded.spec, excluded.time_zone) THEN r.paused ELSE excluded.paused END,
				spec = excluded.spec, time_zone = excluded.time_zone`,
			r.ID, r.Task, args, r.Spec, r.TimeZone, r.Queue, r.Priority, r.Misfire, r.Paused, micros(r.NextRun), micros(r.LastRun),
			nullUID(r.LastJobID), created.UnixMicro(), updated.UnixMicro(), params, r.UniqueKey, r.UniqueFor.Microseconds())
		w.wake(storage.TopicRecurring)
		return err
	})
	return interpretError("upsert recurring", err)
}

// RemoveRecurring implements [storage.Recurring].
func (s *Store) RemoveRecurring(ctx context.Context, id string) error {
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`DELETE FROM recurring_jobs WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlitestore: recurring job %q: %w", id, storage.ErrNotFound)
		}
		return nil
	})
	return err
}

// GetRecurring implements [storage.Recurring].
func (s *Store) GetRecurring(ctx context.Context, id string) (*storage.RecurringJob, error) {
	out, err := s.queryRecurring(ctx, `SELECT `+recurringCols+` FROM recurring_jobs WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sqlitestore: recurring job %q: %w", id, storage.ErrNotFound)
	}
	return out[0], nil
}

// ListRecurring implements [storage.Recurring].
func (s *Store) ListRecurring(ctx context.Context) ([]*storage.RecurringJob, error) {
	return s.queryRecurring(ctx, `SELECT `+recurringCols+` FROM recurring_jobs ORDER BY id`)
}

// DueRecurring implements [storage.Recurring].
func (s *Store) DueRecurring(ctx context.Context, now time.Time, limit int) ([]*storage.RecurringJob, time.Time, error) {
	due, err := s.queryRecurring(ctx, `SELECT `+recurringCols+` FROM recurring_jobs
		WHERE NOT paused AND next_run IS NOT NULL AND next_run <= ? ORDER BY id LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return nil, time.Time{}, err
	}
	var next sql.NullInt64
	err = s.read(ctx, func(conn querier) error {
		q := `SELECT min(next_run) FROM recurring_jobs WHERE NOT paused AND next_run IS NOT NULL AND next_run > ?`
		args := []any{now.UnixMicro()}
		if len(due) == limit { // due ones beyond the limit count as the rest
			q = `SELECT min(next_run) FROM recurring_jobs WHERE NOT paused AND next_run IS NOT NULL AND id NOT IN (SELECT value FROM json_each(?))`
			ids := make([]string, len(due))
			for i, r := range due {
				ids[i] = r.ID
			}
			b, _ := json.Marshal(ids)
			args = []any{string(b)}
		}
		return conn.QueryRowContext(ctx, q, args...).Scan(&next)
	})
	if err != nil {
		return nil, time.Time{}, interpretError("due recurring", err)
	}
	return due, fromMicros(next), nil
}

func (s *Store) queryRecurring(ctx context.Context, q string, args ...any) ([]*storage.RecurringJob, error) {
	var out []*storage.RecurringJob
	err := s.read(ctx, func(conn querier) error {
		out = out[:0]
		rows, err := conn.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRecurring(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, interpretError("recurring", err)
}

// FireRecurring implements [storage.Recurring].
func (s *Store) FireRecurring(ctx context.Context, p *storage.FireParams) error {
	now := clock(p.Now)
	err := s.write(ctx, func(w *wtx) error {
		var ok bool
		err := w.queryRow(`SELECT EXISTS (SELECT 1 FROM recurring_jobs WHERE id = ? AND NOT paused AND next_run IS ?)`,
			p.ID, micros(p.ExpectedNext)).Scan(&ok)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("sqlitestore: recurring job %q was fired or changed meanwhile: %w", p.ID, storage.ErrStateConflict)
		}
		ids, err := w.create(p.Jobs, now, 0)
		if err != nil {
			return err
		}
		last := nullUID(p.LastJobID)
		if len(ids) > 0 {
			last = uid(ids[len(ids)-1])
		}
		_, err = w.exec(`UPDATE recurring_jobs SET next_run = ?, last_run = ?, updated_at = ?, last_job_id = coalesce(?, last_job_id) WHERE id = ?`,
			micros(p.NextRun), micros(p.LastRun), now.UnixMicro(), last, p.ID)
		return err
	})
	return interpretError("fire recurring", err)
}

// SetRecurringPaused implements [storage.Recurring].
func (s *Store) SetRecurringPaused(ctx context.Context, id string, paused bool, nextRun time.Time) error {
	err := s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`UPDATE recurring_jobs SET paused = ?, next_run = CASE WHEN ? THEN next_run ELSE ? END WHERE id = ?`,
			paused, paused, micros(nextRun), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlitestore: recurring job %q: %w", id, storage.ErrNotFound)
		}
		if !paused {
			w.wake(storage.TopicRecurring)
		}
		return nil
	})
	return err
}

// TryLock implements [storage.Locker].
func (s *Store) TryLock(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	var got bool
	err := s.write(ctx, func(w *wtx) error {
		now := clock(time.Time{})
		err := w.queryRow(`INSERT INTO locks (key, owner, until) VALUES (?1, ?2, ?3)
			ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE locks.owner = excluded.owner OR locks.until <= ?4
			RETURNING 1`, key, owner, now.Add(ttl).UnixMicro(), now.UnixMicro()).Scan(new(int))
		got = err == nil
		if err == sql.ErrNoRows {
			return nil
		}
		return err
	})
	return got, interpretError("lock", err)
}

// Unlock implements [storage.Locker].
func (s *Store) Unlock(ctx context.Context, key, owner string) error {
	err := s.write(ctx, func(w *wtx) error {
		_, err := w.exec(`DELETE FROM locks WHERE key = ? AND owner = ?`, key, owner)
		return err
	})
	return interpretError("unlock", err)
}

// heartbeat registers the worker, stamped with the store's clock.
func (w *wtx) heartbeat(v *storage.WorkerInfo) error {
	queues, err := json.Marshal(v.Queues)
	if err != nil {
		return err
	}
	tasks, err := json.Marshal(v.Tasks)
	if err != nil {
		return err
	}
	_, err = w.exec(`INSERT INTO servers (id, host, pid, queues, concurrency, started_at, heartbeat_at, tasks) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues,
			concurrency = excluded.concurrency, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
			tasks = excluded.tasks`,
		v.ID, v.Host, v.PID, string(queues), v.Concurrency, micros(v.StartedAt), clock(time.Time{}).UnixMicro(), string(tasks))
	return err
}

// ListWorkers implements [storage.Workers].
func (s *Store) ListWorkers(ctx context.Context) ([]*storage.WorkerInfo, error) {
	var out []*storage.WorkerInfo
	err := s.read(ctx, func(conn querier) error {
		out = out[:0]
		rows, err := conn.QueryContext(ctx, `SELECT id, host, pid, queues, concurrency, started_at, heartbeat_at, tasks FROM servers ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				v         storage.WorkerInfo
				queues    string
				tasks     string
				started   sql.NullInt64
				heartbeat int64
			)
			if err := rows.Scan(&v.ID, &v.Host, &v.PID, &queues, &v.Concurrency, &started, &heartbeat, &tasks); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(queues), &v.Queues); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(tasks), &v.Tasks); err != nil {
				return err
			}
			v.StartedAt, v.HeartbeatAt = fromMicros(started), time.UnixMicro(heartbeat).UTC()
			out = append(out, &v)
		}
		return rows.Err()
	})
	return out, interpretError("list workers", err)
}

// RemoveWorker implements [storage.Workers].
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	err := s.write(ctx, func(w *wtx) error {
		_, err := w.exec(`DELETE FROM servers WHERE id = ?`, id)
		return err
	})
	return interpretError("remove worker", err)
}

// RemoveDeadWorkers implements [storage.Workers].
func (s *Store) RemoveDeadWorkers(ctx context.Context, timeout time.Duration) ([]string, error) {
	var dead []string
	err := s.write(ctx, func(w *wtx) error {
		dead = dead[:0]
		now := clock(time.Time{})
		rows, err := w.query(`DELETE FROM servers WHERE heartbeat_at < ? RETURNING id`, now.Add(-timeout).UnixMicro())
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			dead = append(dead, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, id := range dead {
			if _, err := w.requeue(`SELECT id, queue FROM jobs WHERE lease_until IS NOT NULL AND state = 'processing' AND lease_owner = ?2`,
				"worker "+id+storage.ReasonWorkerDead, now, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, interpretError("remove dead workers", err)
	}
	slices.Sort(dead)
	return dead, nil
}

// SetQueuePaused implements [storage.Queues].
func (s *Store) SetQueuePaused(ctx context.Context, queue string, paused bool) error {
	err := s.write(ctx, func(w *wtx) error {
		if !paused {
			_, err := w.exec(`DELETE FROM queues WHERE name = ?`, queue)
			w.wake(storage.TopicEnqueued)
			return err
		}
		_, err := w.exec(`INSERT INTO queues (name, paused_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, queue, clock(time.Time{}).UnixMicro())
		return err
	})
	return interpretError("pause queue", err)
}

// ListQueues implements [storage.Queues].
func (s *Store) ListQueues(ctx context.Context) ([]storage.QueueInfo, error) {
	var out []storage.QueueInfo
	err := s.read(ctx, func(conn querier) error {
		out = out[:0]
		rows, err := conn.QueryContext(ctx, `
			SELECT name, max(paused), sum(n), min(oldest) FROM (
				SELECT queue AS name, 0 AS paused, count(*) AS n, min(updated_at) AS oldest FROM jobs WHERE state = 'enqueued' GROUP BY queue
				UNION ALL
				SELECT name, 1, 0, NULL FROM queues
			) GROUP BY name ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				q      storage.QueueInfo
				oldest sql.NullInt64
			)
			if err := rows.Scan(&q.Name, &q.Paused, &q.Enqueued, &oldest); err != nil {
				return err
			}
			q.OldestEnqueued = fromMicros(oldest)
			out = append(out, q)
		}
		return rows.Err()
	})
	return out, interpretError("list queues", err)
}
