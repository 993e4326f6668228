package filters

import (
	"encoding/json"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Job is what a filter sees of a job: read-only, and never its lease, so
// that no filter can complete or renew a job. A client filter changes the
// job it creates through [CreatingContext].
type Job struct{ j *storage.Job }

// NewJob returns the view of j that filters get. taskflow makes it; a test
// of a filter may too.
func NewJob(j *storage.Job) Job { return Job{j} }

func (v Job) job() *storage.Job {
	if v.j == nil {
		return &storage.Job{}
	}
	return v.j
}

// ID returns the job's ID.
func (v Job) ID() uuid.UUID { return v.job().ID }

// Task returns the name of the job's task.
func (v Job) Task() string { return v.job().Task }

// Args returns the job's encoded arguments; do not modify them.
func (v Job) Args() []byte { return v.job().Args }

// Queue returns the job's queue.
func (v Job) Queue() string { return v.job().Queue }

// Priority returns the job's priority.
func (v Job) Priority() int { return v.job().Priority }

// State returns the name of the job's state when the filter was called.
func (v Job) State() states.Name { return v.job().State }

// Attempt returns how many times the job has run: 1 during its first run.
// Runs that do not count (a snooze, a worker that did not know the task)
// spend no attempt, so a retry policy counts real runs only.
func (v Job) Attempt() int { return v.job().Attempt }

// CreatedAt returns when the job was created.
func (v Job) CreatedAt() time.Time { return v.job().CreatedAt }

// ParentID returns what an Awaiting job waits for (a job or a batch), or
// the zero UUID.
func (v Job) ParentID() uuid.UUID { return v.job().ParentID }

// BatchID returns the batch the job belongs to, or the zero UUID.
func (v Job) BatchID() uuid.UUID { return v.job().BatchID }

// Param returns the job parameter name, encoded, and whether it is set.
func (v Job) Param(name string) (json.RawMessage, bool) {
	p, ok := v.job().Params[name]
	return p, ok
}

// Params returns a copy of the job's parameters.
func (v Job) Params() map[string]json.RawMessage { return maps.Clone(v.job().Params) }
