package sqlitestore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// jobCols is the column list that scanJob reads.
const jobCols = `id, task, args, queue, priority, state, state_data, run_at, attempt, created_at, updated_at,
	expire_at, params, lease_owner, lease_token, lease_until, parent_id, batch_id, unique_key, unique_until, partition_key`

// historyEntry is a row of table job_history as the JSON object that
// decodeHistory reads: its data is the state's JSON itself, as stored. A
// Processing state that Fetch made stores no data (see processingData):
// its entry names the owner instead.
const historyEntry = `'{"s":' || json_quote(state) || ',"r":' || json_quote(reason) || ',"t":' || at ||
	CASE WHEN owner IS NOT NULL THEN ',"o":' || json_quote(owner) ELSE ',"d":' || coalesce(data, 'null') END || '}'`

// processingData is the data of the Processing state Fetch gives a job,
// which is not stored: it is made again from the time of the fetch (the
// job's updated_at) and the owner, byte for byte what Fetch encoded.
func processingData(at time.Time, owner string) []byte {
	d, err := states.Marshal(states.Processing{StartedAt: at, ServerID: owner})
	if err != nil {
		panic(err) // a Processing state always encodes
	}
	return d
}

// finishedStates and unfinishedStates, as SQL lists.
const (
	finishedStates   = `('succeeded', 'failed', 'deleted')`
	unfinishedStates = `('awaiting', 'enqueued', 'processing', 'scheduled')`
)

type scanner interface{ Scan(dest ...any) error }

// scanJob reads the columns of jobCols.
func scanJob(r scanner, extra ...any) (*storage.Job, error) {
	var (
		j                                                 storage.Job
		id, parent, batch                                 []byte
		data, params, owner, key, partition               sql.NullString
		runAt, expire, until, uniqueUntil, token, created sql.NullInt64
		updated                                           int64
	)
	dest := append([]any{&id, &j.Task, &j.Args, &j.Queue, &j.Priority, &j.State, &data, &runAt, &j.Attempt, &created, &updated,
		&expire, &params, &owner, &token, &until, &parent, &batch, &key, &uniqueUntil, &partition}, extra...)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	copy(j.ID[:], id)
	copy(j.ParentID[:], parent)
	copy(j.BatchID[:], batch)
	if data.Valid {
		j.StateData = []byte(data.String)
	}
	if j.Args == nil {
		j.Args = []byte{}
	}
	j.RunAt, j.CreatedAt, j.UpdatedAt, j.ExpireAt = fromMicros(runAt), fromMicros(created), time.UnixMicro(updated).UTC(), fromMicros(expire)
	j.LeaseOwner, j.LeaseToken, j.LeaseUntil = owner.String, token.Int64, fromMicros(until)
	j.UniqueKey, j.UniqueUntil, j.Partition = key.String, fromMicros(uniqueUntil), partition.String
	if params.Valid && params.String != "" {
		if err := json.Unmarshal([]byte(params.String), &j.Params); err != nil {
			return nil, fmt.Errorf("decode params of job %s: %w", j.ID, err)
		}
	}
	return &j, nil
}

// withData makes the data of a fetched job's Processing state, which is not
// stored (see processingData), for a job scanned without it.
func withData(j *storage.Job) *storage.Job {
	if j.StateData == nil && j.State == states.NameProcessing && j.LeaseOwner != "" {
		j.StateData = processingData(j.UpdatedAt, j.LeaseOwner)
	}
	return j
}

// entry is a history entry as historyEntry makes it.
type entry struct {
	S string          `json:"s"`
	R string          `json:"r"`
	T int64           `json:"t"`
	D json.RawMessage `json:"d"`
	O *string         `json:"o"` // the owner of a fetched job's Processing state
}

func decodeHistory(h string) ([]storage.StateRecord, error) {
	if h == "" {
		return nil, nil
	}
	var es []entry
	if err := json.Unmarshal([]byte("["+h+"]"), &es); err != nil {
		return nil, fmt.Errorf("decode history: %w", err)
	}
	out := make([]storage.StateRecord, len(es))
	for i, e := range es {
		out[i] = storage.StateRecord{State: states.Name(e.S), Reason: e.R, At: time.UnixMicro(e.T).UTC()}
		switch {
		case e.O != nil:
			out[i].Data = processingData(out[i].At, *e.O)
		case len(e.D) > 0 && string(e.D) != "null":
			out[i].Data = e.D
		}
	}
	return out, nil
}

func uid(id uuid.UUID) []byte { return id[:] }

func nullUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id[:]
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func encodeParams(p map[string]json.RawMessage) (any, error) {
	if len(p) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// stateTopic is the topic of a job entering state n.
func stateTopic(n states.Name) storage.Topic {
	switch n {
	case states.NameEnqueued:
		return storage.TopicEnqueued
	case states.NameScheduled:
		return storage.TopicScheduled
	case states.NameSucceeded, states.NameFailed, states.NameDeleted:
		return storage.TopicFinished
	}
	return 0
}

const insertSQL = `INSERT INTO jobs (id, task, args, queue, priority, state, state_data, state_reason, run_at, attempt,
	created_at, updated_at, expire_at, params, seq, parent_id, batch_id, unique_key, unique_until, unique_held, partition_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// insertRows is how many jobs one INSERT stores, when a call creates that
// many or more: one statement where there were as many, each value still
// bound on its own.
const insertRows = 32

// insertManySQL is insertSQL with the values of insertRows jobs.
var insertManySQL = insertSQL + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", insertRows-1)

// insertCols is the number of values of a job in insertSQL.
const insertCols = 21

// ownCols are the columns of insertSQL, by index, whose values the jobs
// of one call never share: id, args, seq.
var ownCols = [insertCols]bool{0: true, 2: true, 14: true}

// insertSharedSQL is insertManySQL for insertRows jobs that share every
// value but those of ownCols: the shared ones are bound once, as ?1 to
// ?18, and each job's own after them. The jobs of one EnqueueMany share
// all of them (their encoded state too), and binding a value costs more
// than SQLite's storing it: 21 values a job cost about half of Create.
var insertSharedSQL = func() string {
	var b strings.Builder
	b.WriteString(insertSQL[:strings.Index(insertSQL, "VALUES")])
	b.WriteString("VALUES ")
	own := 0
	for _, o := range ownCols {
		if o {
			own++
		}
	}
	for r := range insertRows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		shared, mine := 0, 0
		for c, o := range ownCols {
			if c > 0 {
				b.WriteString(", ")
			}
			if o {
				fmt.Fprintf(&b, "?%d", insertCols-own+1+r*own+mine)
				mine++
			} else {
				shared++
				fmt.Fprintf(&b, "?%d", shared)
			}
		}
		b.WriteByte(')')
	}
	return b.String()
}()

// sameValue reports whether two values bound to a statement are the same;
// a value of a type it does not know is never the same as another.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y) && (x == nil) == (y == nil)
	case nil, string, int, int64, bool:
		return a == b // b of another type is not equal, and cannot panic
	}
	return false
}

// inserter stores jobs insertRows at a time, then the rest one by one.
type inserter struct {
	w      *wtx
	jobs   []*storage.Job
	args   []any
	shared []any
}

// add queues job j with its values, in the order of insertSQL's columns.
func (in *inserter) add(j *storage.Job, values ...any) {
	in.jobs = append(in.jobs, j)
	in.args = append(in.args, values...)
}

// flush stores the queued jobs when insertRows of them wait, or, with
// all, whatever waits. When a statement of many fails, each job is tried
// alone so that the error names the one that failed.
func (in *inserter) flush(all bool) error {
	n := len(in.jobs)
	if n == 0 || n < insertRows && !all {
		return nil
	}
	defer func() { in.jobs, in.args = in.jobs[:0], in.args[:0] }()
	if n == insertRows {
		q, args := insertManySQL, in.args
		if shared, ok := sharedValues(in.shared[:0], in.args, ownCols[:]); ok {
			q, args, in.shared = insertSharedSQL, shared, shared
		}
		if _, err := in.w.exec(q, args...); err == nil || busy(err) {
			return err
		}
	}
	for i, j := range in.jobs {
		if _, err := in.w.exec(insertSQL, in.args[i*insertCols:(i+1)*insertCols]...); err != nil {
			return fmt.Errorf("job %s: %w", j.ID, err)
		}
	}
	return nil
}

// sharedValues reports whether rows of values, each of len(own) values,
// share every value but those of the columns own marks. If they do, it
// appends to dst the shared values of the first row, then each row's own
// values, and returns it.
func sharedValues(dst, values []any, own []bool) ([]any, bool) {
	cols := len(own)
	for i := cols; i < len(values); i++ {
		if c := i % cols; !own[c] && !sameValue(values[i], values[c]) {
			return dst, false
		}
	}
	for c, v := range values[:cols] {
		if !own[c] {
			dst = append(dst, v)
		}
	}
	for i, v := range values {
		if own[i%cols] {
			dst = append(dst, v)
		}
	}
	return dst, true
}

// Create implements [storage.Store]. A zero CreatedAt means the store's
// clock.
func (s *Store) Create(ctx context.Context, p *storage.CreateParams) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.write(ctx, func(w *wtx) (err error) {
		ids, err = w.create(p.Jobs, clock(p.Now), p.Retention)
		return err
	})
	if err != nil {
		return nil, interpretError("create", err)
	}
	return ids, nil
}

// create stores jobs, all or none (a failed call's changes are undone by
// the writer; see write); see [storage.Store.Create].
func (w *wtx) create(jobs []*storage.Job, now time.Time, retention time.Duration) ([]uuid.UUID, error) {
	if len(w.plainNone) > 0 {
		for _, j := range jobs {
			if j.Partition == "" {
				delete(w.plainNone, j.Queue) // the next limited fetch looks for it at once
			}
		}
	}
	ids := make([]uuid.UUID, len(jobs))
	var claimed map[string]uuid.UUID // unique keys taken by earlier jobs of this call
	for i, j := range jobs {
		ids[i] = j.ID
		if j.UniqueKey == "" {
			continue
		}
		if id, ok := claimed[j.UniqueKey]; ok {
			ids[i] = id
			continue
		}
		holder, err := w.uniqueHolder(j.UniqueKey, now)
		if err != nil {
			return nil, err
		}
		if holder != uuid.Nil {
			ids[i] = holder
			continue
		}
		if claimed == nil {
			claimed = map[string]uuid.UUID{}
		}
		claimed[j.UniqueKey] = j.ID
	}
	var (
		reasons  storage.Reasons
		awaiting []*storage.Job
		wake     storage.Topic
		ins      = inserter{w: w}
	)
	for i, j := range jobs {
		if ids[i] != j.ID {
			continue // a unique key's holder stands for it
		}
		created := j.CreatedAt
		if created.IsZero() {
			created = now
		}
		var seq any
		if j.State == states.NameEnqueued {
			n, err := w.nextSeq()
			if err != nil {
				return nil, err
			}
			seq = n
		}
		params, err := encodeParams(j.Params)
		if err != nil {
			return nil, err
		}
		var data any
		if j.StateData != nil {
			data = string(j.StateData)
		}
		args := j.Args
		if args == nil {
			args = []byte{}
		}
		ins.add(j, uid(j.ID), j.Task, args, j.Queue, j.Priority, string(j.State), data,
			reasons.Of(j.State, j.StateData), micros(j.RunAt), j.Attempt, created.UnixMicro(), created.UnixMicro(),
			micros(j.ExpireAt), params, seq, nullUID(j.ParentID), nullUID(j.BatchID), nullString(j.UniqueKey),
			micros(j.UniqueUntil), j.UniqueKey != "", nullString(j.Partition))
		if err := ins.flush(false); err != nil {
			return nil, err
		}
		wake |= stateTopic(j.State)
		if j.State == states.NameAwaiting {
			awaiting = append(awaiting, j)
		}
	}
	if err := ins.flush(true); err != nil {
		return nil, err
	}
	for _, j := range awaiting {
		if err := w.await(j, now, retention); err != nil {
			return nil, err
		}
	}
	w.wake(wake)
	return ids, nil
}

// Fetch implements [storage.Store].
func (s *Store) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	now := clock(p.Now)
	data, err := states.Marshal(states.Processing{StartedAt: now, ServerID: p.Owner})
	if err != nil {
		return nil, err
	}
	var out []*storage.Job
	err = s.write(ctx, func(w *wtx) error {
		out = out[:0]
		return w.fetch(p, now, data, &out)
	})
	if err != nil {
		return nil, interpretError("fetch", err)
	}
	return out, nil
}

// fetchSQL leases up to ?4 jobs of queue ?1 with a priority from ?2 to ?3,
// under token ?9. A LIMIT of a bare parameter makes SQLite prepare the
// statement again each time its parameters are bound (the planner reads
// the value), so the writer's statements limit by an expression of it,
// +?4. The jobs of one fetch share their token: each lease still
// carries a token larger than any the job was leased under before, which
// is what fencing needs, and the statement stays one pass over the rows it
// leases. The jobs are picked by rowid, which jobs_fetch holds: picking
// them by id read each job's row in the subquery, then the primary key's
// index. It returns fetchedCols, not what the statement set.
const fetchSQL = `UPDATE OR FAIL jobs SET ` + shiftSQL + `, state = 'processing', state_data = NULL, state_reason = '', updated_at = ?6,
	attempt = attempt + 1, lease_owner = ?7, lease_until = ?8, lease_token = ?9, expire_at = NULL
WHERE rowid IN (SELECT rowid FROM jobs WHERE state = 'enqueued' AND queue = ?1 AND priority BETWEEN ?2 AND ?3
	ORDER BY priority DESC, seq LIMIT +?4)
RETURNING ` + fetchedCols

// shiftSQL is the part of every statement that changes a job's state that
// keeps the two states it left last in its row (see migration
// 006_recent_history): prev2 becomes prev1, and the state it leaves prev2,
// as trigger jobs_history records it; the trigger writes what prev1 held
// to job_history. It calls no SQL function.
const shiftSQL = `prev1_state = prev2_state, prev1_reason = prev2_reason, prev1_at = prev2_at, prev1_data = prev2_data,
	prev1_owner = prev2_owner, prev2_state = state, prev2_reason = state_reason, prev2_at = updated_at,
	prev2_data = state_data, prev2_owner = CASE WHEN state_data IS NULL THEN lease_owner END`

// fetchedCols is the column list that scanFetched reads: a job's columns
// that a lease leaves as they were, and its enqueue sequence.
const fetchedCols = `id, task, args, queue, priority, run_at, attempt, created_at, params, parent_id, batch_id,
	unique_key, unique_until, partition_key, seq`

// scanFetched reads the columns of fetchedCols of a job that fetchSQL
// leased at now to owner until until under token, and returns it with its
// enqueue sequence; its state data is left for the caller.
func scanFetched(r scanner, now time.Time, owner string, until time.Time, token int64) (*storage.Job, int64, error) {
	var (
		j                           storage.Job
		id, parent, batch           []byte
		params, key, partition      sql.NullString
		runAt, uniqueUntil, created sql.NullInt64
		seq                         int64
	)
	if err := r.Scan(&id, &j.Task, &j.Args, &j.Queue, &j.Priority, &runAt, &j.Attempt, &created, &params,
		&parent, &batch, &key, &uniqueUntil, &partition, &seq); err != nil {
		return nil, 0, err
	}
	copy(j.ID[:], id)
	copy(j.ParentID[:], parent)
	copy(j.BatchID[:], batch)
	if j.Args == nil {
		j.Args = []byte{}
	}
	j.State = states.NameProcessing
	j.RunAt, j.CreatedAt, j.UpdatedAt = fromMicros(runAt), fromMicros(created), time.UnixMicro(now.UnixMicro()).UTC()
	j.LeaseOwner, j.LeaseToken, j.LeaseUntil = owner, token, time.UnixMicro(until.UnixMicro()).UTC()
	j.UniqueKey, j.UniqueUntil, j.Partition = key.String, fromMicros(uniqueUntil), partition.String
	if params.Valid && params.String != "" {
		if err := json.Unmarshal([]byte(params.String), &j.Params); err != nil {
			return nil, 0, fmt.Errorf("decode params of job %s: %w", j.ID, err)
		}
	}
	return &j, seq, nil
}

func (w *wtx) fetch(p *storage.FetchParams, now time.Time, shared []byte, out *[]*storage.Job) error {
	paused, err := w.pausedQueues()
	if err != nil {
		return err
	}
	f, err := w.loadFlow()
	if err != nil {
		return err
	}
	reached := p.NotAbove == nil // queues before NotAbove.Queue are not served
	for _, name := range p.Queues {
		if len(*out) >= p.Limit {
			break
		}
		floor, ceiling := int64(math.MinInt64), int64(math.MaxInt64)
		if a := p.Above; a != nil && a.Queue == name {
			if a.Priority == math.MaxInt {
				break
			}
			floor = int64(a.Priority) + 1
		}
		if n := p.NotAbove; n != nil && n.Queue == name {
			reached, ceiling = true, int64(n.Priority)
		}
		if !reached {
			continue
		}
		if !paused[name] {
			jobs, err := w.fetchQueue(f, name, floor, ceiling, p.Limit-len(*out), now, p.Owner, now.Add(p.LeaseFor))
			if err != nil {
				return err
			}
			for _, j := range jobs {
				j.StateData = shared
				*out = append(*out, j)
			}
		}
		if p.Above != nil && p.Above.Queue == name {
			break
		}
	}
	return nil
}

// fetchQueue leases up to limit jobs of queue with a priority from floor
// to ceiling, until the time until, under one token: through fetchFair
// when the queue has jobs with a partition key, or a limit of f could
// hold some of limit jobs back; otherwise in one statement.
func (w *wtx) fetchQueue(f *flow, queue string, floor, ceiling int64, limit int, now time.Time, owner string, until time.Time) ([]*storage.Job, error) {
	dirty := w.dirty
	token, err := w.nextToken()
	if err != nil {
		return nil, err
	}
	var fair bool
	if err := w.queryRow(partitionedSQL, queue).Scan(&fair); err != nil {
		return nil, err
	}
	if fair || f != nil && f.mayBind(queue, limit) {
		return w.fetchFair(f, queue, floor, ceiling, limit, now, owner, until, token)
	}
	rows, err := w.query(fetchSQL, queue, floor, ceiling, limit, nil, now.UnixMicro(), owner, until.UnixMicro(), token)
	if err != nil {
		return nil, err
	}
	type leased struct {
		j   *storage.Job
		seq int64
	}
	var got []leased
	for rows.Next() {
		j, seq, err := scanFetched(rows, now, owner, until, token)
		if err != nil {
			rows.Close()
			return nil, err
		}
		got = append(got, leased{j, seq})
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if len(got) == 0 {
		// No job holds the token: it is given back, so that a fetch that
		// finds nothing (a worker's urgent fetch, mostly) writes nothing
		// and its commit appends nothing to the WAL.
		w.token, w.dirty = w.token-1, dirty
		return nil, nil
	}
	slices.SortFunc(got, func(a, b leased) int {
		return cmp.Or(cmp.Compare(b.j.Priority, a.j.Priority), cmp.Compare(a.seq, b.seq))
	})
	out := make([]*storage.Job, len(got))
	for i, l := range got {
		out[i] = l.j
		if f != nil {
			f.started(&candidate{queue: queue, task: l.j.Task}) // for the fetch's next queues
		}
	}
	return out, nil
}

func (w *wtx) pausedQueues() (map[string]bool, error) {
	rows, err := w.query("SELECT name FROM queues")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out map[string]bool
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		if out == nil {
			out = map[string]bool{}
		}
		out[n] = true
	}
	return out, rows.Err()
}

// moveSQL is every state change of a job, from Transition or the store's
// own moves. ?1 id, ?2 1 when the job must be in one of the states ?15 to
// ?21 (NULL for the unused), 0 for any, ?3 the token it must be leased
// under (0 for any), ?4 new state, ?5 its data, ?6 reason, ?7 now, ?8 new
// queue (NULL keeps it), ?9 run_at, ?10 expire_at, ?11 params (NULL keeps
// them), ?12 enqueue sequence, ?13 1 to refund the lease's attempt, ?14
// the lease's owner (empty for any). It keeps the state the job leaves
// in the job's row (shiftSQL).
//
// The statement calls no SQL function: a statement that fires triggers
// and may fail midway, which SQLite assumes of any function call, writes
// every page it changes to a statement journal first. The states are
// compared one by one: IN over parameters builds a temporary index at
// each run.
const moveSQL = `UPDATE OR FAIL jobs SET ` + shiftSQL + `,
	attempt = CASE WHEN ?13 AND ?3 <> 0 AND attempt > 0 THEN attempt - 1 ELSE attempt END,
	state = ?4, state_data = ?5, state_reason = ?6, updated_at = ?7, queue = coalesce(?8, queue),
	run_at = CASE WHEN ?4 = 'scheduled' THEN ?9 ELSE run_at END, expire_at = ?10,
	params = coalesce(?11, params), seq = ?12, lease_owner = NULL, lease_token = NULL, lease_until = NULL
WHERE id = ?1 AND (?2 = 0 OR state = ?15 OR state = ?16 OR state = ?17 OR state = ?18 OR state = ?19 OR state = ?20 OR state = ?21)
	AND (?3 = 0 OR (state = 'processing' AND lease_token = ?3 AND (?14 = '' OR lease_owner = ?14)))
RETURNING awaited, batch_id`

// appendHistorySQL records a state that a job passed through, ?1 id, ?2
// state, ?3 reason, ?4 time, ?5 data, after those it has.
const appendHistorySQL = `INSERT INTO job_history (job_id, n, state, reason, at, data)
SELECT ?1, coalesce(max(n), 0) + 1, ?2, ?3, ?4, ?5 FROM job_history WHERE job_id = ?1`

// spillSQL moves the two states job ?1 left last, kept in its row (see
// shiftSQL), to the end of its rows of job_history, in their order.
var spillSQL = [...]string{
	`INSERT INTO job_history (job_id, n, state, reason, at, data, owner)
SELECT id, (SELECT coalesce(max(n), 0) + 1 FROM job_history WHERE job_id = ?1), prev1_state, prev1_reason, prev1_at, prev1_data, prev1_owner
FROM jobs WHERE id = ?1 AND prev1_state IS NOT NULL`,
	`INSERT INTO job_history (job_id, n, state, reason, at, data, owner)
SELECT id, (SELECT coalesce(max(n), 0) + 1 FROM job_history WHERE job_id = ?1), prev2_state, prev2_reason, prev2_at, prev2_data, prev2_owner
FROM jobs WHERE id = ?1 AND prev2_state IS NOT NULL`,
	`UPDATE jobs SET prev1_state = NULL, prev1_reason = NULL, prev1_at = NULL, prev1_data = NULL, prev1_owner = NULL,
	prev2_state = NULL, prev2_reason = NULL, prev2_at = NULL, prev2_data = NULL, prev2_owner = NULL WHERE id = ?1`,
}

// move is one state change; see moveSQL.
type move struct {
	id        uuid.UUID
	from      []states.Name
	token     int64
	to        states.Name
	data      []byte
	reason    string
	traversed []storage.StateRecord
	queue     string
	runAt     time.Time
	expireAt  time.Time
	params    map[string]json.RawMessage
	refund    bool   // gives back the lease's attempt (with token)
	owner     string // the lease's owner, when not empty (with token)
}

// fromStates is the states a job may be in for a change from from: each
// valid name once (a job is never in another), NULL for the unused.
func fromStates(from []states.Name) [7]any {
	var out [7]any
	n := 0
	for _, f := range from {
		if f.Valid() && !slices.Contains(out[:n], any(string(f))) {
			out[n] = string(f)
			n++
		}
	}
	return out
}

// leasedCols are the parameters of a row of leasedMovesSQL, in order.
var leasedCols = [...]string{"tid", "tfrom", "ttoken", "tstate", "tdata", "treason", "tqueue", "trun", "texpire", "trefund",
	"towner", "f1", "f2", "f3", "f4", "f5", "f6", "f7"}

// leasedOwn are the columns of leasedCols, by index, that the changes of a
// worker's completions never share: id, token, data, expire_at.
var leasedOwn = [len(leasedCols)]bool{0: true, 2: true, 4: true, 8: true}

// leasedMovesSQL is moveSQL for n changes of leased jobs at once, in one
// statement: the changes Transition makes most, a worker's jobs finishing.
// ?1 is now, and each change is a row of the parameters leasedCols: id, 1
// when the job must be in one of the states f1 to f7, the token it must
// be leased under, new state, its data, reason, new queue (NULL keeps it),
// run_at, expire_at, 1 to refund the lease's attempt, the lease's owner
// (empty for any), f1 to f7. With shared, the changes share all but the
// columns of leasedOwn, whose values are bound once, from ?2, and the rows
// hold only their own (binding a value costs more than SQLite's use of
// it). It returns the ids of the jobs it changed. Like moveSQL it calls no
// SQL function; the jobs must be distinct, and a change neither makes a
// job enqueued nor sets its params nor records states it traversed.
func leasedMovesSQL(n int, shared bool) string {
	col := map[string]string{} // a column's expression
	var own []string
	next := 2
	for c, name := range leasedCols {
		if !shared || leasedOwn[c] {
			col[name] = "t." + name
			own = append(own, name)
			continue
		}
		col[name] = fmt.Sprintf("?%d", next)
		next++
	}
	var b strings.Builder
	b.WriteString(`WITH t(` + strings.Join(own, ", ") + `) AS (VALUES `)
	for r := range n {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := range own {
			if c > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "?%d", next+r*len(own)+c)
		}
		b.WriteByte(')')
	}
	b.WriteString(`)
UPDATE OR FAIL jobs SET ` + shiftSQL + `,
	attempt = CASE WHEN ` + col["trefund"] + ` AND attempt > 0 THEN attempt - 1 ELSE attempt END,
	state = ` + col["tstate"] + `, state_data = ` + col["tdata"] + `, state_reason = ` + col["treason"] + `, updated_at = ?1,
	queue = coalesce(` + col["tqueue"] + `, jobs.queue),
	run_at = CASE WHEN ` + col["tstate"] + ` = 'scheduled' THEN ` + col["trun"] + ` ELSE jobs.run_at END, expire_at = ` + col["texpire"] + `,
	seq = NULL, lease_owner = NULL, lease_token = NULL, lease_until = NULL
FROM t
WHERE jobs.id = t.tid AND (` + col["tfrom"] + ` = 0 OR jobs.state = ` + col["f1"] + ` OR jobs.state = ` + col["f2"] +
		` OR jobs.state = ` + col["f3"] + ` OR jobs.state = ` + col["f4"] + `
		OR jobs.state = ` + col["f5"] + ` OR jobs.state = ` + col["f6"] + ` OR jobs.state = ` + col["f7"] + `)
	AND jobs.state = 'processing' AND jobs.lease_token = t.ttoken AND (` + col["towner"] + ` = '' OR jobs.lease_owner = ` + col["towner"] + `)
RETURNING id, awaited, batch_id`)
	return b.String()
}

// leasedChunks are the numbers of changes leasedMovesSQL is prepared for,
// largest first: a call's changes are run in chunks of these sizes.
var leasedChunks = [...]int{128, 64, 32, 16, 8, 4, 2, 1}

// leasedSQL is leasedMovesSQL for each of leasedChunks, and
// leasedSharedSQL the same for changes that share their values.
var leasedSQL, leasedSharedSQL = func() (out, shared [len(leasedChunks)]string) {
	for i, n := range leasedChunks {
		out[i], shared[i] = leasedMovesSQL(n, false), leasedMovesSQL(n, true)
	}
	return out, shared
}()

// leased reports whether t may be made by leasedMovesSQL (the job named
// once in the call, see transition).
func leased(t *storage.Transition) bool {
	return t.Token != 0 && len(t.Traversed) == 0 && len(t.Params) == 0 && t.To != states.NameEnqueued
}

// moved is what leasedMovesSQL returned for a job it changed.
type moved struct {
	awaited bool
	batch   []byte
}

// moveLeased makes the changes ts with leasedMovesSQL at now, and returns
// what it returned for each job it changed.
func (w *wtx) moveLeased(ts []*storage.Transition, now time.Time) (map[uuid.UUID]moved, error) {
	out := make(map[uuid.UUID]moved, len(ts))
	var all, args []any // every change's values, in the order of leasedCols; a statement's arguments
	for len(ts) > 0 {
		k := 0
		for leasedChunks[k] > len(ts) {
			k++
		}
		chunk := ts[:leasedChunks[k]]
		ts = ts[len(chunk):]
		all = all[:0]
		for _, t := range chunk {
			var expire time.Time
			if t.To.Expires() {
				expire = t.ExpireAt
			}
			from := fromStates(t.From)
			all = append(all, uid(t.ID), len(t.From) > 0, t.Token, string(t.To), string(t.Data), t.Reason,
				nullString(t.Queue), micros(t.RunAt), micros(expire), t.Refund, t.Owner)
			all = append(all, from[:]...)
		}
		q, ok := leasedSharedSQL[k], false
		if args, ok = sharedValues(append(args[:0], now.UnixMicro()), all, leasedOwn[:]); !ok {
			q, args = leasedSQL[k], append(args[:1], all...)
		}
		rows, err := w.query(q, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				id []byte
				m  moved
			)
			if err := rows.Scan(&id, &m.awaited, &m.batch); err != nil {
				rows.Close()
				return nil, err
			}
			out[uuid.UUID(id)] = m
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// apply makes the change m at now. It reports whether it was made, and
// when it finishes the job, resolves what awaits the job or its batch.
func (w *wtx) apply(m *move, now time.Time, retention time.Duration) (bool, error) {
	from := fromStates(m.from) // ?15 to ?21
	var seq any
	if m.to == states.NameEnqueued {
		n, err := w.nextSeq()
		if err != nil {
			return false, err
		}
		seq = n
	}
	var params any
	if len(m.params) > 0 {
		// Merged in Go: each value replaces the stored one whole.
		var old sql.NullString
		if err := w.queryRow("SELECT params FROM jobs WHERE id = ?", uid(m.id)).Scan(&old); err != nil && err != sql.ErrNoRows {
			return false, err
		}
		merged := map[string]json.RawMessage{}
		if old.Valid && old.String != "" {
			if err := json.Unmarshal([]byte(old.String), &merged); err != nil {
				return false, err
			}
		}
		maps.Copy(merged, m.params)
		var err error
		if params, err = encodeParams(merged); err != nil {
			return false, err
		}
	}
	var expire time.Time
	if m.to.Expires() {
		expire = m.expireAt
	}
	var (
		awaited bool
		batch   []byte
	)
	err := w.queryRow(moveSQL, uid(m.id), len(m.from) > 0, m.token, string(m.to), string(m.data), m.reason, now.UnixMicro(),
		nullString(m.queue), micros(m.runAt), micros(expire), params, seq, m.refund, m.owner,
		from[0], from[1], from[2], from[3], from[4], from[5], from[6]).Scan(&awaited, &batch)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(m.traversed) > 0 {
		// The states the job passed through follow the one it left, which
		// the statement kept in its row: the row's states go to
		// job_history first, in their order.
		for _, q := range spillSQL {
			if _, err := w.exec(q, uid(m.id)); err != nil {
				return false, err
			}
		}
	}
	for _, r := range m.traversed {
		var data any
		if len(r.Data) > 0 {
			data = string(r.Data)
		}
		if _, err := w.exec(appendHistorySQL, uid(m.id), string(r.State), r.Reason, r.At.UnixMicro(), data); err != nil {
			return false, err
		}
	}
	w.wake(stateTopic(m.to))
	if m.to.Finished() {
		return true, w.finished(m.id, m.to, awaited, batch, now, retention)
	}
	return true, nil
}

// Transition implements [storage.Store].
func (s *Store) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	now := clock(p.Now)
	var errs []error
	err := s.write(ctx, func(w *wtx) (err error) {
		errs, err = w.transition(p, now)
		return err
	})
	if err != nil {
		return nil, interpretError("transition", err)
	}
	return errs, nil
}

func (w *wtx) transition(p *storage.TransitionParams, now time.Time) ([]error, error) {
	errs := make([]error, len(p.Transitions))
	if p.AllOrNothing {
		// Each change is checked against the state the changes before it
		// leave, so that a job named twice is checked as it will be.
		failed, after := false, map[uuid.UUID]states.Name{}
		for i := range p.Transitions {
			t := &p.Transitions[i]
			e, err := w.check(t, after)
			if err != nil {
				return nil, err
			}
			errs[i] = e
			if e == nil {
				after[t.ID] = t.To
			}
			failed = failed || e != nil
		}
		if failed {
			return errs, nil
		}
	}
	// When every change is of a leased job named once (a worker's
	// outcomes), they are made first, in one statement per chunk, and
	// their effects then followed in order: they touch no job but their
	// own, and what a finished job resolves (continuations, batches) no
	// other change of the call can touch, so the call ends as one by one
	// would. A call that mixes in other changes runs one by one: one of
	// them could meet a batch resolved by a later job's change.
	named := make(map[uuid.UUID]int, len(p.Transitions))
	for i := range p.Transitions {
		named[p.Transitions[i].ID]++
	}
	together := make([]bool, len(p.Transitions))
	var set []*storage.Transition
	for i := range p.Transitions {
		if t := &p.Transitions[i]; leased(t) && named[t.ID] == 1 {
			together[i], set = true, append(set, t)
		}
	}
	if len(set) < len(p.Transitions) {
		set, together = nil, make([]bool, len(p.Transitions))
	}
	done, err := w.moveLeased(set, now)
	if err != nil {
		return nil, err
	}
	var counts storage.StatsPoint
	for i := range p.Transitions {
		t := &p.Transitions[i]
		var ok bool
		if together[i] {
			var m moved
			if m, ok = done[t.ID]; ok {
				w.wake(stateTopic(t.To))
				if t.To.Finished() {
					if err := w.finished(t.ID, t.To, m.awaited, m.batch, now, p.Retention); err != nil {
						return nil, err
					}
				}
			}
		} else if ok, err = w.apply(&move{id: t.ID, from: t.From, token: t.Token, to: t.To, data: t.Data, reason: t.Reason,
			traversed: t.Traversed, queue: t.Queue, runAt: t.RunAt, expireAt: t.ExpireAt, params: t.Params,
			refund: t.Refund, owner: t.Owner}, now, p.Retention); err != nil {
			return nil, err
		}
		if !ok {
			if errs[i], err = w.check(t, nil); err != nil {
				return nil, err
			}
			if errs[i] == nil { // cannot happen: the same conditions held
				errs[i] = fmt.Errorf("sqlitestore: job %s: %w", t.ID, storage.ErrStateConflict)
			}
			continue
		}
		switch t.To {
		case states.NameSucceeded:
			counts.Succeeded++
		case states.NameFailed:
			counts.Failed++
		case states.NameDeleted:
			counts.Deleted++
		}
	}
	if counts != (storage.StatsPoint{}) {
		if _, err := w.exec(countSQL, storage.StatsPeriod(now, time.Minute).UnixMicro(), counts.Succeeded, counts.Failed, counts.Deleted); err != nil {
			return nil, err
		}
	}
	return errs, nil
}

const countSQL = `INSERT INTO stats (minute, succeeded, failed, deleted) VALUES (?, ?, ?, ?)
ON CONFLICT (minute) DO UPDATE SET succeeded = succeeded + excluded.succeeded,
	failed = failed + excluded.failed, deleted = deleted + excluded.deleted`

// check tells why transition t fails, or nil when it would apply: against
// its job, or, for a job in after, against the state earlier changes of the
// call leave it in (with no lease: a transition never grants one).
func (w *wtx) check(t *storage.Transition, after map[uuid.UUID]states.Name) (error, error) {
	var (
		state string
		token sql.NullInt64
		owner sql.NullString
	)
	err := w.queryRow("SELECT state, lease_token, lease_owner FROM jobs WHERE id = ?", uid(t.ID)).Scan(&state, &token, &owner)
	if err == sql.ErrNoRows {
		return fmt.Errorf("sqlitestore: job %s: %w", t.ID, storage.ErrNotFound), nil
	}
	if err != nil {
		return nil, err
	}
	st, tok, own := states.Name(state), token.Int64, owner.String
	if a, ok := after[t.ID]; ok {
		st, tok = a, 0
	}
	if t.Token != 0 && (st != states.NameProcessing || tok != t.Token || t.Owner != "" && own != t.Owner) {
		return fmt.Errorf("sqlitestore: job %s token %d: %w", t.ID, t.Token, storage.ErrLeaseLost), nil
	}
	if len(t.From) > 0 && !slices.Contains(t.From, st) {
		return fmt.Errorf("sqlitestore: job %s is %s, not %v: %w", t.ID, st, t.From, storage.ErrStateConflict), nil
	}
	return nil, nil
}

// ExtendLeases implements [storage.Store].
func (s *Store) ExtendLeases(ctx context.Context, p *storage.ExtendParams) ([]storage.LostLease, error) {
	if p.Until.IsZero() && p.Worker == nil {
		lost, err := s.lostLeases(ctx, p)
		return lost, interpretError("check leases", err)
	}
	var lost []storage.LostLease
	err := s.write(ctx, func(w *wtx) error {
		lost = lost[:0]
		if p.Worker != nil {
			if err := w.heartbeat(p.Worker); err != nil {
				return err
			}
		}
		for id, token := range p.Jobs {
			if !p.Until.IsZero() {
				res, err := w.exec(`UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'processing' AND lease_token = ? AND lease_owner = ?`,
					p.Until.UnixMicro(), uid(id), token, p.Owner)
				if err != nil {
					return err
				}
				if n, err := res.RowsAffected(); err != nil || n == 1 {
					continue
				}
			}
			l, held, err := leaseOf(w.queryRow, id, token, p.Owner)
			if err != nil {
				return err
			}
			if !held {
				lost = append(lost, l)
			}
		}
		return nil
	})
	if err != nil {
		return nil, interpretError("extend leases", err)
	}
	return lost, nil
}

// lostLeases checks the leases of p without writing.
func (s *Store) lostLeases(ctx context.Context, p *storage.ExtendParams) ([]storage.LostLease, error) {
	var lost []storage.LostLease
	err := s.read(ctx, func(conn querier) error {
		lost = lost[:0]
		for id, token := range p.Jobs {
			l, held, err := leaseOf(func(q string, args ...any) *sql.Row { return conn.QueryRowContext(ctx, q, args...) }, id, token, p.Owner)
			if err != nil {
				return err
			}
			if !held {
				lost = append(lost, l)
			}
		}
		return nil
	})
	return lost, err
}

// leaseOf reads whether owner holds job id under token, and otherwise the
// lost lease to report.
func leaseOf(queryRow func(string, ...any) *sql.Row, id uuid.UUID, token int64, owner string) (storage.LostLease, bool, error) {
	var (
		state string
		tok   sql.NullInt64
		own   sql.NullString
	)
	err := queryRow("SELECT state, lease_token, lease_owner FROM jobs WHERE id = ?", uid(id)).Scan(&state, &tok, &own)
	if err == sql.ErrNoRows {
		return storage.LostLease{ID: id}, false, nil
	}
	if err != nil {
		return storage.LostLease{}, false, err
	}
	if state == string(states.NameProcessing) && tok.Int64 == token && own.String == owner {
		return storage.LostLease{}, true, nil
	}
	return storage.LostLease{ID: id, State: states.Name(state)}, false, nil
}

// PromoteDue implements [storage.Store].
func (s *Store) PromoteDue(ctx context.Context, p *storage.PromoteParams) (storage.PromoteResult, error) {
	now := clock(p.Now)
	var res storage.PromoteResult
	err := s.write(ctx, func(w *wtx) error {
		res = storage.PromoteResult{}
		n, err := w.requeue(`SELECT id, queue FROM jobs WHERE state = 'scheduled' AND run_at <= ?1 ORDER BY run_at LIMIT +?2`,
			"scheduled time reached", now, p.Limit)
		if err != nil {
			return err
		}
		res.Promoted = n
		var next sql.NullInt64
		if err := w.queryRow(`SELECT min(run_at) FROM jobs WHERE state = 'scheduled'`).Scan(&next); err != nil {
			return err
		}
		res.Next = fromMicros(next)
		return nil
	})
	return res, interpretError("promote", err)
}

// ReclaimExpired implements [storage.Store].
func (s *Store) ReclaimExpired(ctx context.Context, p *storage.ReclaimParams) (int, error) {
	now := clock(p.Now)
	var n int
	err := s.write(ctx, func(w *wtx) (err error) {
		n, err = w.requeue(`SELECT id, queue FROM jobs WHERE lease_until <= ?1 AND state = 'processing' ORDER BY lease_until LIMIT +?2`,
			storage.ReasonLeaseExpired, now, p.Limit)
		return err
	})
	return n, interpretError("reclaim", err)
}

// requeue moves the jobs that query (?1 now, ?2 limit, or the args given)
// selects to Enqueued, for reason, and returns how many moved.
func (w *wtx) requeue(query, reason string, now time.Time, args ...any) (int, error) {
	rows, err := w.query(query, append([]any{now.UnixMicro()}, args...)...)
	if err != nil {
		return 0, err
	}
	type pick struct {
		id    uuid.UUID
		queue string
	}
	var picked []pick
	for rows.Next() {
		var (
			id []byte
			p  pick
		)
		if err := rows.Scan(&id, &p.queue); err != nil {
			rows.Close()
			return 0, err
		}
		copy(p.id[:], id)
		picked = append(picked, p)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	data := map[string][]byte{} // per queue
	for _, p := range picked {
		d, ok := data[p.queue]
		if !ok {
			if d, err = states.Marshal(states.Enqueued{Queue: p.queue, EnqueuedAt: now, Reason: reason}); err != nil {
				return 0, err
			}
			data[p.queue] = d
		}
		if _, err := w.apply(&move{id: p.id, to: states.NameEnqueued, data: d, reason: reason}, now, 0); err != nil {
			return 0, err
		}
	}
	return len(picked), nil
}

// querier is what reads need: a read connection, or the caller's
// transaction for a store made by WithTx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// read runs fn on a read connection, retrying while the file is busy; in
// the caller's transaction for a store made by WithTx.
func (s *Store) read(ctx context.Context, fn func(q querier) error) error {
	if s.tx != nil {
		return fn(s.tx)
	}
	select {
	case <-s.stop:
		return ErrClosed
	default:
	}
	conn, err := s.readDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return retryBusy(ctx, func() error { return fn(conn) })
}

// historySQL is a job's history, read in the statement that reads the job:
// its rows of job_history, oldest first, separated by commas; then
// recentCols.
const historySQL = `(SELECT group_concat(` + historyEntry + `, ',' ORDER BY n) FROM job_history WHERE job_id = jobs.id), ` + recentCols

// recentCols are the two states a job left last, kept in its row (see
// shiftSQL), as recent reads them.
const recentCols = `prev1_state, prev1_reason, prev1_at, prev1_data, prev1_owner,
	prev2_state, prev2_reason, prev2_at, prev2_data, prev2_owner`

// recent is a state kept in a job's row by shiftSQL.
type recent struct {
	state, reason, data, owner sql.NullString
	at                         sql.NullInt64
}

// recentDest returns where the values of recentCols go.
func recentDest(r *[2]recent) []any {
	return []any{&r[0].state, &r[0].reason, &r[0].at, &r[0].data, &r[0].owner,
		&r[1].state, &r[1].reason, &r[1].at, &r[1].data, &r[1].owner}
}

// appendRecent appends the states of r that are set to h, as
// decodeHistory reads the same state from job_history.
func appendRecent(h []storage.StateRecord, r *[2]recent) []storage.StateRecord {
	for _, e := range r {
		if !e.state.Valid {
			continue
		}
		rec := storage.StateRecord{State: states.Name(e.state.String), Reason: e.reason.String, At: time.UnixMicro(e.at.Int64).UTC()}
		switch {
		case e.owner.Valid:
			rec.Data = processingData(rec.At, e.owner.String)
		case e.data.Valid && e.data.String != "" && e.data.String != "null":
			rec.Data = []byte(e.data.String)
		}
		h = append(h, rec)
	}
	return h
}

// Get implements [storage.Store].
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	return s.get(ctx, id, true)
}

// Peek implements [storage.Peeker].
func (s *Store) Peek(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	return s.get(ctx, id, false)
}

func (s *Store) get(ctx context.Context, id uuid.UUID, history bool) (*storage.Job, error) {
	var j *storage.Job
	err := s.read(ctx, func(conn querier) error {
		var (
			h      sql.NullString
			reason string
			rs     [2]recent
			err    error
		)
		q, dest := `SELECT `+jobCols+`, state_reason FROM jobs WHERE id = ?`, []any{&reason}
		if history {
			q, dest = `SELECT `+jobCols+`, state_reason, `+historySQL+` FROM jobs WHERE id = ?`, append(dest, &h)
			dest = append(dest, recentDest(&rs)...)
		}
		j, err = scanJob(conn.QueryRowContext(ctx, q, uid(id)), dest...)
		if err != nil {
			return err
		}
		withData(j)
		if history {
			if j.History, err = decodeHistory(h.String); err != nil {
				return err
			}
			j.History = appendRecent(j.History, &rs)
			j.History = append(j.History, storage.StateRecord{State: j.State, Reason: reason, Data: j.StateData, At: j.UpdatedAt})
		}
		return nil
	})
	if err != nil {
		return nil, interpretError(fmt.Sprintf("job %s", id), err)
	}
	return j, nil
}

// cursor is a job's place in a list: "a.b.id", where a and b are the
// priority and enqueue sequence of an Enqueued job, the run time (Unix
// microseconds) and 0 of a Scheduled one, 0 and 0 otherwise (the format
// pgstore uses too).
type cursor struct {
	a, b int64
	id   uuid.UUID
}

func (c cursor) String() string { return fmt.Sprintf("%d.%d.%s", c.a, c.b, c.id) }

func parseCursor(s string) (cursor, error) {
	var c cursor
	parts := strings.Split(s, ".")
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

// listKey is one column of a list's order, ascending or not.
type listKey struct {
	col string
	asc bool
}

// List implements [storage.Lister], in the orders it gives, through
// keysets: Enqueued jobs by priority then enqueue sequence (the fetch
// index, see listEnqueued), Scheduled ones by run_at then ID
// (jobs_scheduled), the others by ID, newest first (the primary key). A
// cursor continues after its place in that order, whether its job is
// still there or not.
func (s *Store) List(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if p.State != "" {
		// A literal: SQLite plans a statement when it is prepared, and
		// uses a partial index on the state for a literal only.
		where = append(where, "state = '"+strings.ReplaceAll(string(p.State), "'", "''")+"'")
	}
	if p.Queue != "" && p.State != states.NameEnqueued {
		add("queue = ?", p.Queue)
	}
	if p.Task != "" {
		add("task = ?", p.Task)
	}
	if p.BatchID != uuid.Nil {
		add("batch_id = ?", uid(p.BatchID))
	}
	if p.ParentID != uuid.Nil {
		add("parent_id = ?", uid(p.ParentID))
	}
	var after *cursor
	if p.Cursor != "" {
		c, err := parseCursor(p.Cursor)
		if err != nil {
			return nil, err
		}
		after = &c
	}
	if p.State == states.NameEnqueued {
		return s.listEnqueued(ctx, p, where, args, after)
	}
	keys := []listKey{{"id", false}}
	if p.State == states.NameScheduled {
		keys = []listKey{{"run_at", true}, {"id", true}}
	}
	if after != nil {
		vals := []any{uid(after.id)}
		if p.State == states.NameScheduled {
			vals = []any{after.a, uid(after.id)}
		}
		// (k1 after v1) OR (k1 = v1 AND k2 after v2) OR …
		var or []string
		for i, k := range keys {
			var and []string
			for e := range i {
				and = append(and, keys[e].col+" = ?")
				args = append(args, vals[e])
			}
			op := ">"
			if k.asc == p.Backward {
				op = "<"
			}
			and = append(and, k.col+" "+op+" ?")
			args = append(args, vals[i])
			or = append(or, "("+strings.Join(and, " AND ")+")")
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	from := "jobs"
	if p.State == states.NameProcessing {
		// Few jobs run at once, and jobs_processing holds them all: a
		// sort of them beats a walk of every job by ID for the one in a
		// thousand that runs, which SQLite would choose (about a second a
		// page on a million jobs).
		from = "jobs INDEXED BY jobs_processing"
	}
	q := `SELECT ` + jobCols + `, seq FROM ` + from
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	order := make([]string, len(keys))
	for i, k := range keys {
		dir := " ASC"
		if k.asc == p.Backward {
			dir = " DESC"
		}
		order[i] = k.col + dir
	}
	q += ` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ? OFFSET ?`
	args = append(args, noLimit(p.Limit), max(p.Offset, 0))
	var out []*storage.Job
	err := s.read(ctx, func(conn querier) error {
		var err error
		out, err = listRows(ctx, conn, p.State, q, args, out[:0])
		return err
	})
	return out, interpretError("list", err)
}

// noLimit is SQLite's LIMIT of a limit (0: none).
func noLimit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}

// listRows appends the jobs that q returns (jobCols, then seq) to out,
// each with its cursor in a list of state st.
func listRows(ctx context.Context, conn querier, st states.Name, q string, args []any, out []*storage.Job) ([]*storage.Job, error) {
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq sql.NullInt64
		j, err := scanJob(rows, &seq)
		if err != nil {
			return out, err
		}
		c := cursor{id: j.ID}
		switch st {
		case states.NameEnqueued:
			c.a, c.b = int64(j.Priority), seq.Int64
		case states.NameScheduled:
			c.a = j.RunAt.UnixMicro()
		}
		j.Cursor = c.String()
		out = append(out, withData(j))
	}
	return out, rows.Err()
}

// enqueuedQueuesSQL lists the queues with Enqueued jobs by a loose scan
// of jobs_fetch: one seek per queue.
const enqueuedQueuesSQL = `WITH RECURSIVE q(name) AS (
	SELECT min(queue) FROM jobs WHERE state = 'enqueued'
	UNION ALL
	SELECT (SELECT min(queue) FROM jobs WHERE state = 'enqueued' AND queue > q.name) FROM q WHERE q.name IS NOT NULL
) SELECT name FROM q WHERE name IS NOT NULL`

// listEnqueued lists Enqueued jobs in the order workers take them: each
// queue's (the one given, or every queue with Enqueued jobs) walked on
// jobs_fetch from the cursor, the rest of the cursor's priority first,
// then the other priorities, as far as the page needs; the queues' pages
// merged. One query over every queue sorted every Enqueued job by
// priority (110 ms of CPU a page on a million jobs).
func (s *Store) listEnqueued(ctx context.Context, p *storage.ListParams, where []string, args []any, after *cursor) ([]*storage.Job, error) {
	n := noLimit(p.Limit)
	if p.Limit > 0 {
		n += max(p.Offset, 0)
	}
	prio, seq, op := "priority DESC", "seq ASC", [2]string{"<", ">"} // op: the other priorities, the rest of one
	if p.Backward {
		prio, seq, op = "priority ASC", "seq DESC", [2]string{">", "<"}
	}
	base := `SELECT ` + jobCols + `, seq FROM jobs WHERE ` + strings.Join(append(where, "queue = ?"), " AND ")
	var out []*storage.Job
	err := s.read(ctx, func(conn querier) error {
		out = out[:0]
		queues := []string{p.Queue}
		if p.Queue == "" {
			var err error
			if queues, err = queryStrings(ctx, conn, enqueuedQueuesSQL); err != nil {
				return err
			}
		}
		for _, queue := range queues {
			qargs := append(slices.Clip(args), queue)
			from := len(out)
			var err error
			if after != nil { // the rest of the cursor's priority
				out, err = listRows(ctx, conn, p.State, base+` AND priority = ? AND seq `+op[1]+` ? ORDER BY `+seq+` LIMIT ?`,
					append(slices.Clip(qargs), after.a, after.b, n), out)
				if err != nil {
					return err
				}
			}
			rest := n // what the queue's page lacks, negative for no limit
			if n > 0 {
				rest -= len(out) - from
			}
			if rest != 0 { // the other priorities
				q, pargs := base, slices.Clip(qargs)
				if after != nil {
					q, pargs = q+` AND priority `+op[0]+` ?`, append(pargs, after.a)
				}
				if out, err = listRows(ctx, conn, p.State, q+` ORDER BY `+prio+`, `+seq+` LIMIT ?`, append(pargs, rest), out); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, interpretError("list", err)
	}
	// Merge the queues' pages: by priority and sequence, in the order walked.
	type place struct {
		c cursor
		j *storage.Job
	}
	merged := make([]place, len(out))
	for i, j := range out {
		c, _ := parseCursor(j.Cursor)
		merged[i] = place{c, j}
	}
	slices.SortFunc(merged, func(x, y place) int {
		c := cmp.Or(cmp.Compare(y.c.a, x.c.a), cmp.Compare(x.c.b, y.c.b))
		if p.Backward {
			return -c
		}
		return c
	})
	for i, m := range merged {
		out[i] = m.j
	}
	out = out[min(max(p.Offset, 0), len(out)):]
	if p.Limit > 0 {
		out = out[:min(p.Limit, len(out))]
	}
	return out, nil
}

// Count implements [storage.Lister].
func (s *Store) Count(ctx context.Context, queue string) (map[states.Name]int64, error) {
	q, args := `SELECT state, count(*) FROM jobs GROUP BY state`, []any{}
	if queue != "" {
		q, args = `SELECT state, count(*) FROM jobs WHERE queue = ? GROUP BY state`, []any{queue}
	}
	out := make(map[states.Name]int64, len(states.Names))
	err := s.read(ctx, func(conn querier) error {
		clear(out)
		rows, err := conn.QueryContext(ctx, q, args...)
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
		return nil, interpretError("count", err)
	}
	return out, nil
}

// DeleteExpired implements [storage.Pruner]. It also removes outcome counts
// older than [storage.StatsRetention].
func (s *Store) DeleteExpired(ctx context.Context, p *storage.PruneParams) (int, error) {
	now := clock(p.Now)
	var n int
	err := s.write(ctx, func(w *wtx) error {
		rows, err := w.query(`DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE expire_at <= ? ORDER BY expire_at LIMIT +?) RETURNING id`,
			now.UnixMicro(), p.Limit)
		if err != nil {
			return err
		}
		var ids [][]byte
		for rows.Next() {
			var id []byte
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		n = len(ids)
		for _, id := range ids {
			if _, err := w.exec(`DELETE FROM job_logs WHERE job_id = ?`, id); err != nil {
				return err
			}
			if _, err := w.exec(`DELETE FROM job_progress WHERE job_id = ?`, id); err != nil {
				return err
			}
			if _, err := w.exec(`DELETE FROM job_history WHERE job_id = ?`, id); err != nil {
				return err
			}
		}
		if _, err := w.exec(`DELETE FROM stats WHERE minute < ?`, now.Add(-storage.StatsRetention).UnixMicro()); err != nil {
			return err
		}
		// A past GCRA time counts as none: one per partition would stay for
		// ever. Each stays storage.RateTimeKept after it passed.
		_, err = w.exec(`DELETE FROM limit_rates WHERE rowid IN (SELECT rowid FROM limit_rates WHERE tat <= ? LIMIT +?)`,
			now.Add(-storage.RateTimeKept).UnixMicro(), p.Limit)
		return err
	})
	return n, interpretError("delete expired", err)
}

// Stats implements [storage.Statistics].
func (s *Store) Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]storage.StatsPoint, error) {
	step = max(step.Truncate(time.Minute), time.Minute)
	counted := map[time.Time]storage.StatsPoint{}
	first := storage.StatsPeriod(from, step)
	err := s.read(ctx, func(conn querier) error {
		clear(counted)
		rows, err := conn.QueryContext(ctx, `SELECT minute, succeeded, failed, deleted FROM stats WHERE minute >= ? AND minute < ?`,
			first.UnixMicro(), to.UnixMicro())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				minute int64
				p      storage.StatsPoint
			)
			if err := rows.Scan(&minute, &p.Succeeded, &p.Failed, &p.Deleted); err != nil {
				return err
			}
			at := storage.StatsPeriod(time.UnixMicro(minute), step)
			c := counted[at]
			c.Succeeded, c.Failed, c.Deleted = c.Succeeded+p.Succeeded, c.Failed+p.Failed, c.Deleted+p.Deleted
			counted[at] = c
		}
		return rows.Err()
	})
	if err != nil {
		return nil, interpretError("stats", err)
	}
	return storage.FillStats(from, to, step, counted), nil
}

// exactBelow is the number of jobs under which EstimateCount counts
// every state exactly.
const exactBelow = 100_000

// indexedStates are the states that a partial index holds, counted
// exactly through it at any size.
var indexedStates = []states.Name{states.NameEnqueued, states.NameScheduled, states.NameProcessing, states.NameFailed, states.NameAwaiting}

// sampleSize is how many of the newest jobs EstimateCount reads to split
// the others between succeeded and deleted.
const sampleSize = 10_000

// EstimateCount implements [storage.Estimator]. A file of fewer than
// 100,000 jobs is counted exactly (Count, which reads every job: 620 ms
// of CPU on a million). Above, the states that have a partial index are
// counted exactly through it, and the jobs in none of them, the total
// (count(*), through the smallest index) less those, are split between
// succeeded and deleted, estimated, as the newest 10,000 jobs of the
// two states are (SQLite keeps no statistics to estimate from).
func (s *Store) EstimateCount(ctx context.Context, queue string) (map[states.Name]int64, []states.Name, error) {
	out := make(map[states.Name]int64, len(states.Names))
	var exact []states.Name
	err := s.read(ctx, func(conn querier) error {
		clear(out)
		var total int64
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM jobs`).Scan(&total); err != nil {
			return err
		}
		if total < exactBelow {
			exact = states.Names
			return nil
		}
		exact = indexedStates
		rest := total // the jobs of every queue in no indexed state
		for _, st := range indexedStates {
			q := `SELECT count(*) FROM jobs WHERE state = '` + string(st) + `'`
			var all, n int64
			if err := conn.QueryRowContext(ctx, q).Scan(&all); err != nil {
				return err
			}
			rest, n = rest-all, all
			if queue != "" && all > 0 {
				if err := conn.QueryRowContext(ctx, q+` AND queue = ?`, queue).Scan(&n); err != nil {
					return err
				}
			}
			out[st] = n
		}
		rows, err := conn.QueryContext(ctx, `SELECT state, queue = ? FROM (SELECT state, queue FROM jobs ORDER BY id DESC LIMIT ?)
			WHERE state IN ('succeeded', 'deleted')`, queue, sampleSize)
		if err != nil {
			return err
		}
		defer rows.Close()
		var seen int64
		sampled := map[states.Name]int64{}
		for rows.Next() {
			var (
				st      string
				inQueue bool
			)
			if err := rows.Scan(&st, &inQueue); err != nil {
				return err
			}
			seen++
			if queue == "" || inQueue {
				sampled[states.Name(st)]++
			}
		}
		for st, n := range sampled {
			out[st] = max(rest, 0) * n / seen
		}
		return rows.Err()
	})
	if err != nil {
		return nil, nil, interpretError("estimate count", err)
	}
	if len(exact) == len(states.Names) {
		counts, err := s.Count(ctx, queue)
		return counts, slices.Clone(states.Names), err
	}
	return out, slices.Clone(exact), nil
}

// queryStrings returns the one column of text of the rows of q.
func queryStrings(ctx context.Context, conn querier, q string) ([]string, error) {
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
