package storage

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
)

// Finished reports whether a job in state n has finished, for continuations
// and batches: Succeeded, Failed (no retry planned) or Deleted.
func Finished(n states.Name) bool {
	return n == states.NameSucceeded || n == states.NameFailed || n == states.NameDeleted
}

// HoldsUniqueKey reports whether j holds its UniqueKey at time now.
func HoldsUniqueKey(j *Job, now time.Time) bool {
	if j.UniqueKey == "" {
		return false
	}
	return !Finished(j.State) || now.Before(j.UniqueUntil)
}

// ConditionHolds reports whether a continuation with condition on (see
// states.Awaiting) runs when its parent finished with success (for a batch:
// every job of it succeeded).
func ConditionHolds(on string, success bool) bool {
	switch on {
	case states.OnFinish:
		return true
	case states.OnFailure:
		return !success
	default:
		return success
	}
}

// UniqueKeys is implemented by stores that enforce Job.UniqueKey and
// Job.UniqueUntil in Create: no two jobs hold one key at once, and Create
// returns the holder's ID for a job whose key is held, storing it not.
// taskflow gives a job with a UniqueKey only to a store that implements it.
type UniqueKeys interface {
	// EnforcesUniqueKeys marks the capability; it does nothing.
	EnforcesUniqueKeys()
}

// Continuations is implemented by stores that keep Awaiting jobs (ParentID
// set) and resolve them when their parent finishes, in the same atomic
// step (see Store.Transition), and resolve at once in Create an Awaiting
// job whose parent has already finished. taskflow gives an Awaiting job
// only to a store that implements it.
type Continuations interface {
	// ResolvesContinuations marks the capability; it does nothing.
	ResolvesContinuations()
}

// Batches is implemented by stores that keep batches (Job.BatchID): a
// batch finishes when every job of it has, and resolves the continuations
// awaiting it (with [Continuations]); BatchProgress reports it. taskflow
// gives a job with a BatchID only to a store that implements it.
type Batches interface {
	// BatchProgress counts the jobs of a batch by state. A batch with no
	// jobs returns ErrNotFound.
	BatchProgress(ctx context.Context, batchID uuid.UUID) (map[states.Name]int64, error)
}

// Misfire policies of a recurring job: what happens to occurrences that
// passed while no worker ran.
const (
	MisfireOnce = "once" // run once to catch up (the default)
	MisfireAll  = "all"  // run every missed occurrence
	MisfireSkip = "skip" // skip missed occurrences
)

// RecurringJob is a stored recurring job definition and its schedule.
type RecurringJob struct {
	ID       string
	Task     string
	Args     []byte
	Spec     string // cron expression
	TimeZone string // IANA name; empty means UTC
	Queue    string
	Priority int
	Misfire  string
	// Params, UniqueKey and UniqueFor are given to every job spawned: its
	// parameters, and the unique key it holds, for UniqueFor after it is
	// created when that is set.
	Params    map[string]json.RawMessage
	UniqueKey string
	UniqueFor time.Duration
	Paused    bool
	// NextRun is the next occurrence, computed by the caller.
	NextRun time.Time
	// LastRun is the occurrence last fired, LastJobID the job it spawned.
	LastRun   time.Time
	LastJobID uuid.UUID
	CreatedAt time.Time
	UpdatedAt time.Time
}

// FireParams are the arguments of [Recurring.FireRecurring].
type FireParams struct {
	ID string
	// ExpectedNext must equal the stored NextRun, or the call fails with
	// ErrStateConflict: another worker fired this occurrence.
	ExpectedNext time.Time
	NextRun      time.Time
	LastRun      time.Time
	// Jobs are created in the same atomic step (see Store.Create).
	Jobs []*Job
	Now  time.Time
}

// Recurring is implemented by stores that keep recurring job definitions,
// so schedules survive restarts and each occurrence fires exactly once
// across any number of workers.
type Recurring interface {
	// UpsertRecurring creates or replaces a definition. When a definition
	// with the same ID, Spec and TimeZone exists, its NextRun, LastRun,
	// LastJobID, Paused and CreatedAt are kept, so that processes declaring
	// it at start-up never move its schedule.
	UpsertRecurring(ctx context.Context, r *RecurringJob) error
	// RemoveRecurring deletes a definition, or returns ErrNotFound.
	RemoveRecurring(ctx context.Context, id string) error
	// GetRecurring returns a definition, or ErrNotFound.
	GetRecurring(ctx context.Context, id string) (*RecurringJob, error)
	// ListRecurring returns every definition, ordered by ID.
	ListRecurring(ctx context.Context) ([]*RecurringJob, error)
	// DueRecurring returns up to limit unpaused definitions whose NextRun is
	// not after now, and the earliest NextRun of the unpaused rest (zero if
	// none).
	DueRecurring(ctx context.Context, now time.Time, limit int) ([]*RecurringJob, time.Time, error)
	// FireRecurring atomically creates the occurrence's jobs and advances
	// the schedule: it MUST fail with ErrStateConflict, creating nothing,
	// unless the definition exists, is not paused, and its NextRun equals
	// p.ExpectedNext.
	FireRecurring(ctx context.Context, p *FireParams) error
	// SetRecurringPaused pauses or resumes a definition; resuming sets its
	// NextRun.
	SetRecurringPaused(ctx context.Context, id string, paused bool, nextRun time.Time) error
}

// Locker is implemented by stores that offer named locks with an expiry,
// for mutual exclusion between jobs on any number of workers.
type Locker interface {
	// TryLock takes the lock key for owner until now+ttl and reports true,
	// or reports false when another owner holds it. An owner that holds the
	// lock extends it.
	TryLock(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Unlock releases the lock if owner holds it.
	Unlock(ctx context.Context, key, owner string) error
}

// WorkerInfo describes a running worker.
type WorkerInfo struct {
	ID          string
	Host        string
	PID         int
	Queues      []string
	Concurrency int
	StartedAt   time.Time
	HeartbeatAt time.Time
}

// Workers is implemented by stores that keep a registry of workers.
// Heartbeats arrive through [Store.ExtendLeases] (ExtendParams.Worker), so a
// worker renews its leases and announces itself in one call.
type Workers interface {
	// ListWorkers returns the registered workers, ordered by ID.
	ListWorkers(ctx context.Context) ([]*WorkerInfo, error)
	// RemoveWorker unregisters a worker that stopped cleanly.
	RemoveWorker(ctx context.Context, id string) error
	// RemoveDeadWorkers unregisters workers whose last heartbeat is older
	// than timeout, by the clock that stamps heartbeats (the store's: a
	// worker's own clock may be skewed or injected), and MUST return their
	// Processing jobs to Enqueued at once. It returns the IDs of the removed
	// workers.
	RemoveDeadWorkers(ctx context.Context, timeout time.Duration) ([]string, error)
}

// Reasons reads the reason of encoded states for stores that keep it
// apart (as the first history entry of created jobs). It remembers the last
// state data it decoded: the jobs of one Create call usually share theirs.
// The zero value is ready to use; it is not safe for concurrent use.
type Reasons struct {
	data   []byte
	reason string
}

// Of returns the reason recorded in data, the encoding of a state called
// name, or "" if data does not decode.
func (r *Reasons) Of(name states.Name, data []byte) string {
	if len(data) > 0 && len(data) == len(r.data) && &data[0] == &r.data[0] {
		return r.reason
	}
	r.data, r.reason = data, ""
	if st, err := states.Unmarshal(name, data); err == nil {
		r.reason = st.Why()
	}
	return r.reason
}
