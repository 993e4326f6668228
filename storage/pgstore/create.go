package pgstore

import (
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
	AND (unique_until IS NULL OR unique_until <= ` + clock + `) ORDER BY id FOR NO KEY UPDATE))
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
