package taskflow

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Task is a typed background task: a function from Args to Result,
// registered under a stable name. The name, never a Go type or function
// name, is what stored jobs refer to, so refactors and deploys never orphan
// them. Declare tasks once, as package-level variables.
type Task[Args, Result any] struct {
	name  string
	codec Codec
	opts  options
}

// NewTask declares a task and registers it in the default registry. It
// panics if name is invalid or taken, or an option is invalid: declaring
// tasks is start-up code, and such a mistake must not go unnoticed. Use
// RegisterTask to get an error instead, or to use another registry.
func NewTask[Args, Result any](name string, fn func(context.Context, Args) (Result, error), opts ...Option) *Task[Args, Result] {
	t, err := RegisterTask(DefaultRegistry(), name, fn, opts...)
	if err != nil {
		panic(err)
	}
	return t
}

// RegisterTask declares a task and registers it in reg. It returns an error
// wrapping ErrInvalidName, ErrDuplicateTask or ErrInvalidOption when the
// declaration is wrong.
func RegisterTask[Args, Result any](reg *Registry, name string, fn func(context.Context, Args) (Result, error), opts ...Option) (*Task[Args, Result], error) {
	if fn == nil {
		return nil, fmt.Errorf("%w: task %q has a nil function", ErrInvalidOption, name)
	}
	o := applyOptions(opts)
	if o.err != nil {
		return nil, fmt.Errorf("task %q: %w", name, o.err)
	}
	if o.delay != 0 || !o.runAt.IsZero() {
		return nil, fmt.Errorf("%w: Delay and RunAt apply to jobs, not to task %q", ErrInvalidOption, name)
	}
	t := &Task[Args, Result]{name: name, codec: o.codec, opts: o}
	if t.codec == nil {
		t.codec = JSON
	}
	codec := t.codec
	run := func(ctx context.Context, raw []byte) ([]byte, error) {
		var args Args
		if err := codec.Unmarshal(raw, &args); err != nil {
			return nil, filters.Permanent(fmt.Errorf("%w args of task %q: %w", ErrDecode, name, err))
		}
		res, err := fn(ctx, args)
		if err != nil {
			return nil, err
		}
		out, err := codec.Marshal(res)
		if err != nil {
			return nil, filters.Permanent(fmt.Errorf("%w result of task %q: %w", ErrEncode, name, err))
		}
		return out, nil
	}
	if err := reg.add(&entry{name: name, run: run, opts: o}); err != nil {
		return nil, err
	}
	return t, nil
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
func (t *Task[Args, Result]) Enqueue(ctx context.Context, args Args, opts ...Option) (*Handle[Result], error) {
	b, err := t.onDefault()
	if err != nil {
		return nil, err
	}
	return b.Enqueue(ctx, args, opts...)
}

// EnqueueMany stores one job per element of args, atomically, on the
// default client. See Bound.EnqueueMany.
func (t *Task[Args, Result]) EnqueueMany(ctx context.Context, args []Args, opts ...Option) ([]*Handle[Result], error) {
	b, err := t.onDefault()
	if err != nil {
		return nil, err
	}
	return b.EnqueueMany(ctx, args, opts...)
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
func (b Bound[Args, Result]) Enqueue(ctx context.Context, args Args, opts ...Option) (*Handle[Result], error) {
	hs, err := b.EnqueueMany(ctx, []Args{args}, opts...)
	if err != nil {
		return nil, err
	}
	return hs[0], nil
}

// EnqueueMany stores one job per element of args in one atomic storage call:
// either every job is stored or none is. The options apply to every job.
func (b Bound[Args, Result]) EnqueueMany(ctx context.Context, args []Args, opts ...Option) ([]*Handle[Result], error) {
	t := b.task
	o := applyOptions(opts)
	if o.err != nil {
		return nil, fmt.Errorf("enqueue %q: %w", t.name, o.err)
	}
	if len(o.taskOnly) > 0 {
		return nil, fmt.Errorf("%w: %s applies to tasks, not to one enqueue of %q", ErrInvalidOption, o.taskOnly[0], t.name)
	}
	now := b.client.now()
	queue := firstNonEmpty(o.queue, t.opts.queue, DefaultQueue)
	priority := 0
	for _, p := range []*int{o.priority, t.opts.priority} {
		if p != nil {
			priority = *p
			break
		}
	}
	var initial states.State = states.Enqueued{Queue: queue, EnqueuedAt: now}
	var runAt time.Time
	switch {
	case !o.runAt.IsZero():
		runAt = o.runAt
	case o.delay > 0:
		runAt = now.Add(o.delay)
	}
	if !runAt.IsZero() {
		initial = states.Scheduled{EnqueueAt: runAt, ScheduledAt: now}
	}
	data, err := states.Marshal(initial)
	if err != nil {
		return nil, err
	}
	params := mergeParams(t.opts.params, o.params)
	jobs := make([]*storage.Job, len(args))
	handles := make([]*Handle[Result], len(args))
	jobBuf := make([]storage.Job, len(args)) // one allocation per call, not per job
	handleBuf := make([]Handle[Result], len(args))
	for i := range args {
		raw, err := t.codec.Marshal(args[i])
		if err != nil {
			return nil, fmt.Errorf("%w args of task %q: %w", ErrEncode, t.name, err)
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, fmt.Errorf("taskflow: new job id: %w", err)
		}
		jobBuf[i] = storage.Job{
			ID: id, Task: t.name, Args: raw, Queue: queue, Priority: priority,
			State: initial.Name(), StateData: data, RunAt: runAt, CreatedAt: now, Params: params,
		}
		jobs[i] = &jobBuf[i]
		handleBuf[i] = Handle[Result]{ID: id, client: b.client, codec: t.codec}
		handles[i] = &handleBuf[i]
	}
	ids, err := b.client.create(ctx, jobs, initial, t.opts.filters)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		handles[i].ID = id
	}
	return handles, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
