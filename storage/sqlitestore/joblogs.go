package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/storage"
)

// AppendLogs implements [storage.JobLogs], in one transaction.
func (s *Store) AppendLogs(ctx context.Context, records []storage.LogRecord) error {
	if len(records) == 0 {
		return nil
	}
	err := s.write(ctx, func(w *wtx) error {
		for _, r := range records {
			var attrs any
			if r.Attrs != nil {
				attrs = string(r.Attrs)
			}
			if _, err := w.exec(`INSERT INTO job_logs (job_id, seq, attempt, at, level, message, attrs)
				SELECT ?1, coalesce((SELECT max(seq) FROM job_logs WHERE job_id = ?1), 0) + 1, ?2, ?3, ?4, ?5, ?6
				WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1)`,
				uid(r.JobID), r.Attempt, r.At.UnixMicro(), r.Level, r.Message, attrs); err != nil {
				return err
			}
		}
		return nil
	})
	return interpretError("append job logs", err)
}

// SetProgress implements [storage.JobLogs], in one transaction.
func (s *Store) SetProgress(ctx context.Context, progress []storage.Progress) error {
	if len(progress) == 0 {
		return nil
	}
	err := s.write(ctx, func(w *wtx) error {
		for _, p := range progress {
			if _, err := w.exec(`INSERT INTO job_progress (job_id, attempt, percent, message, at)
				SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM jobs WHERE id = ?1)
				ON CONFLICT (job_id) DO UPDATE SET attempt = excluded.attempt, percent = excluded.percent,
					message = excluded.message, at = excluded.at`,
				uid(p.JobID), p.Attempt, p.Percent, p.Message, p.At.UnixMicro()); err != nil {
				return err
			}
		}
		return nil
	})
	return interpretError("set job progress", err)
}

// JobLogs implements [storage.JobLogs].
func (s *Store) JobLogs(ctx context.Context, id uuid.UUID) ([]storage.LogRecord, *storage.Progress, error) {
	var (
		records []storage.LogRecord
		p       *storage.Progress
	)
	err := s.read(ctx, func(conn querier) error {
		records, p = records[:0], nil
		var exists bool
		if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?)`, uid(id)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("job %s: %w", id, storage.ErrNotFound)
		}
		rows, err := conn.QueryContext(ctx, `SELECT attempt, at, level, message, attrs FROM job_logs WHERE job_id = ? ORDER BY seq`, uid(id))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				l     = storage.LogRecord{JobID: id}
				at    int64
				attrs sql.NullString
			)
			if err := rows.Scan(&l.Attempt, &at, &l.Level, &l.Message, &attrs); err != nil {
				return err
			}
			l.At = time.UnixMicro(at).UTC()
			if attrs.Valid {
				l.Attrs = []byte(attrs.String)
			}
			records = append(records, l)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var at int64
		pr := &storage.Progress{JobID: id}
		err = conn.QueryRowContext(ctx, `SELECT attempt, percent, message, at FROM job_progress WHERE job_id = ?`, uid(id)).
			Scan(&pr.Attempt, &pr.Percent, &pr.Message, &at)
		switch {
		case err == sql.ErrNoRows:
		case err != nil:
			return err
		default:
			pr.At = time.UnixMicro(at).UTC()
			p = pr
		}
		return nil
	})
	if err != nil {
		return nil, nil, interpretError("job logs", err)
	}
	return records, p, nil
}
