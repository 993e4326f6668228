package taskflow

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// ClientOptions configure a Client. The zero value is valid.
type ClientOptions struct {
	// Filters run for every job the client creates, before the task's own.
	Filters []filters.Filter
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Retention is how long jobs this client moves to Succeeded or Deleted
	// (Delete, batch cancellation) are kept. Default: 24h.
	Retention time.Duration
	// Events, when set, receives an event for every job this client
	// creates and every state it sets (see Events).
	Events *Events
	// Registry is where the client finds a job's task, so that job control
	// (Delete, Requeue, Reschedule, ChangeState) runs the task's own
	// filters after the global ones. Default: DefaultRegistry().
	Registry *Registry
}

// Client creates jobs in a store and reads them back. It is safe for
// concurrent use. Most programs make one, or use the default client set by
// Configure.
type Client struct {
	store     storage.Store
	reader    storage.Store // store, outside the caller's transaction if it is bound to one
	registry  *Registry
	events    *Events
	finished  *finishWatch // waiting handles' wake-ups, shared with the clients WithTx derives
	retention time.Duration
	clock     func() time.Time
	filters   []filters.Filter
	global    *pipeline
}

// NewClient returns a client for store. It returns an error wrapping
// ErrInvalidOption when a filter implements no filter interface.
func NewClient(store storage.Store, opts ClientOptions) (*Client, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	}
	for _, f := range opts.Filters {
		if !filters.Valid(f) {
			return nil, fmt.Errorf("%w: %T implements no filter interface", ErrInvalidOption, f)
		}
	}
	c := &Client{store: store, clock: opts.Clock, filters: opts.Filters, global: newPipeline(opts.Filters), retention: opts.Retention,
		registry: cmp.Or(opts.Registry, DefaultRegistry()), events: opts.Events, finished: &finishWatch{}}
	if c.retention <= 0 {
		c.retention = DefaultRetention
	}
	c.reader = store
	if tb, ok := store.(storage.TxBound); ok {
		c.reader = tb.Outside()
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	return c, nil
}

// WithTx returns a client like c (the same filters, events, registry,
// clock and retention, and the tasks' own options and codecs) that creates
// jobs through store, c's store bound to the caller's transaction, such as
// pgstore's WithTx(tx): the jobs it enqueues exist if and only if that
// transaction commits. Reads, and the handles' waits, go through the store
// outside the transaction (storage.TxBound), so a handle can wait after the
// commit; waiting handles share c's subscription to finished jobs, so
// clients derived per transaction cost no connection of their own. The
// derived client is cheap; make one per transaction and drop it when the
// transaction ends.
//
//	tx, err := pool.Begin(ctx)
//	...
//	h, err := SendEmail.On(client.WithTx(store.WithTx(tx))).Enqueue(ctx, args)
//	...
//	err = tx.Commit(ctx)
//	receipt, err := h.Wait(ctx)
func (c *Client) WithTx(store storage.Store) *Client {
	d := *c
	d.store = store
	if tb, ok := store.(storage.TxBound); ok {
		d.reader = tb.Outside()
	}
	return &d
}

// DefaultRetention is how long Succeeded and Deleted jobs are kept unless
// configured otherwise.
const DefaultRetention = 24 * time.Hour

var defaultClient atomic.Pointer[Client]

// Configure makes a client for store with default options the default
// client, used by Task.Enqueue and friends, and returns it.
func Configure(store storage.Store) *Client {
	c, err := NewClient(store, ClientOptions{})
	if err != nil {
		panic(err)
	}
	SetDefault(c)
	return c
}

// SetDefault makes c the default client.
func SetDefault(c *Client) { defaultClient.Store(c) }

// Default returns the default client, or ErrNotConfigured.
func Default() (*Client, error) {
	c := defaultClient.Load()
	if c == nil {
		return nil, ErrNotConfigured
	}
	return c, nil
}

// Store returns the client's store.
func (c *Client) Store() storage.Store { return c.store }

func (c *Client) now() time.Time { return c.clock() }

// create runs the client pipeline around storing jobs. It returns, for each
// job, the ID of the stored job that stands for it (another one's when a
// unique key was held). data is initial encoded, as the jobs carry it
// unless a filter changed it.
func (c *Client) create(ctx context.Context, jobs []*storage.Job, initial states.State, data []byte, taskFilters []filters.Filter) ([]uuid.UUID, error) {
	p := c.global
	if len(taskFilters) > 0 {
		p = newPipeline(c.filters, taskFilters)
	}
	if err := p.creating(ctx, jobs, initial, c.now()); err != nil {
		return nil, err
	}
	ids, err := c.store.Create(ctx, &storage.CreateParams{Jobs: jobs, Now: c.now(), Retention: c.retention})
	if err != nil {
		err = fmt.Errorf("taskflow: create %d job(s) of %q: %w", len(jobs), jobs[0].Task, err)
	}
	known := &knownState{data: data, st: initial}
	p.created(ctx, jobs, ids, err, known)
	if err == nil {
		c.events.created(jobs, ids, "", known)
	}
	return ids, err
}

// JobInfo is a job as stored, with its states decoded.
type JobInfo struct {
	ID       uuid.UUID
	Task     string
	Queue    string
	Priority int
	// Args holds the encoded arguments.
	Args []byte
	// Attempt counts how many times the job has been started, less the
	// runs that did not count (snoozes, workers that did not know its task).
	Attempt   int
	State     states.State
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpireAt is when a finished job will be removed; zero means never.
	ExpireAt time.Time
	Params   map[string]json.RawMessage
	// ParentID is the job or batch an Awaiting job waits for (it stays set
	// after); BatchID the batch the job belongs to. Zero for none.
	ParentID, BatchID uuid.UUID
	// History lists every state the job has been in, oldest first.
	History []StateChange
	// Logs are what the task logged through Logger, every attempt's, in
	// order; Progress is what it last reported through SetProgress (nil if
	// nothing). Both need a store that implements storage.JobLogs.
	Logs     []LogRecord
	Progress *Progress
	// Cursor is the job's place in the list Client.Jobs returned it in,
	// for JobQuery.Cursor: the page after it starts there.
	Cursor string
}

// LogRecord is one record a task logged through Logger.
type LogRecord struct {
	Attempt int
	At      time.Time
	Level   string
	Message string
	Attrs   json.RawMessage // a JSON object; nil for none
}

// Progress is what a task last reported through SetProgress.
type Progress struct {
	Attempt int
	Percent int
	Message string
	At      time.Time
}

// StateChange is one entry of a job's history.
type StateChange struct {
	State states.State
	At    time.Time
}

// Job returns job id with its current state and full history. An unknown
// id returns an error wrapping ErrNotFound.
func (c *Client) Job(ctx context.Context, id uuid.UUID) (*JobInfo, error) {
	j, err := c.store.Get(ctx, id)
	if err != nil {
		return nil, jobError("get", id, err)
	}
	info, err := newJobInfo(j)
	if err != nil {
		return nil, err
	}
	if jl, ok := c.store.(storage.JobLogs); ok {
		logs, p, err := jl.JobLogs(ctx, id)
		if err != nil {
			return nil, jobError("read the logs of", id, err)
		}
		for _, l := range logs {
			info.Logs = append(info.Logs, LogRecord{Attempt: l.Attempt, At: l.At, Level: l.Level, Message: l.Message, Attrs: l.Attrs})
		}
		if p != nil {
			info.Progress = &Progress{Attempt: p.Attempt, Percent: p.Percent, Message: p.Message, At: p.At}
		}
	}
	return info, nil
}

func newJobInfo(j *storage.Job) (*JobInfo, error) {
	st, err := j.CurrentState()
	if err != nil {
		return nil, fmt.Errorf("taskflow: job %s: %w", j.ID, err)
	}
	info := &JobInfo{
		ID: j.ID, Task: j.Task, Queue: j.Queue, Priority: j.Priority, Args: j.Args, Attempt: j.Attempt,
		State: st, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, ExpireAt: j.ExpireAt, Params: j.Params,
		ParentID: j.ParentID, BatchID: j.BatchID, Cursor: j.Cursor,
		History: make([]StateChange, 0, len(j.History)),
	}
	for _, h := range j.History {
		hs, err := states.Unmarshal(h.State, h.Data)
		if err != nil {
			return nil, fmt.Errorf("taskflow: job %s history: %w", j.ID, err)
		}
		info.History = append(info.History, StateChange{State: hs, At: h.At})
	}
	return info, nil
}

func mergeParams(a, b map[string]json.RawMessage) map[string]json.RawMessage {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}

// supports returns an error wrapping ErrNotSupported, naming the capability,
// unless the store can keep jobs that have unique keys, await a parent or
// belong to a batch, as asked.
func (c *Client) supports(unique, continuation, batch bool) error {
	var err error
	if unique {
		_, err = capability[storage.UniqueKeys](c.store)
	}
	if err == nil && continuation {
		_, err = capability[storage.Continuations](c.store)
	}
	if err == nil && batch {
		_, err = capability[storage.Batches](c.store)
	}
	if err != nil {
		return fmt.Errorf("taskflow: %w", err)
	}
	return nil
}

// capability returns the store as the optional capability C (see package
// storage), or an error wrapping ErrNotSupported that names C. Every call
// that needs a capability checks it here, and wraps the error with what it
// was doing.
func capability[C any](s storage.Store) (C, error) {
	c, ok := s.(C)
	if !ok {
		return c, fmt.Errorf("the store implements no %v: %w", reflect.TypeFor[C](), ErrNotSupported)
	}
	return c, nil
}
