package taskflowtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// TB is the part of testing.TB the package uses; *testing.T, *testing.B
// and *testing.F implement it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

// fatalf reports a failure, prefixed with the package name, and stops the
// test.
func fatalf(t TB, format string, args ...any) {
	t.Helper()
	t.Errorf("taskflowtest: "+format, args...)
	t.FailNow()
}

// DefaultMaxRuns is how many jobs one Drain or RunFor runs, unless
// Options.MaxRuns says otherwise, before it fails the test: a job that
// enqueues itself would otherwise never let it end.
const DefaultMaxRuns = 10000

// DefaultLease is how long the harness's worker leases a job unless
// Options.Worker.LeaseDuration says otherwise. Nothing renews a lease while
// a job runs inline, where a live worker would at every heartbeat, so the
// lease is long enough that a task that moves the clock (Advance) never
// loses its own job.
const DefaultLease = 100 * 365 * 24 * time.Hour

// Options configure a Harness. The zero value is valid.
type Options struct {
	// Start is the clock's first reading. Default: DefaultStart.
	Start time.Time
	// Registry holds the tasks the harness runs, and is the client's.
	// Default: taskflow.DefaultRegistry(), where NewTask registers.
	Registry *taskflow.Registry
	// Client and Worker configure the harness's client and worker (filters,
	// retry policy, retention, events). Their Clock and Registry are the
	// harness's, whatever they hold. Worker.Queues, when set, are the
	// queues the harness serves, in that order; by default it serves every
	// queue that has jobs waiting, by name. Worker.Logger defaults to one
	// that discards, Worker.LeaseDuration to DefaultLease.
	Client taskflow.ClientOptions
	Worker taskflow.WorkerOptions
	// MaxRuns bounds the jobs one Drain or RunFor runs. Default:
	// DefaultMaxRuns.
	MaxRuns int
}

// Harness is an in-memory store, a client and a worker that all read the
// fake Clock. Nothing runs in the background: Drain runs jobs, Advance
// and RunFor move the clock. A Harness is meant for one test goroutine.
type Harness struct {
	Clock  *Clock
	Store  *memstore.Store
	Client *taskflow.Client
	Worker *taskflow.Worker

	t       TB
	queues  []string // nil: every queue with jobs waiting
	maxRuns int
}

// New returns a harness configured by opts. It fails the test if the
// options are invalid.
func New(t TB, opts Options) *Harness {
	t.Helper()
	h, err := newHarness(opts)
	if err != nil {
		fatalf(t, "%v", err)
	}
	h.t = t
	return h
}

func newHarness(opts Options) (*Harness, error) {
	if opts.Start.IsZero() {
		opts.Start = DefaultStart
	}
	if opts.Registry == nil {
		opts.Registry = taskflow.DefaultRegistry()
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = DefaultMaxRuns
	}
	clock := NewClock(opts.Start)
	store := memstore.New(memstore.WithClock(clock.Now))
	co := opts.Client
	co.Clock, co.Registry = clock.Now, opts.Registry
	client, err := taskflow.NewClient(store, co)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	wo := opts.Worker
	wo.Clock, wo.Registry = clock.Now, opts.Registry
	if wo.Client == nil {
		wo.Client = client // what a task gets from taskflow.ClientFromContext
	}
	if wo.ID == "" {
		wo.ID = "taskflowtest"
	}
	if wo.Logger == nil {
		wo.Logger = slog.New(slog.DiscardHandler)
	}
	if wo.LeaseDuration == 0 {
		wo.LeaseDuration = DefaultLease
	}
	worker, err := taskflow.NewWorker(store, wo)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return &Harness{Clock: clock, Store: store, Client: client, Worker: worker, queues: opts.Worker.Queues, maxRuns: opts.MaxRuns}, nil
}

// Run is one job run by the harness, and how it ended: its ID, task,
// queue, attempt and encoded args (decode them with the task's
// DecodeArgs), the state stored when it ended and the task's error (see
// taskflow.Ran).
type Run struct {
	taskflow.Ran
	At time.Time // the clock when it ran
}

// String describes the run on one line: task, job ID, attempt, args, and
// the state it ended in, with the error if any.
func (r Run) String() string {
	end := "discarded"
	if r.State != nil {
		end = string(r.State.Name())
	}
	if r.Err != nil {
		end += ": " + r.Err.Error()
	}
	return fmt.Sprintf("%s %s attempt %d args %s → %s", r.Task, r.ID, r.Attempt, r.Args, end)
}

// Drain runs every job due now, one at a time in the order the store serves
// them, with the upkeep of Advance before each, until none is due, and
// returns what ran, in order. The continuations a job releases and the
// retries due now (a retry policy with no delay) run in the same call; a
// retry scheduled for later does not: Advance the clock past it, or use
// RunFor. Drain fails the test if the store fails or more than MaxRuns
// jobs run.
func (h *Harness) Drain(ctx context.Context) []Run {
	h.t.Helper()
	runs, _ := h.drain(ctx, nil)
	return runs
}

// drain runs due jobs, appending them to runs, and returns the next time
// something becomes due.
func (h *Harness) drain(ctx context.Context, runs []Run) ([]Run, time.Time) {
	h.t.Helper()
	for {
		next := h.maintain(ctx)
		at := h.Clock.Now()
		ran, ok := h.runNext(ctx)
		if !ok {
			return runs, next
		}
		runs = append(runs, Run{Ran: ran, At: at})
		if len(runs) > h.maxRuns {
			fatalf(h.t, "more than %d jobs ran in one call (MaxRuns); a job that enqueues itself? The last ones:\n%s",
				h.maxRuns, describe(runs[max(len(runs)-5, 0):]))
		}
	}
}

// runNext runs the next due job, if any, of the queues the harness
// serves.
func (h *Harness) runNext(ctx context.Context) (taskflow.Ran, bool) {
	h.t.Helper()
	if h.queues != nil {
		return h.run(ctx, h.queues)
	}
	return h.run(ctx, h.Store.QueueNames()) // every queue, by name
}

// run runs the next due job of queues, if any. It fails the test for a
// job whose task has no function in the harness's registry, which a worker
// would leave for another worker.
func (h *Harness) run(ctx context.Context, queues []string) (taskflow.Ran, bool) {
	h.t.Helper()
	if len(queues) == 0 {
		return taskflow.Ran{}, false
	}
	ran, ok, err := h.Worker.RunNext(ctx, queues...)
	switch {
	case err != nil:
		fatalf(h.t, "running a job: %v", err)
	case ok && errors.Is(ran.Err, taskflow.ErrUnknownTask):
		fatalf(h.t, "job %s: task %q has no function in the harness's registry: set Options.Registry to the one it was registered in, or Bind it there", ran.ID, ran.Task)
	}
	return ran, ok
}

func describe(runs []Run) string {
	var b strings.Builder
	for _, r := range runs {
		fmt.Fprintf(&b, "\t%s\n", r)
	}
	return b.String()
}

// maintain does the worker's upkeep at the clock's time and returns the
// next time something becomes due.
func (h *Harness) maintain(ctx context.Context) time.Time {
	h.t.Helper()
	next, err := h.Worker.Maintain(ctx)
	if err != nil {
		fatalf(h.t, "%v", err)
	}
	return next
}

// Advance moves the clock forward by d and does the upkeep a worker does
// when time passes: jobs whose lease expired return to their queue,
// Scheduled jobs and retries now due are Enqueued, recurring jobs now due
// fire (under their misfire policy: by default, once however many
// occurrences d spans), finished jobs past their retention are removed.
// It runs no job: Drain does. It fails the test for a negative d.
func (h *Harness) Advance(ctx context.Context, d time.Duration) {
	h.t.Helper()
	if d < 0 {
		fatalf(h.t, "Advance(%v): the clock only moves forward", d)
	}
	h.Clock.Advance(d)
	h.maintain(ctx)
}

// RunFor lets d pass as it would with a worker running all along: it
// drains, then moves the clock to the next time a Scheduled job, a retry
// or a recurring occurrence is due, drains again, and so on until d has
// passed; it returns every run, in order. Unlike Advance followed by
// Drain, each recurring occurrence in the span fires and runs at its own
// time. Lease expiries are not stops: a job left Processing by a worker
// that is gone comes back at the next stop after its lease ends (or with
// Advance). It fails the test for a negative d.
func (h *Harness) RunFor(ctx context.Context, d time.Duration) []Run {
	h.t.Helper()
	if d < 0 {
		fatalf(h.t, "RunFor(%v): the clock only moves forward", d)
	}
	end := h.Clock.Now().Add(d)
	runs, next := h.drain(ctx, nil)
	for !next.IsZero() && next.After(h.Clock.Now()) && !next.After(end) {
		h.Clock.Set(next)
		runs, next = h.drain(ctx, runs)
	}
	if end.After(h.Clock.Now()) { // a task may have moved the clock past it
		h.Clock.Set(end)
	}
	runs, _ = h.drain(ctx, runs)
	return runs
}
