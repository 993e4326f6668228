package storage

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

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
	// LastJobID, when Jobs is empty and it is set, is recorded as the
	// definition's last job: a run triggered by hand, whose job was
	// created apart, records itself with NextRun unchanged.
	LastJobID uuid.UUID
	Now       time.Time
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
