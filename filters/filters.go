// Package filters defines taskflow's filter pipeline and ships the built-in
// filters, such as [Retry].
//
// A filter is a value of a type that embeds [Defaults] and implements one or
// more of [ClientFilter], [ServerFilter], [ElectStateFilter] and
// [ApplyStateFilter]. Filters are registered globally
// (taskflow.ClientOptions.Filters, taskflow.WorkerOptions.Filters) or per
// task (taskflow.WithFilters).
//
// # Order
//
// Before-hooks and election run global filters first, then the task's, each
// in the order given. After-hooks (OnCreated) run in reverse order, and
// server filters nest: the first registered is the outermost. The retry
// policy (see [Retry]) elects before every other filter, so later filters see
// its choice and may override it.
//
// # When hooks run
//
//   - OnCreating and OnCreated run in the client, around storing new jobs.
//   - OnPerform runs in the worker, around the task function.
//   - OnStateElection runs before every state change that taskflow makes for
//     a job, with the global filters of the side that makes it and then the
//     task's own:
//     the initial state of every job created (Enqueue, EnqueueMany,
//     EnqueueBatch, ContinueWith, Then, TriggerRecurring), in the client,
//     after its OnCreating filters;
//     the outcome of every attempt (Succeeded or Failed, which the retry
//     policy may turn into Scheduled, Enqueued or Deleted), a job whose task
//     the worker does not know (Scheduled for another worker), a job the
//     worker returns to its queue when it stops, and the initial state of
//     the jobs of a recurring occurrence it fires (after OnCreating, with
//     the worker's filters and the task's; a cancel skips the occurrence),
//     in the worker;
//     Delete, Requeue, Reschedule, ChangeState and Batch.Cancel, in the
//     client (its filters, then the task's found in ClientOptions.Registry).
//   - The store makes some moves on its own, in one batched step, and they
//     are not elected: fetching a job into Processing, promoting a due
//     Scheduled job to Enqueued, returning a job whose lease expired (or
//     whose worker died) to Enqueued, resolving continuations when their
//     parent finishes.
//   - OnStateApplied runs after an elected state change has been stored.
package filters

import (
	"context"
	"encoding/json"
	"time"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Filter is a filter: a value of a type that embeds [Defaults] and
// implements at least one of the filter interfaces of this package. The
// marker method makes a value that is no filter fail to compile where a
// Filter is expected (taskflow.WithFilters(42) does not compile).
type Filter interface {
	// IsFilter marks a filter; Defaults implements it.
	IsFilter()
}

// Defaults is embedded in every filter type: it gives the type the marker
// method of [Filter], and will give it a default for any method a later
// release adds to Filter.
//
//	type audit struct{ filters.Defaults }
//
//	func (audit) OnStateApplied(ctx context.Context, c *filters.ApplyStateContext) { ... }
type Defaults struct{}

// IsFilter implements [Filter].
func (Defaults) IsFilter() {}

// CreatingContext is passed to [ClientFilter.OnCreating]. The filter may
// change the job's queue, priority and parameters before it is stored, or
// cancel its creation.
type CreatingContext struct {
	Job    Job
	reason string
}

// NewCreatingContext starts the creation of job j.
func NewCreatingContext(j *storage.Job) *CreatingContext { return &CreatingContext{Job: NewJob(j)} }

// SetQueue moves the job to queue; the name must match [a-z0-9_-]+.
func (c *CreatingContext) SetQueue(queue string) { c.Job.job().Queue = queue }

// SetPriority sets the job's priority.
func (c *CreatingContext) SetPriority(p int) { c.Job.job().Priority = p }

// SetParam sets the job parameter name to the encoded value; a nil value
// removes it.
func (c *CreatingContext) SetParam(name string, value json.RawMessage) {
	j := c.Job.job()
	if value == nil {
		delete(j.Params, name)
		return
	}
	if j.Params == nil {
		j.Params = map[string]json.RawMessage{}
	}
	j.Params[name] = value
}

// Cancel stops the job from being created; Enqueue returns an error wrapping
// taskflow.ErrCanceled that carries reason.
func (c *CreatingContext) Cancel(reason string) {
	if reason == "" {
		reason = "canceled by a filter"
	}
	c.reason = reason
}

// Canceled reports whether a filter canceled creation, and why.
func (c *CreatingContext) Canceled() (string, bool) { return c.reason, c.reason != "" }

// CreatedContext is passed to [ClientFilter.OnCreated].
type CreatedContext struct {
	Job Job
	// Err is the error creation ended with, if any.
	Err error
}

// ClientFilter hooks into job creation.
type ClientFilter interface {
	// OnCreating runs before the job is stored. Returning an error aborts
	// the enqueue with that error.
	OnCreating(ctx context.Context, c *CreatingContext) error
	// OnCreated runs after the job was stored, or creation failed.
	OnCreated(ctx context.Context, c *CreatedContext)
}

// PerformContext is passed to [ServerFilter.OnPerform].
type PerformContext struct {
	Job Job
	// Result holds the encoded result once next has returned nil.
	Result []byte
}

// ServerFilter wraps the execution of a job in the worker.
type ServerFilter interface {
	// OnPerform must call next to run the job (or the next filter) and
	// return its error, or return an error of its own to fail the attempt
	// without running it. It may call next again after a call has
	// returned, but not concurrently, and not once OnPerform has returned.
	OnPerform(ctx context.Context, c *PerformContext, next func(context.Context) error) error
}

// ElectStateContext is passed to [ElectStateFilter.OnStateElection]. It
// carries the candidate state, which a filter may replace.
type ElectStateContext struct {
	// Job is the job as stored before the change.
	Job Job
	// From is the job's current state; empty while the job is created.
	From states.Name
	// Err is the error behind a Failed candidate.
	Err error
	// Now is the time of the election, from the worker's or client's clock.
	Now time.Time
	// Retention is how long the job is kept if the elected state expires
	// (Succeeded or Deleted, see states.Name.Expires). It starts as the task's or worker's setting; a
	// filter may change it, say to keep deleted jobs longer.
	Retention time.Duration

	candidate states.State
	traversed []states.State
}

// NewElectStateContext starts an election of candidate for job.
func NewElectStateContext(job Job, from states.Name, candidate states.State, err error, now time.Time) *ElectStateContext {
	return &ElectStateContext{Job: job, From: from, Err: err, Now: now, candidate: candidate}
}

// Candidate returns the state that will be applied unless a later filter
// replaces it.
func (c *ElectStateContext) Candidate() states.State { return c.candidate }

// SetCandidate replaces the candidate state. The replaced candidate is kept
// in the job's history (see [ElectStateContext.Traversed]).
func (c *ElectStateContext) SetCandidate(s states.State) {
	if s == nil {
		return
	}
	c.traversed = append(c.traversed, c.candidate)
	c.candidate = s
}

// Traversed returns the candidates that were replaced, in order.
func (c *ElectStateContext) Traversed() []states.State { return c.traversed }

// ElectStateFilter sees every candidate state and may replace it: that is
// how retries, deletions and queue moves are made.
type ElectStateFilter interface {
	OnStateElection(ctx context.Context, c *ElectStateContext)
}

// ApplyStateContext is passed to [ApplyStateFilter.OnStateApplied].
type ApplyStateContext struct {
	// Job is the job as it was before the change.
	Job Job
	// From is the state the job left; empty for a new job.
	From states.Name
	// State is the state now stored.
	State states.State
}

// ApplyStateFilter is told of every state change taskflow stores.
type ApplyStateFilter interface {
	OnStateApplied(ctx context.Context, c *ApplyStateContext)
}

// Valid reports whether f implements at least one filter interface.
func Valid(f Filter) bool {
	switch f.(type) {
	case ClientFilter, ServerFilter, ElectStateFilter, ApplyStateFilter:
		return true
	}
	return false
}
