package taskflow

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Task is a typed background task: a function from Args to Result,
// registered under a stable name. The name, never a Go type or function
// name, is what stored jobs refer to, so refactors and deploys never orphan
// them. Declare tasks once, as package-level variables.
type Task[Args, Result any] struct {
	name      string
	codec     Codec
	opts      taskSettings
	partition func(Args) string // nil: no PartitionBy
}

// NewTask declares a task and registers it in the default registry. It
// panics if name is invalid or taken, or an option is invalid: declaring
// tasks is start-up code, and such a mistake must not go unnoticed. Use
// RegisterTask to get an error instead, or to use another registry, and
// Declare to declare a task without its function.
func NewTask[Args, Result any](name string, fn func(context.Context, Args) (Result, error), opts ...TaskOption) *Task[Args, Result] {
	t, err := RegisterTask(DefaultRegistry(), name, fn, opts...)
	if err != nil {
		panic(err)
	}
	return t
}

// RegisterTask declares a task and registers it in reg. It returns an error
// wrapping ErrInvalidName, ErrDuplicateTask or ErrInvalidOption when the
// declaration is wrong.
func RegisterTask[Args, Result any](reg *Registry, name string, fn func(context.Context, Args) (Result, error), opts ...TaskOption) (*Task[Args, Result], error) {
	t, err := declare[Args, Result](name, opts)
	if err != nil {
		return nil, err
	}
	if err := t.Bind(reg, fn); err != nil {
		return nil, err
	}
	return t, nil
}

// Declare declares a task by its name and types only, for a program that
// enqueues it but does not run it: it links no function and registers
// nothing. A worker binds the function with Bind, in main, where the
// task's dependencies (a database pool, a mailer) are built. Declare the
// task once, in a package both programs import. It panics if name or an
// option is invalid.
func Declare[Args, Result any](name string, opts ...TaskOption) *Task[Args, Result] {
	t, err := declare[Args, Result](name, opts)
	if err != nil {
		panic(err)
	}
	return t
}

func declare[Args, Result any](name string, opts []TaskOption) (*Task[Args, Result], error) {
	if !taskName.MatchString(name) {
		return nil, fmt.Errorf("%w %q: want 1 to 200 of A-Z a-z 0-9 . _ : / -", ErrInvalidName, name)
	}
	o := taskSettingsOf(opts)
	if o.err != nil {
		return nil, fmt.Errorf("task %q: %w", name, o.err)
	}
	partition, err := partitionFunc[Args](name, &o)
	if err != nil {
		return nil, err
	}
	t := &Task[Args, Result]{name: name, codec: o.codec, opts: o, partition: partition}
	if t.codec == nil {
		t.codec = JSON
	}
	return t, nil
}

// Bind registers fn in reg as the function of task t, for the workers that
// use reg. It returns an error wrapping ErrDuplicateTask when reg already
// holds a task of t's name, or ErrInvalidOption for a nil reg or fn.
func (t *Task[Args, Result]) Bind(reg *Registry, fn func(context.Context, Args) (Result, error)) error {
	if reg == nil {
		return fmt.Errorf("%w: task %q: nil registry", ErrInvalidOption, t.name)
	}
	if fn == nil {
		return fmt.Errorf("%w: task %q has a nil function", ErrInvalidOption, t.name)
	}
	codec, name := t.codec, t.name
	run := func(ctx context.Context, raw []byte) ([]byte, error) {
		args, err := t.DecodeArgs(raw)
		if err != nil {
			return nil, badInput(err)
		}
		res, err := fn(ctx, args)
		if err != nil {
			return nil, err
		}
		out, err := codec.Marshal(res)
		if err != nil {
			return nil, badInput(fmt.Errorf("%w result of task %q: %w", ErrEncode, name, err))
		}
		return out, nil
	}
	e := &entry{name: name, run: run, opts: t.opts}
	if fn := t.partition; fn != nil {
		e.partition = func(raw []byte) (string, error) {
			args, err := t.DecodeArgs(raw)
			if err != nil {
				return "", err
			}
			return partitionKey(name, fn, args)
		}
	}
	return reg.add(e)
}

// Name returns the name the task is registered under.
func (t *Task[Args, Result]) Name() string { return t.name }

// On returns the task bound to client c, for code that does not use the
// default client.
func (t *Task[Args, Result]) On(c *Client) Bound[Args, Result] {
	return Bound[Args, Result]{task: t, client: c}
}

func (t *Task[Args, Result]) onDefault() (Bound[Args, Result], error) {
	c, err := Default()
	return t.On(c), err
}

// Enqueue stores a job that runs the task with args, on the default client
// (see Configure). See Bound.Enqueue.
func (t *Task[Args, Result]) Enqueue(ctx context.Context, args Args, opts ...JobOption) (*Handle[Result], error) {
	b, err := t.onDefault()
	if err != nil {
		return nil, err
	}
	return b.Enqueue(ctx, args, opts...)
}

// EnqueueMany stores one job per element of args, atomically, on the
// default client. See Bound.EnqueueMany.
func (t *Task[Args, Result]) EnqueueMany(ctx context.Context, args []Args, opts ...JobOption) ([]*Handle[Result], error) {
	b, err := t.onDefault()
	if err != nil {
		return nil, err
	}
	return b.EnqueueMany(ctx, args, opts...)
}

// ContinueWith stores a continuation of parent that runs with args, on the
// default client. See Bound.ContinueWith.
func (t *Task[Args, Result]) ContinueWith(ctx context.Context, parent uuid.UUID, args Args, opts ...ContinuationOption) (*Handle[Result], error) {
	b, err := t.onDefault()
	if err != nil {
		return nil, err
	}
	return b.ContinueWith(ctx, parent, args, opts...)
}

// EnqueueBatch stores one job per element of args as one batch, on the
// default client. See Bound.EnqueueBatch.
func (t *Task[Args, Result]) EnqueueBatch(ctx context.Context, args []Args, opts ...JobOption) (*Batch[Result], error) {
	b, err := t.onDefault()
	if err != nil {
		return nil, err
	}
	return b.EnqueueBatch(ctx, args, opts...)
}

// Handle returns a handle to the existing job id on the default client; its
// calls return ErrNotConfigured while there is none. See Bound.Handle.
func (t *Task[Args, Result]) Handle(id uuid.UUID) *Handle[Result] {
	c, _ := Default()
	return t.On(c).Handle(id)
}

// Result returns the decoded result of job id from the default client. See
// Handle.Result.
func (t *Task[Args, Result]) Result(ctx context.Context, id uuid.UUID) (Result, error) {
	b, err := t.onDefault()
	if err != nil {
		var zero Result
		return zero, err
	}
	return b.Handle(id).Result(ctx)
}

// Bound is a task bound to a client.
type Bound[Args, Result any] struct {
	task   *Task[Args, Result]
	client *Client
}

// Handle returns a handle to the existing job id.
func (b Bound[Args, Result]) Handle(id uuid.UUID) *Handle[Result] {
	return &Handle[Result]{ID: id, client: b.client, codec: b.task.codec}
}

// Enqueue stores a job that runs the task with args. The job is Enqueued,
// or Scheduled when Delay or RunAt is given. Args that cannot be encoded
// return an error wrapping ErrEncode and store nothing.
func (b Bound[Args, Result]) Enqueue(ctx context.Context, args Args, opts ...JobOption) (*Handle[Result], error) {
	hs, err := b.EnqueueMany(ctx, []Args{args}, opts...)
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// EnqueueMany stores one job per element of args in one atomic storage call:
// either every job is stored or none is. The options apply to every job.
func (b Bound[Args, Result]) EnqueueMany(ctx context.Context, args []Args, opts ...JobOption) ([]*Handle[Result], error) {
	return b.enqueue(ctx, args, placement{}, jobSettingsOf(opts))
}

// ContinueWith stores a job that waits (Awaiting) for parent — a job or a
// batch — to finish, and then runs with args. By default it runs only if
// the parent succeeded (for a batch: every job of it); see ContinueOn for
// the other conditions. When the condition does not hold the job is
// Deleted. A continuation added after its parent finished resolves at once.
func (b Bound[Args, Result]) ContinueWith(ctx context.Context, parent uuid.UUID, args Args, opts ...ContinuationOption) (*Handle[Result], error) {
	hs, err := b.enqueue(ctx, []Args{args}, placement{parent: parent}, continuationSettingsOf(opts))
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// Then stores a continuation of parent that runs next with parent's result
// as its arguments, once parent has succeeded (the compiler checks that
// next's Args type is parent's Result type). The store copies the result
// into the continuation's arguments when parent succeeds. If parent fails
// for good or is deleted, the continuation is Deleted: it takes no
// ContinueOn condition but states.OnSuccess, since it has no arguments
// otherwise. It uses parent's client.
func Then[Result, Next any](ctx context.Context, parent *Handle[Result], next *Task[Result, Next], opts ...ContinuationOption) (*Handle[Next], error) {
	hs, err := next.On(parent.client).enqueue(ctx, nil, placement{parent: parent.ID, argsFrom: true}, continuationSettingsOf(opts))
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// placement says where new jobs go besides their queue: under a parent, in
// a batch.
type placement struct {
	parent   uuid.UUID
	batch    uuid.UUID
	argsFrom bool // the job's args are its parent's result, copied by the store
}

// Job parameters taskflow itself sets.
const (
	paramTimeout      = "taskflow.timeout"       // per-job timeout, in nanoseconds
	paramArgsFrom     = "taskflow.args_from"     // the job whose result is this job's args, on continuations stored before the store copied it
	paramRecurringID  = "taskflow.recurring_id"  // the recurring job that spawned this job
	paramRecurringAt  = "taskflow.recurring_at"  // the occurrence it was spawned for
	paramUnknownSince = "taskflow.unknown_since" // when a worker first found the job's task unknown
)

// enqueue stores one job per element of args or, for a Then continuation
// (pl.argsFrom), one job whose args the store fills in.
func (b Bound[Args, Result]) enqueue(ctx context.Context, args []Args, pl placement, call jobSettings) ([]*Handle[Result], error) {
	t := b.task
	if call.err != nil {
		return nil, fmt.Errorf("enqueue %q: %w", t.name, call.err)
	}
	if pl.argsFrom && (call.uniqueArg || t.opts.uniqueArg && call.unique == "") {
		return nil, fmt.Errorf("%w: UniqueByArgs: a Then continuation of %q has no args to key it by yet", ErrInvalidOption, t.name)
	}
	if pl.argsFrom && call.on != "" && call.on != states.OnSuccess {
		return nil, fmt.Errorf("%w: ContinueOn(%q): a Then continuation of %q has args only when its parent succeeded", ErrInvalidOption, call.on, t.name)
	}
	o := call.over(t.opts.jobSettings)
	if err := b.client.supports(o.unique != "" || o.uniqueArg, pl.parent != uuid.Nil, pl.batch != uuid.Nil); err != nil {
		return nil, fmt.Errorf("enqueue %q: %w", t.name, err)
	}
	now := b.client.now()
	var runAt time.Time
	switch {
	case !o.runAt.IsZero():
		runAt = o.runAt
	case o.delay > 0:
		runAt = now.Add(o.delay)
	}
	var initial states.State = states.Enqueued{Queue: o.queue, EnqueuedAt: now}
	switch {
	case pl.parent != uuid.Nil:
		initial = states.Awaiting{ParentID: pl.parent.String(), On: cmp.Or(o.on, states.OnSuccess), ArgsFromResult: pl.argsFrom}
	case !runAt.IsZero():
		initial = states.Scheduled{EnqueueAt: runAt, ScheduledAt: now}
	}
	data, err := states.Marshal(initial)
	if err != nil {
		return nil, err
	}
	params := withTimeout(o.params, call.timeout) // a task's own timeout the worker knows
	spec := jobSpec{task: t.name, queue: o.queue, initial: initial, data: data, runAt: runAt, now: now,
		params: params, parent: pl.parent, batch: pl.batch, uniqueKey: o.unique, uniqueFor: o.uniqueFor}
	if o.priority != nil {
		spec.priority = *o.priority
	}
	n := len(args)
	if pl.argsFrom {
		n = 1 // a Then continuation: the store fills in its args
	}
	jobs := make([]*storage.Job, n)
	handles := make([]*Handle[Result], n)
	jobBuf := make([]storage.Job, n) // one allocation per call, not per job
	handleBuf := make([]Handle[Result], n)
	ids, err := newIDs(n)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		var raw []byte
		if !pl.argsFrom {
			if raw, err = t.codec.Marshal(args[i]); err != nil {
				return nil, fmt.Errorf("%w args of task %q: %w", ErrEncode, t.name, err)
			}
		}
		key := spec.uniqueKey
		if o.uniqueArg {
			key = argsKey(t.name, raw)
		}
		spec.build(&jobBuf[i], id, raw, key)
		if t.partition != nil && !pl.argsFrom {
			if jobBuf[i].Partition, err = partitionKey(t.name, t.partition, args[i]); err != nil {
				return nil, err
			}
		}
		jobs[i] = &jobBuf[i]
		handleBuf[i] = Handle[Result]{ID: id, client: b.client, codec: t.codec}
		handles[i] = &handleBuf[i]
	}
	stored, err := b.client.create(ctx, jobs, initial, data, t.opts.filters)
	if err != nil {
		return nil, err
	}
	for i, id := range stored {
		handles[i].Existing = id != handles[i].ID
		handles[i].ID = id
	}
	return handles, nil
}

// jobSpec is what every job taskflow creates is built from, whether it is
// enqueued, in a batch, a continuation or spawned by a recurring definition.
type jobSpec struct {
	task      string
	queue     string
	priority  int
	initial   states.State
	data      []byte // initial, encoded
	runAt     time.Time
	now       time.Time
	params    map[string]json.RawMessage
	parent    uuid.UUID
	batch     uuid.UUID
	uniqueKey string
	uniqueFor time.Duration
}

// build fills j as the job id with encoded args and unique key key.
func (s *jobSpec) build(j *storage.Job, id uuid.UUID, args []byte, key string) {
	*j = storage.Job{
		ID: id, Task: s.task, Args: args, Queue: s.queue, Priority: s.priority,
		State: s.initial.Name(), StateData: s.data, RunAt: s.runAt, CreatedAt: s.now, Params: s.params,
		ParentID: s.parent, BatchID: s.batch, UniqueKey: key,
	}
	if key != "" && s.uniqueFor > 0 {
		j.UniqueUntil = s.now.Add(s.uniqueFor)
	}
}

// argsKey is the unique key of a job of task with encoded args raw.
func argsKey(task string, raw []byte) string {
	sum := sha256.Sum256(raw)
	return task + ":" + hex.EncodeToString(sum[:16])
}

// newIDs returns n time-ordered UUIDv7 job IDs, reading the random bits
// for all of them in one call.
func newIDs(n int) ([]uuid.UUID, error) {
	r := &randomBits{b: make([]byte, 16*n)}
	if _, err := rand.Read(r.b); err != nil {
		return nil, fmt.Errorf("taskflow: new job ids: %w", err)
	}
	ids := make([]uuid.UUID, n)
	for i := range ids {
		id, err := uuid.NewV7FromReader(r)
		if err != nil {
			return nil, fmt.Errorf("taskflow: new job id: %w", err)
		}
		ids[i] = id
	}
	return ids, nil
}

// randomBits hands out pre-read random bytes.
type randomBits struct{ b []byte }

func (r *randomBits) Read(p []byte) (int, error) {
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
