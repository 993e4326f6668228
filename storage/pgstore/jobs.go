package pgstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// createSQL: $1–$18 the jobs' columns as arrays (id, task, args, queue, priority, state,
// state_data, run_at, created_at, expire_at, params, reason, attempt, parent_id, batch_id,
// unique_key, unique_until, partition_key) → nothing; in its unique form, the ids inserted.
//
// It inserts jobs, whose initial state lives on the row until they
// leave it. In its unique form a job whose key is held is skipped, and the
// inserted ids are returned.
const createSQL = `
INSERT INTO {s}.jobs (id, task, args, queue, priority, state, state_data, state_reason, run_at, attempt,
	created_at, updated_at, expire_at, params, enqueued_seq, parent_id, batch_id, unique_key, unique_until, unique_held,
	partition_key)
SELECT id, task, coalesce(args, ''), queue, priority, state, state_data, nullif(reason, ''), run_at, attempt,
	coalesce(created, now()), coalesce(created, now()), expire_at, params,
	CASE WHEN state = 'enqueued' THEN nextval('{sl}.enqueue_seq') END,
	parent_id, batch_id, unique_key, unique_until, unique_key IS NOT NULL, partition_key
FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[], $5::int4[], $6::text[],
	$7::json[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::jsonb[], $12::text[], $13::int4[],
	$14::uuid[], $15::uuid[], $16::text[], $17::timestamptz[], $18::text[])
	WITH ORDINALITY AS t(id, task, args, queue, priority, state, state_data, run_at, created,
		expire_at, params, reason, attempt, parent_id, batch_id, unique_key, unique_until, partition_key, ord)
ORDER BY ord{conflict}`

// Create implements [storage.Store]. Jobs without unique keys or parents
// take one INSERT of every job and its first history entry; a duplicate id
// fails it whole with [storage.ErrDuplicate]. Unique keys and Awaiting jobs
// take a transaction (see create). A zero CreatedAt means the server's clock.
func (s *Store) Create(ctx context.Context, p *storage.CreateParams) ([]uuid.UUID, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	flow := slices.ContainsFunc(p.Jobs, func(j *storage.Job) bool { return j.UniqueKey != "" || j.State == states.NameAwaiting })
	s.flowCreated(p.Jobs)
	if topics := wakes(p.Jobs...); !flow && !s.inTx && s.cfg.notify && topics != 0 && s.notifying.CompareAndSwap(false, true) {
		if err := s.createAndNotify(ctx, p.Jobs, topics); err != nil {
			return nil, interpretError("create", err)
		}
		ids := make([]uuid.UUID, len(p.Jobs))
		for i, j := range p.Jobs {
			ids[i] = j.ID
		}
		return ids, nil
	}
	var (
		ids  []uuid.UUID
		wake storage.Topic
	)
	err := s.maybeTx(ctx, flow, func(db db) (err error) {
		ids, wake, err = s.create(ctx, db, p)
		return err
	})
	if err != nil {
		return nil, interpretError("create", err)
	}
	return ids, s.wake(ctx, wake)
}

// wakes returns the topics that storing jobs announces.
func wakes(jobs ...*storage.Job) storage.Topic {
	var t storage.Topic
	for _, j := range jobs {
		t |= stateTopic(j.State)
	}
	return t
}

// stateTopic is the topic of a job entering state s; none for most states.
func stateTopic(s states.Name) storage.Topic {
	switch s {
	case states.NameEnqueued:
		return storage.TopicEnqueued
	case states.NameScheduled:
		return storage.TopicScheduled
	case states.NameSucceeded, states.NameFailed, states.NameDeleted:
		return storage.TopicFinished
	}
	return 0
}

// createAndNotify stores jobs that need no flow handling (no unique key,
// none Awaiting) and sends the wake-up in the same implicit transaction:
// one round trip and one commit, and subscribers are told exactly when the
// jobs become visible. The caller holds s.notifying, so that at most one
// committing transaction carries a NOTIFY (see wake); it is released here.
func (s *Store) createAndNotify(ctx context.Context, jobs []*storage.Job, topics storage.Topic) error {
	defer s.notifyDone()
	args, err := insertArgs(jobs)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(s.q.create, args...)
	b.Queue(s.q.notify, s.channel, payload(topics))
	return s.db.SendBatch(ctx, b).Close()
}

// maybeTx runs fn in a transaction when needed, else on the store's db.
func (s *Store) maybeTx(ctx context.Context, needed bool, fn func(db) error) error {
	if !needed {
		return fn(s.db)
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error { return fn(tx) })
}

// create stores p.Jobs through db, which must be a transaction when a job
// has a unique key or is Awaiting, and returns the topics to wake. Of the
// jobs of one call sharing a key only the first is sent. Keys are inserted
// ON CONFLICT DO NOTHING (after releasing stale ones) and the holders of
// those that conflicted are read back; a holder that released its key
// meanwhile makes it try again. Awaiting jobs are then checked against
// their parents, and resolved at once when those have finished.
func (s *Store) create(ctx context.Context, db db, p *storage.CreateParams) ([]uuid.UUID, storage.Topic, error) {
	ids := make([]uuid.UUID, len(p.Jobs))
	send := p.Jobs
	var first map[string]uuid.UUID // key -> the first job of this call with it
	for i, j := range p.Jobs {
		ids[i] = j.ID
		if j.UniqueKey == "" {
			continue
		}
		if id, ok := first[j.UniqueKey]; ok {
			ids[i] = id
			continue
		}
		if first == nil {
			first = map[string]uuid.UUID{}
		}
		first[j.UniqueKey] = j.ID
	}
	var created map[uuid.UUID]bool // nil: every sent job was stored
	if first == nil {
		if err := s.insert(ctx, db, s.q.create, send, nil); err != nil {
			return nil, 0, err
		}
	} else {
		send = slices.DeleteFunc(slices.Clone(p.Jobs), func(j *storage.Job) bool { return j.UniqueKey != "" && first[j.UniqueKey] != j.ID })
		created = map[uuid.UUID]bool{}
		holders, err := s.insertUnique(ctx, db, send, p.Now, created)
		if err != nil {
			return nil, 0, err
		}
		for i, j := range p.Jobs {
			if h, ok := holders[j.UniqueKey]; ok {
				ids[i] = h
			}
		}
	}
	var (
		wake    storage.Topic
		parents []pgtype.UUID
	)
	for _, j := range send {
		if created != nil && !created[j.ID] {
			continue
		}
		wake |= wakes(j)
		if j.State == states.NameAwaiting {
			parents = append(parents, uid(j.ParentID))
		}
	}
	if len(parents) == 0 {
		return ids, wake, nil
	}
	batches, err := s.await(ctx, db, parents)
	if err != nil {
		return nil, 0, err
	}
	enqueued, err := s.resolve(ctx, db, p.Now, p.Retention, parents, batches)
	return ids, wake | enqueued, err
}

// holdersSQL: $1 unique keys → unique_key, id of each job holding one.
var holdersSQL = `SELECT unique_key, id FROM {s}.jobs WHERE unique_key = ANY($1) AND unique_held`

// releaseStaleSQL: $1 now, $2 unique keys → nothing.
//
// Keys of finished jobs whose unique_until has passed (or was never
// set) are released before inserting jobs that want them.
var releaseStaleSQL = `UPDATE {s}.jobs SET unique_held = false
WHERE id = ANY(ARRAY(SELECT id FROM {s}.jobs WHERE unique_key = ANY($2) AND unique_held AND state IN ` + finished + `
	AND (unique_until IS NULL OR unique_until <= ` + clock + `) ORDER BY id FOR UPDATE))
	AND unique_held AND state IN ` + finished + ` AND (unique_until IS NULL OR unique_until <= ` + clock + `)`

// insertUnique inserts jobs, of which no two share a unique key, marks
// those stored in created, and returns the holders of the keys whose jobs
// were not stored.
func (s *Store) insertUnique(ctx context.Context, db db, jobs []*storage.Job, now time.Time, created map[uuid.UUID]bool) (map[string]uuid.UUID, error) {
	holders := map[string]uuid.UUID{}
	jobs = slices.Clone(jobs) // shrinks as keys are settled
	for range 3 {
		var keys []string
		for _, j := range jobs {
			if j.UniqueKey != "" {
				keys = append(keys, j.UniqueKey)
			}
		}
		if _, err := db.Exec(ctx, s.q.releaseStale, ts(now), keys); err != nil {
			return nil, err
		}
		if err := s.insert(ctx, db, s.q.createUnique, jobs, created); err != nil {
			return nil, err
		}
		jobs = slices.DeleteFunc(jobs, func(j *storage.Job) bool { return created[j.ID] })
		if len(jobs) == 0 {
			return holders, nil
		}
		rows, err := db.Query(ctx, s.q.holders, keys)
		if err != nil {
			return nil, err
		}
		var (
			key string
			id  uuid.UUID
		)
		if _, err := pgx.ForEachRow(rows, []any{&key, (*[16]byte)(&id)}, func() error {
			holders[key] = id
			return nil
		}); err != nil {
			return nil, err
		}
		jobs = slices.DeleteFunc(jobs, func(j *storage.Job) bool { _, ok := holders[j.UniqueKey]; return ok })
		if len(jobs) == 0 {
			return holders, nil
		}
	}
	return nil, fmt.Errorf("unique key %q: its holder kept changing", jobs[0].UniqueKey)
}

// insert runs the create statement sql on jobs. With created set, the
// statement returns the ids it stored, which are marked there.
func (s *Store) insert(ctx context.Context, db db, sql string, jobs []*storage.Job, created map[uuid.UUID]bool) error {
	args, err := insertArgs(jobs)
	if err != nil {
		return err
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	var id uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{(*[16]byte)(&id)}, func() error {
		created[id] = true
		return nil
	})
	return err
}

// insertArgs returns the arguments of the create statements for jobs.
func insertArgs(jobs []*storage.Job) ([]any, error) {
	n := len(jobs)
	var (
		ids                            = make([]pgtype.UUID, n)
		tasks, queues, names, reasonOf = make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n)
		args, data, params             = make([][]byte, n), make([][]byte, n), make([][]byte, n)
		prios, attempts                = make([]pgtype.Int4, n), make([]pgtype.Int4, n)
		runAt, createdAt, expireAt     = make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
		// Passed as NULL arrays, read as NULLs, unless a job sets them.
		parents, batches []pgtype.UUID
		keys, partitions []pgtype.Text
		until            []pgtype.Timestamptz
		err              error
		reasons          storage.Reasons
	)
	for i, j := range jobs {
		ids[i], tasks[i], queues[i], names[i] = uid(j.ID), text(j.Task), text(j.Queue), text(string(j.State))
		args[i], data[i] = j.Args, j.StateData
		prios[i], attempts[i] = pgtype.Int4{Int32: int32(j.Priority), Valid: true}, pgtype.Int4{Int32: int32(j.Attempt), Valid: true}
		runAt[i], createdAt[i], expireAt[i] = ts(j.RunAt), ts(j.CreatedAt), ts(j.ExpireAt)
		reasonOf[i] = text(reasons.Of(j.State, j.StateData))
		if params[i], err = marshalParams(j.Params); err != nil {
			return nil, fmt.Errorf("job %s: %w", j.ID, err)
		}
		if j.ParentID != uuid.Nil || j.BatchID != uuid.Nil || j.UniqueKey != "" {
			if parents == nil {
				parents, batches = make([]pgtype.UUID, n), make([]pgtype.UUID, n)
				keys, until = make([]pgtype.Text, n), make([]pgtype.Timestamptz, n)
			}
			parents[i], batches[i] = optUID(j.ParentID), optUID(j.BatchID)
			keys[i], until[i] = pgtype.Text{String: j.UniqueKey, Valid: j.UniqueKey != ""}, ts(j.UniqueUntil)
		}
		if j.Partition != "" {
			if partitions == nil {
				partitions = make([]pgtype.Text, n)
			}
			partitions[i] = text(j.Partition)
		}
	}
	return []any{array[pgtype.UUID](ids), array[pgtype.Text](tasks), args, array[pgtype.Text](queues),
		array[pgtype.Int4](prios), array[pgtype.Text](names), data, array[pgtype.Timestamptz](runAt),
		array[pgtype.Timestamptz](createdAt), array[pgtype.Timestamptz](expireAt), params, array[pgtype.Text](reasonOf),
		array[pgtype.Int4](attempts), array[pgtype.UUID](parents), array[pgtype.UUID](batches), array[pgtype.Text](keys),
		array[pgtype.Timestamptz](until), array[pgtype.Text](partitions)}, nil
}

func marshalParams(m map[string]json.RawMessage) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

// fetchSQL: $1 now, $2 limit, $3 owner, $4 lease (µs), $5 queues (and, for fetchRange,
// $6 floors and $7 ceilings of priority per queue) → jobCols and enqueued_seq of the jobs
// leased, in no order: Fetch sorts them in the order served, which costs less in Go
// than in the statement.
//
// It leases jobs: rows are picked by a sub-select that locks and
// skips, per queue in the order given, then updated by id.
var fetchSQL = `
WITH old AS (
	SELECT p.* FROM {queues}
	CROSS JOIN LATERAL (
		SELECT ` + oldCols + `, priority, enqueued_seq FROM {s}.jobs
		WHERE state = 'enqueued' AND queue = q.name{floor}
		ORDER BY priority DESC, enqueued_seq
		LIMIT $2 FOR UPDATE SKIP LOCKED) p
	ORDER BY q.ord, p.priority DESC, p.enqueued_seq
	LIMIT $2
), moved AS (
	UPDATE {s}.jobs j SET
		state = 'processing',
		state_data = (SELECT json_build_object('started_at', ` + clock + `, 'server_id', $3::text)),
		state_reason = NULL,
		attempt = j.attempt + 1,
		updated_at = ` + clock + `,
		lease_owner = $3,
		lease_token = nextval('{sl}.lease_token_seq'),
		lease_until = ` + clock + ` + $4::bigint * interval '1 microsecond'
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
	RETURNING ` + jobRow + `, j.enqueued_seq
), ` + leaveHistory("true") + `
SELECT ` + jobCols + `, coalesce(enqueued_seq, 9223372036854775807) FROM moved`

// Fetch implements [storage.Store] with one UPDATE that locks and skips.
func (s *Store) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if p.Limit < 1 || len(p.Queues) == 0 {
		return nil, nil
	}
	if limited, err := s.hasLimits(ctx); err != nil || limited {
		if err != nil {
			return nil, err
		}
		return s.fetchLimited(ctx, p)
	}
	sql, args := s.q.fetch, []any{ts(p.Now), p.Limit, p.Owner, p.LeaseFor.Microseconds(), p.Queues}
	if p.Above != nil || p.NotAbove != nil {
		queues, floors, ceilings := fetchRange(p.Queues, p.Above, p.NotAbove)
		if len(queues) == 0 {
			return nil, nil
		}
		sql, args = s.q.fetchRange, append(args[:4], queues, floors, ceilings)
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, interpretError("fetch", err)
	}
	js := jobScanner{seqs: []int64{}}
	jobs, err := pgx.CollectRows(rows, js.scan)
	if err != nil {
		return nil, interpretError("fetch", err)
	}
	servedOrder(jobs, js.seqs, p.Queues)
	return jobs, nil
}

// servedOrder sorts fetched jobs in the order a fetch serves them: by the
// position of their queue in queues, higher priority first, then as they
// were enqueued (seqs, the enqueued_seq of each job).
func servedOrder(jobs []*storage.Job, seqs []int64, queues []string) {
	type served struct {
		job        *storage.Job
		queue, pri int
		seq        int64
	}
	order := make([]served, len(jobs))
	for i, j := range jobs {
		order[i] = served{job: j, queue: slices.Index(queues, j.Queue), pri: j.Priority, seq: seqs[i]}
	}
	slices.SortFunc(order, func(a, b served) int {
		return cmp.Or(cmp.Compare(a.queue, b.queue), cmp.Compare(b.pri, a.pri), cmp.Compare(a.seq, b.seq))
	})
	for i, o := range order {
		jobs[i] = o.job
	}
}

// fetchRange returns the queues that a fetch limited by above and notAbove
// (either may be nil) serves, each with the least and the greatest
// priority it takes there.
func fetchRange(queues []string, above, notAbove *storage.Position) (qs []string, floors, ceilings []int32) {
	from, to := 0, len(queues)
	if notAbove != nil {
		from = max(slices.Index(queues, notAbove.Queue), 0)
	}
	if above != nil {
		if i := slices.Index(queues, above.Queue); i >= 0 {
			to = i + 1
		}
	}
	clamp := func(p int) int32 { return int32(min(max(p, math.MinInt32), math.MaxInt32)) }
	for i := from; i < to; i++ {
		floor, ceiling := int32(math.MinInt32), int32(math.MaxInt32)
		if above != nil && queues[i] == above.Queue {
			if above.Priority >= math.MaxInt32 {
				continue
			}
			floor = clamp(above.Priority + 1)
		}
		if notAbove != nil && queues[i] == notAbove.Queue {
			ceiling = clamp(notAbove.Priority)
		}
		qs, floors, ceilings = append(qs, queues[i]), append(floors, floor), append(ceilings, ceiling)
	}
	return qs, floors, ceilings
}

// scanJob reads the columns of jobCols.
func scanJob(row pgx.CollectableRow) (*storage.Job, error) {
	var js jobScanner
	return js.scan(row)
}

// jobScanner reads rows of jobCols into columns it reuses from row to
// row (scanning into locals would allocate each of them per row). The jobs
// of one call share the strings that repeat from row to row (task, queue,
// state, lease owner) and equal consecutive state data (a fetch's
// Processing state), instead of a copy of each per job.
type jobScanner struct {
	names map[string]string
	data  []byte  // the last state data kept, capped so that appending copies it
	dest  []any   // pointers to the fields of c, in the order of jobCols
	seqs  []int64 // when not nil, each row has enqueued_seq after jobCols, appended here
	c     struct {
		id                                 [16]byte
		task, queue, state, owner, key     pgtype.DriverBytes
		partition                          pgtype.DriverBytes
		data, params                       pgtype.DriverBytes // valid until the next row
		args                               []byte
		priority, attempt                  int
		created, updated                   time.Time
		token, seq                         int64
		runAt, expireAt, leaseUntil, until pgtype.Timestamptz
		parent, batch                      pgtype.UUID
	}
}

// maxNames bounds the strings a jobScanner keeps.
const maxNames = 64

func (s *jobScanner) name(b []byte) string {
	if v, ok := s.names[string(b)]; ok {
		return v
	}
	v := string(b)
	if s.names == nil {
		s.names = make(map[string]string, 8)
	}
	if len(s.names) < maxNames {
		s.names[v] = v
	}
	return v
}

func (s *jobScanner) scan(row pgx.CollectableRow) (*storage.Job, error) {
	c := &s.c
	if s.dest == nil {
		s.dest = []any{&c.id, &c.task, &c.args, &c.queue, &c.priority, &c.state, &c.data, &c.runAt, &c.attempt,
			&c.created, &c.updated, &c.expireAt, &c.params, &c.owner, &c.token, &c.leaseUntil, &c.parent, &c.batch,
			&c.key, &c.until, &c.partition}
		if s.seqs != nil {
			s.dest = append(s.dest, &c.seq)
		}
	}
	c.args = nil // a fresh copy per row: the job keeps it
	if err := row.Scan(s.dest...); err != nil {
		return nil, err
	}
	if s.seqs != nil {
		s.seqs = append(s.seqs, c.seq)
	}
	j := &storage.Job{
		ID: c.id, Task: s.name(c.task), Args: c.args, Queue: s.name(c.queue), Priority: c.priority,
		State: states.Name(s.name(c.state)), RunAt: c.runAt.Time, Attempt: c.attempt, CreatedAt: c.created,
		UpdatedAt: c.updated, ExpireAt: c.expireAt.Time, ParentID: c.parent.Bytes, BatchID: c.batch.Bytes,
		UniqueUntil: c.until.Time, LeaseOwner: s.name(c.owner), LeaseToken: c.token, LeaseUntil: c.leaseUntil.Time,
	}
	if len(c.key) > 0 {
		j.UniqueKey = string(c.key)
	}
	if len(c.partition) > 0 {
		j.Partition = string(c.partition)
	}
	if c.data != nil {
		if s.data == nil || !bytes.Equal(c.data, s.data) {
			d := bytes.Clone(c.data)
			s.data = d[:len(d):len(d)]
		}
		j.StateData = s.data
	}
	if c.params != nil {
		var err error
		if j.Params, err = decodeParams(bytes.Clone(c.params)); err != nil { // the members point into it
			return nil, fmt.Errorf("job %s params: %w", j.ID, err)
		}
	}
	return j, nil
}

// errRollback aborts a transaction without failing the call.
var errRollback = errors.New("rollback")

// Transition implements [storage.Store]. A batch whose ids are distinct and
// that finishes no job is one statement. Otherwise the batch runs in one
// transaction: a batch naming a job more than once runs in rounds of
// distinct ids, in order; an AllOrNothing batch rolls back when one change
// fails; and the continuations of finished jobs that the statement reports
// as awaited or in a batch are resolved (see resolve).
func (s *Store) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	errs := make([]error, len(p.Transitions))
	if len(errs) == 0 {
		return errs, nil
	}
	rounds := distinctRounds(p.Transitions)
	finishes := slices.ContainsFunc(p.Transitions, func(t storage.Transition) bool { return storage.Finished(t.To) })
	var wake storage.Topic
	err := s.maybeTx(ctx, len(rounds) > 1 || p.AllOrNothing || finishes, func(db db) error {
		var f parents
		for _, r := range rounds {
			if err := s.transitionRound(ctx, db, p, r, errs, &f); err != nil {
				return err
			}
		}
		if p.AllOrNothing && errors.Join(errs...) != nil {
			return errRollback
		}
		var err error
		wake, err = s.resolve(ctx, db, p.Now, p.Retention, f.jobs, f.batches)
		return err
	})
	if errors.Is(err, errRollback) {
		return errs, nil
	}
	if err != nil {
		return nil, interpretError("transition", err)
	}
	for i, t := range p.Transitions {
		if errs[i] == nil {
			wake |= stateTopic(t.To)
		}
	}
	return errs, s.wake(ctx, wake)
}

// parents collects finished jobs whose continuations may need resolving:
// jobs that are awaited, and batches.
type parents struct{ jobs, batches []pgtype.UUID }

// distinctRounds splits the indexes of ts into rounds in which no job
// appears twice; the n-th change of a job goes to round n.
func distinctRounds(ts []storage.Transition) [][]int {
	seen := make(map[uuid.UUID]int, len(ts))
	out := [][]int{make([]int, 0, len(ts))}
	for i, t := range ts {
		r := seen[t.ID]
		seen[t.ID] = r + 1
		if r == len(out) {
			out = append(out, nil)
		}
		out[r] = append(out[r], i)
	}
	return out
}

// transitionSQL: $1 now, $2 ids, $3 expected states (comma-joined, or empty), $4 tokens, $5 new states, $6 state data, $7 reasons, $8 queues, $9 run_at, $10 expire_at, $11 params, $12–$16 traversed entries (ord, state, reason, data, at) → a row per change not applied, or applied and finishing an awaited job or a batch job: ord, state, token, applied, awaited, batch_id.
//
// One statement applies a batch whose ids are distinct, and counts the
// outcomes it stores (storage.Statistics). It first
// locks the rows in id order, as every statement that waits for
// several job rows does, so that two of them cannot deadlock, and
// reads the states they leave from the locked (latest) versions. The
// compare-and-set is in the UPDATE's WHERE, which PostgreSQL
// re-checks on the latest row version, and reaches rows by primary
// key. The token alone proves Processing: only leased jobs have one.
// History gets the state left, then the traversed entries. Rows not
// updated are read back (as of the statement's start) so that the
// caller can tell why.
var transitionSQL = `
WITH old AS (
	SELECT ` + oldCols + ` FROM {s}.jobs WHERE id = ANY($2::uuid[]) ORDER BY id FOR UPDATE
), upd AS (
	UPDATE {s}.jobs j SET
		state = t.to_state,
		state_data = t.data,
		state_reason = nullif(t.reason, ''),
		updated_at = ` + clock + `,
		queue = coalesce(nullif(t.queue, ''), j.queue),
		run_at = CASE WHEN t.to_state = 'scheduled' THEN t.run_at ELSE j.run_at END,
		expire_at = CASE WHEN t.to_state IN ('succeeded', 'deleted') THEN t.expire_at END,
		params = CASE WHEN t.params IS NULL THEN j.params ELSE coalesce(j.params, '{}') || t.params END,
		lease_owner = NULL, lease_token = NULL, lease_until = NULL,
		enqueued_seq = CASE WHEN t.to_state = 'enqueued' THEN nextval('{sl}.enqueue_seq') ELSE j.enqueued_seq END,
		unique_held = j.unique_held AND NOT (t.to_state IN ` + finished + ` AND j.unique_until IS NULL)
	FROM unnest($2::uuid[], $3::text[], $4::int8[], $5::text[], $6::json[], $7::text[],
		$8::text[], $9::timestamptz[], $10::timestamptz[], $11::jsonb[])
		WITH ORDINALITY AS t(id, from_states, token, to_state, data, reason, queue, run_at, expire_at, params, ord)
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
		AND j.id = t.id AND (t.token = 0 OR j.lease_token = t.token)
		AND (t.from_states = '' OR j.state = ANY(string_to_array(t.from_states, ',')))
	RETURNING t.id, t.to_state, t.ord, j.awaited, j.batch_id
), {history}, counted AS (
	INSERT INTO {s}.stats AS st (minute, shard, succeeded, failed, deleted)
	SELECT date_trunc('minute', ` + clock + `), pg_backend_pid() % 8,
		count(*) FILTER (WHERE to_state = 'succeeded'), count(*) FILTER (WHERE to_state = 'failed'),
		count(*) FILTER (WHERE to_state = 'deleted')
	FROM upd HAVING count(*) FILTER (WHERE to_state IN ` + finished + `) > 0
	ON CONFLICT (minute, shard) DO UPDATE SET succeeded = st.succeeded + EXCLUDED.succeeded,
		failed = st.failed + EXCLUDED.failed, deleted = st.deleted + EXCLUDED.deleted
)
SELECT t.ord, f.state, f.lease_token, upd.ord IS NOT NULL, coalesce(upd.awaited, false), upd.batch_id
FROM unnest($2::uuid[]) WITH ORDINALITY AS t(id, ord)
LEFT JOIN upd USING (ord)
LEFT JOIN LATERAL (
	SELECT state, coalesce(lease_token, 0) AS lease_token FROM {s}.jobs WHERE upd.ord IS NULL AND id = t.id
	OFFSET 0 -- kept a lookup by primary key per unchanged row: flattened, it became a hash join over every job
) f ON true
WHERE upd.ord IS NULL OR upd.to_state IN ` + finished + ` AND (upd.awaited OR upd.batch_id IS NOT NULL)`

// transitionHistory is the CTE h of transitionSQL: the history gets the
// state left, then the traversed entries, in order.
var transitionHistory = `h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT id, state, reason, data, at FROM (
		SELECT old.id, old.state, coalesce(old.state_reason, '') AS reason, old.state_data AS data,
			old.updated_at AS at, upd.ord, 0 AS n
		FROM upd JOIN old ON old.id = upd.id
		UNION ALL
		SELECT upd.id, tr.state, tr.reason, tr.data, tr.at, tr.ord, tr.n
		FROM unnest($12::int8[], $13::text[], $14::text[], $15::json[], $16::timestamptz[])
			WITH ORDINALITY AS tr(ord, state, reason, data, at, n)
		JOIN upd ON upd.ord = tr.ord
		ORDER BY ord, n) x
)`

// plainHistory is transitionHistory for a batch that traverses no state
// (most completions): one entry per job, the state left, with nothing to
// merge or sort, and no $12–$16.
var plainHistory = `h AS (
	INSERT INTO {s}.job_history (job_id, state, reason, data, at)
	SELECT old.id, old.state, coalesce(old.state_reason, ''), old.state_data, old.updated_at
	FROM upd JOIN old ON old.id = upd.id
)`

// transitionRound applies the changes p.Transitions[idx], whose ids are
// distinct, records their results in errs and the finished parents in f.
// Columns that no change of the round sets (reasons, queues, run_at,
// params, as for most completions) are sent as NULL arrays, which unnest pads with
// NULLs: less to encode, send and decode per job.
func (s *Store) transitionRound(ctx context.Context, db db, p *storage.TransitionParams, idx []int, errs []error, f *parents) error {
	n := len(idx)
	var (
		ids               = make([]pgtype.UUID, n)
		from, to          = make([]pgtype.Text, n), make([]pgtype.Text, n)
		tokens            = make([]pgtype.Int8, n)
		data              = make([][]byte, n)
		expireAt          = make([]pgtype.Timestamptz, n)
		reasons, queues   []pgtype.Text
		runAt             []pgtype.Timestamptz
		params            [][]byte
		trOrd             []int64
		trState, trReason []string
		trData            [][]byte
		trAt              []pgtype.Timestamptz
	)
	for k, i := range idx {
		t := &p.Transitions[i]
		ids[k], tokens[k], to[k], data[k] = uid(t.ID), pgtype.Int8{Int64: t.Token, Valid: true}, text(string(t.To)), t.Data
		expireAt[k] = ts(t.ExpireAt)
		from[k] = text(joinNames(t.From))
		if t.Reason != "" {
			reasons = setAt(reasons, n, k, text(t.Reason))
		}
		if t.Queue != "" {
			queues = setAt(queues, n, k, text(t.Queue))
		}
		if !t.RunAt.IsZero() {
			runAt = setAt(runAt, n, k, ts(t.RunAt))
		}
		if len(t.Params) > 0 {
			b, err := marshalParams(t.Params)
			if err != nil {
				return fmt.Errorf("job %s params: %w", t.ID, err)
			}
			params = setAt(params, n, k, b)
		}
		for _, r := range t.Traversed {
			trOrd = append(trOrd, int64(k+1))
			trState, trReason, trData, trAt = append(trState, string(r.State)), append(trReason, r.Reason), append(trData, r.Data), append(trAt, ts(r.At))
		}
	}
	args := []any{ts(p.Now), array[pgtype.UUID](ids), array[pgtype.Text](from), array[pgtype.Int8](tokens),
		array[pgtype.Text](to), data, array[pgtype.Text](reasons), array[pgtype.Text](queues),
		array[pgtype.Timestamptz](runAt), array[pgtype.Timestamptz](expireAt), params}
	sql := s.q.transitionPlain
	if trOrd != nil {
		sql, args = s.q.transition, append(args, trOrd, trState, trReason, trData, array[pgtype.Timestamptz](trAt))
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	var (
		ord           int
		state         *string
		token         *int64
		done, awaited bool
		batch         pgtype.UUID
	)
	_, err = pgx.ForEachRow(rows, []any{&ord, &state, &token, &done, &awaited, &batch}, func() error {
		i := idx[ord-1]
		switch {
		case !done:
			errs[i] = whyNot(&p.Transitions[i], state, token)
		case awaited:
			f.jobs = append(f.jobs, uid(p.Transitions[i].ID))
		}
		if done && batch.Valid {
			f.batches = append(f.batches, batch)
		}
		return nil
	})
	return err
}

// whyNot explains a change that was not applied, from the job's state and
// token as the statement found them (nil when there is no such job).
func whyNot(t *storage.Transition, state *string, token *int64) error {
	switch {
	case state == nil:
		return fmt.Errorf("pgstore: job %s: %w", t.ID, storage.ErrNotFound)
	case t.Token != 0 && (states.Name(*state) != states.NameProcessing || *token != t.Token):
		return fmt.Errorf("pgstore: job %s token %d: %w", t.ID, t.Token, storage.ErrLeaseLost)
	case len(t.From) > 0 && !slices.Contains(t.From, states.Name(*state)):
		return fmt.Errorf("pgstore: job %s is %s, not %v: %w", t.ID, *state, t.From, storage.ErrStateConflict)
	case t.Token != 0: // changed by another transaction while this one waited for the row
		return fmt.Errorf("pgstore: job %s token %d: changed concurrently: %w", t.ID, t.Token, storage.ErrLeaseLost)
	}
	return fmt.Errorf("pgstore: job %s: changed concurrently: %w", t.ID, storage.ErrStateConflict)
}

// setAt sets s[k] to v, making s of length n first if it is nil.
func setAt[T any](s []T, n, k int, v T) []T {
	if s == nil {
		s = make([]T, n)
	}
	s[k] = v
	return s
}

func joinNames(names []states.Name) string {
	if len(names) == 1 {
		return string(names[0])
	}
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(n))
	}
	return b.String()
}

// heartbeatSQL: $1 id, $2 host, $3 pid, $4 queues, $5 concurrency, $6 started_at → nothing.
var heartbeatSQL = `
INSERT INTO {s}.servers (id, host, pid, queues, concurrency, started_at, heartbeat_at)
VALUES ($1, $2, $3, coalesce($4::text[], '{}'), $5, $6, now())
ON CONFLICT (id) DO UPDATE SET (host, pid, queues, concurrency, started_at, heartbeat_at) =
	(EXCLUDED.host, EXCLUDED.pid, EXCLUDED.queues, EXCLUDED.concurrency, EXCLUDED.started_at, now())`

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
		ORDER BY j.id FOR UPDATE OF j SKIP LOCKED))
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
		b.Queue(s.q.heartbeat, v.ID, v.Host, v.PID, v.Queues, v.Concurrency, ts(v.StartedAt))
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
	ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED
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
	ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED
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

// historySQL: $1 id → state, reason, data, at of every state the job has been in, oldest first.
//
// The states a job has left, then its current one.
var historySQL = `SELECT state, reason, data, at FROM (
	SELECT id, state, reason, data, at FROM {s}.job_history WHERE job_id = $1
	UNION ALL
	SELECT 9223372036854775807, state, coalesce(state_reason, ''), state_data, updated_at FROM {s}.jobs WHERE id = $1
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

// getSQL: $1 id → jobCols of the job.
var getSQL = `SELECT ` + jobCols + ` FROM {s}.jobs WHERE id = $1`

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

// pruneSQL: $1 now, $2 limit → the count of jobs removed with their history.
var pruneSQL = `
WITH d AS (
	DELETE FROM {s}.jobs WHERE id = ANY(ARRAY(
		SELECT id FROM {s}.jobs WHERE expire_at <= ` + clock + `
		ORDER BY expire_at LIMIT $2 FOR UPDATE SKIP LOCKED))
	RETURNING id
), h AS (
	DELETE FROM {s}.job_history WHERE job_id = ANY(ARRAY(SELECT id FROM d))
)
SELECT count(*) FROM d`

// DeleteExpired implements [storage.Pruner].
func (s *Store) DeleteExpired(ctx context.Context, p *storage.PruneParams) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRow(ctx, s.q.prune, ts(p.Now), p.Limit).Scan(&n); err != nil {
		return 0, interpretError("delete expired", err)
	}
	_, err := s.db.Exec(ctx, s.q.pruneStats, ts(p.Now), storage.StatsRetention.Microseconds())
	return n, interpretError("delete expired statistics", err)
}

// pruneStatsSQL: $1 now, $2 retention (µs) → nothing.
var pruneStatsSQL = `DELETE FROM {s}.stats WHERE minute < ` + clock + ` - $2 * interval '1 microsecond'`

// statsSQL: $1 from, $2 to, $3 step (µs) → the start of each period with
// counts, its succeeded, failed and deleted counts.
var statsSQL = `SELECT date_bin($3 * interval '1 microsecond', minute, 'epoch'::timestamptz) AS at,
	sum(succeeded)::int8, sum(failed)::int8, sum(deleted)::int8
FROM {s}.stats WHERE minute >= date_bin($3 * interval '1 microsecond', $1, 'epoch'::timestamptz) AND minute < $2
GROUP BY 1`

// Stats implements [storage.Statistics].
func (s *Store) Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]storage.StatsPoint, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	step = max(step.Truncate(time.Minute), time.Minute)
	rows, err := s.db.Query(ctx, s.q.stats, from, to, step.Microseconds())
	if err != nil {
		return nil, interpretError("statistics", err)
	}
	counted := map[time.Time]storage.StatsPoint{}
	var p storage.StatsPoint
	_, err = pgx.ForEachRow(rows, []any{&p.At, &p.Succeeded, &p.Failed, &p.Deleted}, func() error {
		counted[p.At.UTC()] = p
		return nil
	})
	if err != nil {
		return nil, interpretError("statistics", err)
	}
	return storage.FillStats(from.UTC(), to, step, counted), nil
}
