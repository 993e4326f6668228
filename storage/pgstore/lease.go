package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/storage"
)

// heartbeatSQL: $1 id, $2 host, $3 pid, $4 queues, $5 concurrency, $6 started_at, $7 tasks → nothing.
var heartbeatSQL = `
INSERT INTO {s}.servers (id, host, pid, queues, concurrency, started_at, heartbeat_at, tasks)
VALUES ($1, $2, $3, coalesce($4::text[], '{}'), $5, $6, now(), $7::text[])
ON CONFLICT (id) DO UPDATE SET (host, pid, queues, concurrency, started_at, heartbeat_at, tasks) =
	(EXCLUDED.host, EXCLUDED.pid, EXCLUDED.queues, EXCLUDED.concurrency, EXCLUDED.started_at, now(), EXCLUDED.tasks)`

// checkLeasesSQL: $1 ids, $2 tokens, $3 owner → the leases lost, with the state each job is in now (lostLeases).
//
// checkLeases is extend without the renewal: a plain read.
var checkLeasesSQL = `
WITH t AS (
	SELECT * FROM unnest($1::uuid[], $2::int8[]) AS t(id, token)
)` + lostLeases

// extendSQL: $1 ids, $2 tokens, $3 owner, $4 new lease expiry → the leases lost, with the state each job is in now (lostLeases).
//
// Lease renewal never waits for a row lock: a row locked by a
// concurrent completion (or anyone else) is skipped, neither renewed
// nor reported lost, so renewal cannot deadlock with completions.
// Lost means the job no longer holds the token for this owner as of
// the statement's start.
var extendSQL = `
WITH t AS (
	SELECT * FROM unnest($1::uuid[], $2::int8[]) AS t(id, token)
), upd AS (
	UPDATE {s}.jobs j SET lease_until = $4
	WHERE j.id = ANY(ARRAY(
		SELECT j.id FROM {s}.jobs j JOIN t ON j.id = t.id AND j.lease_token = t.token AND j.lease_owner = $3
		ORDER BY j.id FOR NO KEY UPDATE OF j SKIP LOCKED))
)` + lostLeases

// ExtendLeases implements [storage.Store] in one round trip. With p.Worker
// set it also records the server's heartbeat, by the server's clock (see
// [storage.Workers]). A zero p.Until only reads which leases are lost; it
// writes and locks no job. Renewal skips rows that another transaction
// holds locked (a completion storing the job's outcome, typically): they
// are neither renewed nor reported lost, so renewal never waits for, or
// deadlocks with, completions.
func (s *Store) ExtendLeases(ctx context.Context, p *storage.ExtendParams) ([]storage.LostLease, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	if v := p.Worker; v != nil {
		b.Queue(s.q.heartbeat, v.ID, v.Host, v.PID, v.Queues, v.Concurrency, ts(v.StartedAt), v.Tasks)
	}
	var lost []storage.LostLease
	if len(p.Jobs) > 0 {
		ids, tokens := make([]pgtype.UUID, 0, len(p.Jobs)), make([]int64, 0, len(p.Jobs))
		for id, token := range p.Jobs {
			ids, tokens = append(ids, uid(id)), append(tokens, token)
		}
		sql, args := s.q.checkLeases, []any{ids, tokens, p.Owner}
		if !p.Until.IsZero() {
			sql, args = s.q.extend, append(args, p.Until)
		}
		b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
			var err error
			lost, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.LostLease, error) {
				var l storage.LostLease
				return l, r.Scan((*[16]byte)(&l.ID), (*string)(&l.State))
			})
			return err
		})
	}
	if b.Len() == 0 {
		return nil, nil
	}
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return nil, interpretError("extend leases", err)
	}
	return lost, nil
}

// promoteSQL: $1 now, $2 limit, $3 reason → the count promoted, the earliest run_at of the Scheduled jobs left.
var promoteSQL = `
WITH old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE state = 'scheduled' AND run_at <= ` + clock + `
	ORDER BY run_at LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED
), moved AS (
	UPDATE {s}.jobs j SET ` + toEnqueued("$3::text") + moveToEnqueued + `
SELECT (SELECT count(*) FROM moved),
	(SELECT run_at FROM {s}.jobs WHERE state = 'scheduled' AND id NOT IN (SELECT id FROM moved)
	 ORDER BY run_at LIMIT 1)`

// PromoteDue implements [storage.Store].
func (s *Store) PromoteDue(ctx context.Context, p *storage.PromoteParams) (storage.PromoteResult, error) {
	var (
		res  storage.PromoteResult
		next pgtype.Timestamptz
	)
	n, err := s.moveToEnqueued(ctx, "promote", s.q.promote, p.Now, p.Limit, "scheduled time reached", &next)
	res.Promoted, res.Next = n, next.Time
	return res, err
}

// reclaimSQL: $1 now, $2 limit, $3 reason → the count reclaimed.
var reclaimSQL = `
WITH old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE lease_until <= ` + clock + `
	ORDER BY lease_until LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED
), moved AS (
	UPDATE {s}.jobs j SET ` + requeue("$3::text") + moveToEnqueued + `
SELECT count(*) FROM moved`

// ReclaimExpired implements [storage.Store].
func (s *Store) ReclaimExpired(ctx context.Context, p *storage.ReclaimParams) (int, error) {
	return s.moveToEnqueued(ctx, "reclaim", s.q.reclaim, p.Now, p.Limit, storage.ReasonLeaseExpired)
}

// moveToEnqueued runs the promote or reclaim statement, which returns the
// count moved and then the columns scanned into more.
func (s *Store) moveToEnqueued(ctx context.Context, op, sql string, now time.Time, limit int, reason string, more ...any) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRow(ctx, sql, ts(now), limit, reason).Scan(append([]any{&n}, more...)...); err != nil {
		return 0, interpretError(op, err)
	}
	if n > 0 {
		return n, s.wake(ctx, storage.TopicEnqueued)
	}
	return n, nil
}
