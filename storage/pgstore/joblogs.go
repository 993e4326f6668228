package pgstore

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/storage"
)

var _ storage.JobLogs = (*Store)(nil)

// appendLogsSQL: $1 job ids, $2 attempts, $3 times, $4 levels, $5
// messages, $6 attrs → nothing. Records of jobs that are gone are dropped.
//
// The records are inserted in job id order (each job's in the order
// given), as every statement that locks several rows takes its locks. The
// job is looked up in jobs and jobs_kept (jobs_all) with no lock, and no
// foreign key ties the records to its row, which moves between the two
// (kept.go): logs and progress never wait for transitions, nor
// transitions for them. The pruner deletes them with their job.
var appendLogsSQL = `INSERT INTO {s}.job_logs (job_id, attempt, at, level, message, attrs)
SELECT l.job_id, l.attempt, l.at, l.level, l.message, l.attrs
FROM unnest($1::uuid[], $2::int4[], $3::timestamptz[], $4::text[], $5::text[], $6::jsonb[])
	WITH ORDINALITY AS l(job_id, attempt, at, level, message, attrs, ord)
WHERE EXISTS (SELECT 1 FROM {s}.jobs_all j WHERE j.id = l.job_id)
ORDER BY l.job_id, ord`

// AppendLogs implements [storage.JobLogs] in one statement.
func (s *Store) AppendLogs(ctx context.Context, records []storage.LogRecord) error {
	if len(records) == 0 {
		return nil
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	ids, attempts := make([]pgtype.UUID, len(records)), make([]int32, len(records))
	ats, levels, messages, attrs := make([]pgtype.Timestamptz, len(records)), make([]string, len(records)), make([]string, len(records)), make([][]byte, len(records))
	for i, r := range records {
		ids[i], attempts[i], ats[i] = uid(r.JobID), int32(r.Attempt), ts(r.At)
		levels[i], messages[i], attrs[i] = r.Level, r.Message, r.Attrs
	}
	return s.retryDeadlock(ctx, "append job logs", s.q.appendLogs, ids, attempts, ats, levels, messages, attrs)
}

// setProgressSQL: $1 job ids, $2 attempts, $3 percents, $4 messages, $5
// times → nothing. Jobs that are gone are skipped; of the entries of one
// job, the last given is stored (ON CONFLICT cannot update a row twice).
// Rows are written in job id order, as appendLogsSQL's.
var setProgressSQL = `INSERT INTO {s}.job_progress AS p (job_id, attempt, percent, message, at)
SELECT DISTINCT ON (v.job_id) v.job_id, v.attempt, v.percent, v.message, v.at
FROM unnest($1::uuid[], $2::int4[], $3::int4[], $4::text[], $5::timestamptz[])
	WITH ORDINALITY AS v(job_id, attempt, percent, message, at, ord)
WHERE EXISTS (SELECT 1 FROM {s}.jobs_all j WHERE j.id = v.job_id)
ORDER BY v.job_id, v.ord DESC
ON CONFLICT (job_id) DO UPDATE SET attempt = EXCLUDED.attempt, percent = EXCLUDED.percent,
	message = EXCLUDED.message, at = EXCLUDED.at`

// SetProgress implements [storage.JobLogs] in one statement.
func (s *Store) SetProgress(ctx context.Context, progress []storage.Progress) error {
	if len(progress) == 0 {
		return nil
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	ids, attempts, percents := make([]pgtype.UUID, len(progress)), make([]int32, len(progress)), make([]int32, len(progress))
	messages, ats := make([]string, len(progress)), make([]pgtype.Timestamptz, len(progress))
	for i, p := range progress {
		ids[i], attempts[i], percents[i], messages[i], ats[i] = uid(p.JobID), int32(p.Attempt), int32(p.Percent), p.Message, ts(p.At)
	}
	return s.retryDeadlock(ctx, "set job progress", s.q.setProgress, ids, attempts, percents, messages, ats)
}

// retryDeadlock runs the statement sql, again when it loses a deadlock
// (up to 5 times, unless ctx ends first), so that what it stores is not
// lost to one. Outside a transaction the statement is its own and rolled
// back whole; in the caller's transaction the error is returned, as that
// transaction is aborted.
func (s *Store) retryDeadlock(ctx context.Context, op, sql string, args ...any) error {
	for try := 1; ; try++ {
		_, err := s.db.Exec(ctx, sql, args...)
		if err == nil || s.inTx || try == 5 || !isDeadlock(err) {
			return interpretError(op, err)
		}
		select {
		case <-ctx.Done():
			return interpretError(op, err)
		case <-time.After(time.Duration(try) * 10 * time.Millisecond):
		}
	}
}

// isDeadlock reports whether err is PostgreSQL's deadlock_detected.
func isDeadlock(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "40P01"
}

// jobLogsSQL: $1 job id → attempt, at, level, message, attrs of each
// record, in the order appended.
var jobLogsSQL = `SELECT attempt, at, level, message, attrs FROM {s}.job_logs WHERE job_id = $1 ORDER BY seq`

// jobProgressSQL: $1 job id → attempt, percent, message, at.
var jobProgressSQL = `SELECT attempt, percent, message, at FROM {s}.job_progress WHERE job_id = $1`

// JobLogs implements [storage.JobLogs].
func (s *Store) JobLogs(ctx context.Context, id uuid.UUID) ([]storage.LogRecord, *storage.Progress, error) {
	if _, err := s.Peek(ctx, id); err != nil {
		return nil, nil, err
	}
	rows, err := s.db.Query(ctx, s.q.jobLogs, uid(id))
	if err != nil {
		return nil, nil, interpretError("job logs", err)
	}
	records, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.LogRecord, error) {
		l := storage.LogRecord{JobID: id}
		return l, r.Scan(&l.Attempt, &l.At, &l.Level, &l.Message, &l.Attrs)
	})
	if err != nil {
		return nil, nil, interpretError("job logs", err)
	}
	p := &storage.Progress{JobID: id}
	err = s.db.QueryRow(ctx, s.q.jobProgress, uid(id)).Scan(&p.Attempt, &p.Percent, &p.Message, &p.At)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		p = nil
	case err != nil:
		return nil, nil, interpretError("job progress", err)
	}
	return records, p, nil
}
