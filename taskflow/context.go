package taskflow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// RunningJob describes the job a task function is running for.
type RunningJob struct {
	ID    uuid.UUID
	Task  string
	Queue string
	// Attempt is 1 for the first run. It counts runs that count: a run
	// that snoozed (Snooze) is followed by one under the same number, and
	// a worker that did not know the task spent none.
	Attempt int
	Params  map[string]json.RawMessage
}

// Param decodes the job parameter name into v. It reports false when the
// job has no such parameter.
func (r *RunningJob) Param(name string, v any) (bool, error) {
	raw, ok := r.Params[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("%w parameter %q: %w", ErrDecode, name, err)
	}
	return true, nil
}

type runningJobKey struct{}

// runningCtx carries the running job without an allocation of its own.
type runningCtx struct {
	context.Context
	a *attempt
}

func (c *runningCtx) Value(key any) any {
	switch key {
	case runningJobKey{}:
		return &c.a.info
	case journalKey{}:
		return c.a.journalOf()
	case clientKey{}:
		return c.a.w.opts.Client
	case parentKey{}:
		return c.a.job.ParentID
	}
	return c.Context.Value(key)
}

// JobFromContext returns the job a task function runs for. It reports false
// outside a task.
func JobFromContext(ctx context.Context) (*RunningJob, bool) {
	r, ok := ctx.Value(runningJobKey{}).(*RunningJob)
	return r, ok
}

type (
	clientKey struct{}
	parentKey struct{} // the job or batch the running job awaited
)

// ClientFromContext returns the client of the worker running the task
// (WorkerOptions.Client), so that a task enqueues jobs without a global.
// It reports false outside a task.
func ClientFromContext(ctx context.Context) (*Client, bool) {
	c, ok := ctx.Value(clientKey{}).(*Client)
	return c, ok && c != nil
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}
