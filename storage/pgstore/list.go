package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// listSQL: the filters, then offset and limit (0: all) → jobCols, newest
// first. List writes only the conditions it needs, so each combination of
// filters gets its own plan: a rare state's partial index (jobs_failed,
// jobs_scheduled, ...) or jobs_batch serves it, not a scan of every job.
var listSQL = `SELECT ` + jobCols + ` FROM {s}.jobs WHERE %s ORDER BY %s DESC OFFSET $%d LIMIT nullif($%d::int, 0)`

// byIDText orders by the ID's text, the same order as the ID's, but one no
// index gives. A finished state (or every state) filtered by task or queue
// has no index of its own: walking the primary key backwards until a page
// is full reads the whole state, at random, for a task with few jobs (1.2 s
// on a million jobs); a (parallel) sequential scan with a top-N sort reads
// it in order (about 60 ms a million). Indexes on task and queue would make
// it a lookup, but every finishing job would pay for them.
const byIDText = `id::text COLLATE "C"`

// List implements [storage.Lister]. Jobs come newest first (by their
// UUIDv7 id).
func (s *Store) List(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	where, args := []string{"true"}, []any{}
	filter := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	switch p.State {
	case "":
	case states.NameProcessing: // the condition on lease_until lets jobs_lease serve it
		filter("state = $%d AND lease_until IS NOT NULL", string(p.State))
	default:
		filter("state = $%d", string(p.State))
	}
	if p.Queue != "" {
		filter("queue = $%d", p.Queue)
	}
	if p.Task != "" {
		filter("task = $%d", p.Task)
	}
	if p.BatchID != uuid.Nil {
		filter("batch_id = $%d", uid(p.BatchID))
	}
	if p.ParentID != uuid.Nil {
		filter("parent_id = $%d", uid(p.ParentID))
	}
	order := "id"
	if (p.Task != "" || p.Queue != "") && (p.State == "" || p.State == states.NameSucceeded || p.State == states.NameDeleted) {
		order = byIDText
	}
	sql := fmt.Sprintf(s.q.list, strings.Join(where, " AND "), order, len(args)+1, len(args)+2)
	rows, err := s.db.Query(ctx, sql, append(args, p.Offset, p.Limit)...)
	if err != nil {
		return nil, interpretError("list", err)
	}
	var js jobScanner
	jobs, err := pgx.CollectRows(rows, js.scan)
	return jobs, interpretError("list", err)
}

// countSQL: $1 queue (empty: any) → state, count.
var countSQL = `SELECT state, count(*) FROM {s}.jobs WHERE ($1 = '' OR queue = $1) GROUP BY state`

// Count implements [storage.Lister].
func (s *Store) Count(ctx context.Context, queue string) (map[states.Name]int64, error) {
	return s.countStates(ctx, "count", s.q.count, queue)
}

// countStates runs sql, which returns a state and a count per row.
func (s *Store) countStates(ctx context.Context, op, sql string, arg any) (map[states.Name]int64, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(ctx, sql, arg)
	if err != nil {
		return nil, interpretError(op, err)
	}
	out := make(map[states.Name]int64, len(states.Names))
	var (
		name string
		n    int64
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		out[states.Name(name)] = n
		return nil
	})
	return out, interpretError(op, err)
}

// estimateSQL: $1 schema name → the table's estimated row count and, per state in the
// planner's statistics, its estimated count.
var estimateSQL = `
SELECT c.reltuples::bigint, coalesce(v.state, ''), coalesce((v.freq * greatest(c.reltuples, 0))::bigint, 0)
FROM pg_class c
LEFT JOIN pg_stats st ON st.schemaname = $1 AND st.tablename = 'jobs' AND st.attname = 'state' AND NOT st.inherited
LEFT JOIN LATERAL unnest(st.most_common_vals::text::text[], st.most_common_freqs) AS v(state, freq) ON true
WHERE c.oid = '{sl}.jobs'::regclass`

// countStateSQL: () → the exact count of one state, through its partial
// index; with inQueue appended, $1 queue → that of one queue.
var countStateSQL = map[states.Name]string{
	states.NameEnqueued:   `SELECT count(*) FROM {s}.jobs WHERE state = 'enqueued'`,
	states.NameScheduled:  `SELECT count(*) FROM {s}.jobs WHERE state = 'scheduled'`,
	states.NameAwaiting:   `SELECT count(*) FROM {s}.jobs WHERE state = 'awaiting'`,
	states.NameProcessing: `SELECT count(*) FROM {s}.jobs WHERE state = 'processing' AND lease_until IS NOT NULL`,
	states.NameFailed:     `SELECT count(*) FROM {s}.jobs WHERE state = 'failed'`,
}

// inQueue limits a countStateSQL statement to the jobs of one queue.
const inQueue = ` AND queue = $1`

// estimateInQueueSQL: (the queue and the state, as SQL literals) → the planner's plan of counting them, whose row estimate is the estimated count.
var estimateInQueueSQL = `EXPLAIN (FORMAT JSON) SELECT 1 FROM {s}.jobs WHERE queue = %s AND state = %s`

// exactBelow is the count under which EstimateCount counts exactly.
const exactBelow = 100_000

// EstimateCount implements [storage.Estimator]. On a table of fewer than
// 100,000 jobs every count is exact. Above, the states that have a partial
// index (enqueued, scheduled, awaiting, processing, failed) are counted
// exactly while the planner expects fewer than 100,000 of them in the whole
// table; the others, succeeded and deleted above all, are the planner's
// estimate from the table's statistics (ANALYZE, which autovacuum runs): of
// the state, or for one queue, of the queue and the state together (the
// statistics object jobs_queue_state follows how they are correlated). For
// one queue, the indexed states of which the table holds 100,000 or more
// are estimated for the queue first, and counted exactly if it holds
// fewer.
func (s *Store) EstimateCount(ctx context.Context, queue string) (map[states.Name]int64, []states.Name, error) {
	if err := s.check(ctx); err != nil {
		return nil, nil, err
	}
	rows, err := s.db.Query(ctx, s.q.estimate, s.cfg.schema)
	if err != nil {
		return nil, nil, interpretError("estimate count", err)
	}
	var (
		total, n int64
		name     string
	)
	est := make(map[states.Name]int64, len(states.Names))
	_, err = pgx.ForEachRow(rows, []any{&total, &name, &n}, func() error {
		if name != "" {
			est[states.Name(name)] = n
		}
		return nil
	})
	if err != nil {
		return nil, nil, interpretError("estimate count", err)
	}
	if total < exactBelow { // small, or never analyzed (-1)
		counts, err := s.Count(ctx, queue)
		return counts, states.Names, err
	}
	var exact []states.Name
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Each count reads fewer than exactBelow entries of a partial
		// index: starting parallel workers costs more than it saves, and
		// the planner, misled by a queue that most finished jobs are in,
		// may start them.
		if _, err := tx.Exec(ctx, "SET LOCAL max_parallel_workers_per_gather = 0"); err != nil {
			return err
		}
		for _, st := range states.Names {
			sql, indexed := s.q.countState[st]
			guess := est[st]
			if queue != "" && (guess >= exactBelow || !indexed && guess > 0) {
				// The table's count says little of one queue's share.
				if guess, err = s.estimateInQueue(ctx, tx, queue, st); err != nil {
					return err
				}
			}
			if !indexed || guess >= exactBelow {
				est[st] = guess
				continue
			}
			var args []any
			if queue != "" {
				sql, args = sql+inQueue, []any{queue}
			}
			if err := tx.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
				return fmt.Errorf("count %s jobs: %w", st, err)
			}
			est[st] = n
			exact = append(exact, st)
		}
		return nil
	})
	if err != nil {
		return nil, nil, interpretError("estimate count", err)
	}
	return est, exact, nil
}

// estimateInQueue returns the planner's estimate of the jobs of queue in
// state st. The values are written into the statement as literals, as a
// parameter would be planned generically, without the statistics of its
// value.
func (s *Store) estimateInQueue(ctx context.Context, tx pgx.Tx, queue string, st states.Name) (int64, error) {
	var plan []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	sql := fmt.Sprintf(s.q.estimateInQueue, literal(queue), literal(string(st)))
	if err := tx.QueryRow(ctx, sql).Scan(&plan); err != nil {
		return 0, fmt.Errorf("estimate %s jobs of queue %s: %w", st, queue, err)
	}
	if len(plan) == 0 {
		return 0, fmt.Errorf("pgstore: estimate %s jobs of queue %s: an empty plan", st, queue)
	}
	return int64(plan[0].Plan.Rows), nil
}

// literal quotes v as an SQL string literal (standard_conforming_strings,
// on by default since PostgreSQL 9.1, reads backslashes as themselves).
func literal(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}
