package pgstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// listSQL is the table List builds its queries on.
var listSQL = `{s}.jobs`

// byIDText orders by the ID's text, the same order as the ID's, but one no
// index gives. A finished state (or every state) filtered by task or queue
// has no index of its own: walking the primary key backwards until a page
// is full reads the whole state, at random, for a task with few jobs (1.2 s
// on a million jobs); a (parallel) sequential scan with a top-N sort reads
// it in order (about 60 ms a million). Indexes on task and queue would make
// it a lookup, but every finishing job would pay for them.
const byIDText = `id::text COLLATE "C"`

// cursor is a job's place in a list: "a.b.id", where a and b are the
// priority and enqueue sequence of an Enqueued job, the run time (Unix
// microseconds) and 0 of a Scheduled one, 0 and 0 otherwise.
type cursor struct {
	a, b int64
	id   uuid.UUID
}

func (c cursor) String() string { return fmt.Sprintf("%d.%d.%s", c.a, c.b, c.id) }

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, ".")
	var c cursor
	if len(parts) != 3 {
		return c, fmt.Errorf("%w: %q", storage.ErrBadCursor, s)
	}
	a, err1 := strconv.ParseInt(parts[0], 10, 64)
	b, err2 := strconv.ParseInt(parts[1], 10, 64)
	id, err3 := uuid.Parse(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return c, fmt.Errorf("%w: %q", storage.ErrBadCursor, s)
	}
	return cursor{a, b, id}, nil
}

// List implements [storage.Lister], in the orders it gives, through
// keysets on the indexes: a page costs the same at any depth.
//
//   - Enqueued jobs walk the fetch index (queue, priority, enqueue
//     sequence) of each queue (of the one given, or of every queue, found
//     by a loose index scan) from the cursor: the rest of the cursor's
//     priority, then the lower ones; the queues' pages are merged.
//   - Scheduled jobs walk jobs_scheduled (run_at) from the cursor's time.
//   - The others walk an index on id (the primary key, jobs_failed,
//     jobs_lease) backwards from the cursor's ID; a finished state (or
//     every state) filtered by task or queue has none, and is read in the
//     order of the ID's text (see byIDText).
//
// List writes only the conditions it needs, so each combination of
// filters gets its own plan: a rare state's partial index or jobs_batch
// serves it, not a scan of every job.
func (s *Store) List(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	jobs, js, err := s.list(ctx, p, true)
	if err == nil && len(jobs) < p.Limit && windowed(p) { // a rare match, or the end: read it all
		jobs, js, err = s.list(ctx, p, false)
	}
	if err != nil {
		return nil, err
	}
	for i, j := range jobs {
		c := cursor{id: j.ID}
		switch p.State {
		case states.NameEnqueued:
			c.a, c.b = int64(j.Priority), js.seqs[i]
		case states.NameScheduled:
			c.a = j.RunAt.UnixMicro()
		}
		j.Cursor = c.String()
	}
	return jobs, nil
}

// list runs List's query of p, in a window or not, with JIT compilation
// off: the planner's estimate of a list over every queue (its recursive
// queue list) or of a scan passed the threshold of JIT with inlining and
// optimization, whose compilation took 250 ms of CPU for a page that
// takes 10 ms to read. (On a store bound to a caller's transaction, the
// setting lasts until that transaction ends.)
func (s *Store) list(ctx context.Context, p *storage.ListParams, window bool) ([]*storage.Job, *jobScanner, error) {
	sql, args, err := s.listQuery(p, window)
	if err != nil {
		return nil, nil, err
	}
	js := &jobScanner{}
	if p.State == states.NameEnqueued { // its rows end with enqueued_seq
		js.seqs = []int64{}
	}
	var jobs []*storage.Job
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL jit = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		jobs, err = pgx.CollectRows(rows, js.scan)
		return err
	})
	if err != nil {
		return nil, nil, interpretError("list", err)
	}
	return jobs, js, nil
}

// listWindow is how many jobs of a finished state (or of every state)
// List reads by ID, from the cursor, to find a page of those of a task
// or queue, before it reads them all (see byIDText): enough for a filter
// that matches one job in a few hundred.
const listWindow = 10_000

// windowed tells whether List first looks for p's page in a window.
func windowed(p *storage.ListParams) bool {
	return p.Limit > 0 && p.Limit+max(p.Offset, 0) < listWindow && (p.Task != "" || p.Queue != "") &&
		(p.State == "" || p.State == states.NameSucceeded || p.State == states.NameDeleted)
}

// listQuery returns List's query of p and its arguments; with window, for
// a windowed list, the query that looks for the page among the next
// listWindow jobs of the state only.
func (s *Store) listQuery(p *storage.ListParams, window bool) (string, []any, error) {
	var (
		after *cursor
		where = []string{"true"}
		args  []any
	)
	if p.Cursor != "" {
		c, err := parseCursor(p.Cursor)
		if err != nil {
			return "", nil, err
		}
		after = &c
	}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	filter := func(cond string, v any) { where = append(where, fmt.Sprintf(cond, arg(v))) }
	// The state is a literal, not a parameter: the generic plan of a
	// prepared statement, which pgx's statement cache makes PostgreSQL
	// use from the sixth call, cannot use a partial index on the state
	// for a parameter (it scanned the table, 250 ms of CPU a page of
	// enqueued jobs of a task on a million jobs).
	switch p.State {
	case "":
	case states.NameProcessing: // the condition on lease_until lets jobs_lease serve it
		where = append(where, "state = 'processing' AND lease_until IS NOT NULL")
	default:
		where = append(where, "state = "+literal(string(p.State)))
	}
	byState := len(where) // the conditions before are on the state
	if p.Queue != "" && p.State != states.NameEnqueued {
		filter("queue = %s", p.Queue)
	}
	if p.Task != "" {
		filter("task = %s", p.Task)
	}
	if p.BatchID != uuid.Nil {
		filter("batch_id = %s", uid(p.BatchID))
	}
	if p.ParentID != uuid.Nil {
		filter("parent_id = %s", uid(p.ParentID))
	}
	page := " OFFSET " + arg(max(p.Offset, 0)) + "::int LIMIT nullif(" + arg(p.Limit) + "::int, 0)"
	fwd := !p.Backward
	dir := func(asc bool) string { // the direction of an ascending key, walked forwards or not
		if asc == fwd {
			return "ASC"
		}
		return "DESC"
	}
	cmpOp := func(asc bool) string { // "after" for an ascending key
		if asc == fwd {
			return ">"
		}
		return "<"
	}
	var sql string
	switch p.State {
	case states.NameEnqueued:
		window := "" // the most rows a queue's part needs
		if p.Limit > 0 {
			window = " LIMIT " + arg(max(p.Offset, 0)+p.Limit) + "::int"
		}
		var queues string
		if p.Queue != "" {
			queues = `(SELECT ` + arg(p.Queue) + `::text AS queue)`
		} else {
			queues = `(WITH RECURSIVE qs AS (
	(SELECT queue FROM ` + s.q.list + ` WHERE state = 'enqueued' ORDER BY queue LIMIT 1)
	UNION ALL
	SELECT (SELECT j.queue FROM ` + s.q.list + ` j WHERE j.state = 'enqueued' AND j.queue > qs.queue ORDER BY j.queue LIMIT 1)
	FROM qs WHERE qs.queue IS NOT NULL) SELECT queue FROM qs WHERE queue IS NOT NULL)`
		}
		order := "priority " + dir(false) + ", enqueued_seq " + dir(true)
		part := func(cond string) string {
			return `(SELECT ` + jobCols + `, enqueued_seq FROM ` + s.q.list + ` WHERE queue = qs.queue AND ` +
				strings.Join(where, " AND ") + cond + ` ORDER BY ` + order + window + `)`
		}
		parts := part("")
		if after != nil {
			pr, seq := arg(int(after.a)), arg(after.b)
			parts = part(" AND priority = "+pr+" AND enqueued_seq "+cmpOp(true)+" "+seq) + "\n\tUNION ALL\n\t" +
				part(" AND priority "+cmpOp(false)+" "+pr)
		}
		sql = `SELECT x.* FROM ` + queues + ` qs, LATERAL (` + parts + `) x ORDER BY ` + order + page
	case states.NameScheduled:
		if after != nil {
			where = append(where, "(run_at, id) "+cmpOp(true)+" ("+arg(time.UnixMicro(after.a))+"::timestamptz, "+arg(uid(after.id))+"::uuid)")
		}
		sql = `SELECT ` + jobCols + ` FROM ` + s.q.list + ` WHERE ` + strings.Join(where, " AND ") +
			` ORDER BY run_at ` + dir(true) + `, id ` + dir(true) + page
	default:
		if !window || !windowed(p) {
			sql = s.listByID(p, where, after, arg, dir, cmpOp, page)
			break
		}
		inner := where[:byState:byState]
		if after != nil {
			inner = append(inner, "id "+cmpOp(false)+" "+arg(uid(after.id))+"::uuid")
		}
		sql = `SELECT ` + jobCols + ` FROM (SELECT * FROM ` + s.listFrom(p.State) + ` WHERE ` + strings.Join(inner, " AND ") +
			` ORDER BY id ` + dir(false) + ` LIMIT ` + strconv.Itoa(listWindow) + `) w WHERE ` + strings.Join(where[byState:], " AND ") +
			` ORDER BY id ` + dir(false) + page
	}
	return sql, args, nil
}

// listByID returns the query of a list by ID, newest first: on an index,
// or read in the order of the ID's text (see byIDText).
func (s *Store) listByID(p *storage.ListParams, where []string, after *cursor, arg func(any) string,
	dir func(bool) string, cmpOp func(bool) string, page string) string {
	key := "id"
	if (p.Task != "" || p.Queue != "") && (p.State == "" || p.State == states.NameSucceeded || p.State == states.NameDeleted) {
		key = byIDText
	}
	if after != nil {
		if key == byIDText {
			where = append(where, byIDText+" "+cmpOp(false)+" "+arg(after.id.String()))
		} else {
			where = append(where, "id "+cmpOp(false)+" "+arg(uid(after.id))+"::uuid")
		}
	}
	return `SELECT ` + jobCols + ` FROM ` + s.listFrom(p.State) + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + key + " " + dir(false) + page
}

// listBatchesSQL: $1 limit (0: none)[, $2 cursor] → batch ids in the
// order walked: {dir} DESC (newest first) or ASC (backwards), {cmp} < or
// >, {from} the condition on the cursor or nothing. A loose index scan of
// jobs_batch from the cursor: one probe per batch, however many jobs each
// has, at any depth; the outer LIMIT stops the recursion.
var listBatchesSQL = `WITH RECURSIVE b AS (
	(SELECT batch_id FROM {s}.jobs_all WHERE batch_id IS NOT NULL{from} ORDER BY batch_id {dir} LIMIT 1)
	UNION ALL
	SELECT (SELECT j.batch_id FROM {s}.jobs_all j WHERE j.batch_id IS NOT NULL AND j.batch_id {cmp} b.batch_id ORDER BY j.batch_id {dir} LIMIT 1)
	FROM b WHERE b.batch_id IS NOT NULL
)
SELECT batch_id FROM b WHERE batch_id IS NOT NULL LIMIT nullif($1::int, 0)`

// ListBatches implements [storage.BatchLister].
func (s *Store) ListBatches(ctx context.Context, p *storage.BatchListParams) ([]uuid.UUID, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	dir, cmp := "DESC", "<"
	if p.Backward {
		dir, cmp = "ASC", ">"
	}
	from, args := "", []any{max(p.Limit, 0)}
	if p.Cursor != uuid.Nil {
		from, args = " AND batch_id "+cmp+" $2", append(args, uid(p.Cursor))
	}
	sql := strings.NewReplacer("{dir}", dir, "{cmp}", cmp, "{from}", from).Replace(s.q.listBatches)
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, interpretError("list batches", err)
	}
	ids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (uuid.UUID, error) {
		var id uuid.UUID
		return id, row.Scan((*[16]byte)(&id))
	})
	return ids, interpretError("list batches", err)
}

// countSQL: $1 queue (empty: any) → state, count.
var countSQL = `SELECT state, count(*) FROM {s}.jobs_all WHERE ($1 = '' OR queue = $1) GROUP BY state`

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
	states.NameFailed:     `SELECT count(*) FROM {s}.jobs_all WHERE state = 'failed'`,
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

// literal quotes v as an SQL string literal. It is an escape string
// (E'...'), whose backslashes mean the same whatever the server's
// standard_conforming_strings says, so no value can end it early.
func literal(v string) string {
	return "E'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(v) + "'"
}
