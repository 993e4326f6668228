package storage

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrInvalidLimit means a [Limit] cannot be enforced as given: no name, a
// limit or period of 0 or less.
var ErrInvalidLimit = errors.New("storage: invalid limit")

// MaxPartitionLen is the most bytes of a job's Partition.
const MaxPartitionLen = 200

// RateTimeKept is how long a rate limit's GCRA time stays stored after it
// has passed, before DeleteExpired ([Pruner]) removes it. A past time counts
// as none, so removing it changes no decision, except for a fetch that read
// its clock before the time passed and takes the store's lock only after
// the removal: it would start jobs from its own earlier time and could
// start more in one period than the limit allows.
const RateTimeKept = time.Minute

// LimitScope is what a [Limit] counts jobs of.
type LimitScope string

// Scopes of limits.
const (
	// ScopeQueue counts the jobs of one queue, whatever their task.
	ScopeQueue LimitScope = "queue"
	// ScopeTask counts the jobs of one task, whatever their queue.
	ScopeTask LimitScope = "task"
	// ScopePartition counts the jobs of one task per Partition: each
	// partition of the task (say, each account) has the whole limit.
	ScopePartition LimitScope = "partition"
)

// Limit is a flow-control limit that a [FlowControl] store enforces when it
// leases jobs. It applies to the jobs of its scope: the queue or the task
// called Name, or, for ScopePartition, the jobs of the task called Name that
// have one Partition, each partition apart (at most Concurrency running per
// partition, say per account).
//
// Concurrency, when more than 0, bounds how many jobs of the scope are
// Processing at once (leased: a job a worker leased ahead counts).
//
// Rate, when more than 0, bounds how many jobs of the scope start per
// Period. A start is a lease: a retry is a start, and so is a run after a
// reclaimed lease. The algorithm is GCRA (the generic cell rate
// algorithm, a leaky bucket kept as one time per key): starts are spaced
// Period/Rate apart, and up to Burst more may start ahead of that
// spacing. So at most Burst+1 start at once, and in any window of length
// Period at most Rate+Burst start.
type Limit struct {
	Scope       LimitScope
	Name        string
	Concurrency int
	Rate        int
	Period      time.Duration
	Burst       int
}

// Key identifies the limit's scope: "queue:NAME", "task:NAME" or
// "partition:NAME". A store
// keeps one limit per key.
func (s LimitScope) valid() bool { return s == ScopeQueue || s == ScopeTask || s == ScopePartition }

func (l Limit) Key() string { return string(l.Scope) + ":" + l.Name }

// IsZero reports whether l limits nothing: declaring it removes the
// stored limit of its key.
func (l Limit) IsZero() bool { return l.Concurrency == 0 && l.Rate == 0 }

// Interval is the GCRA emission interval: Period/Rate; zero without a
// rate.
func (l Limit) Interval() time.Duration {
	if l.Rate <= 0 {
		return 0
	}
	return l.Period / time.Duration(l.Rate)
}

// Validate returns an error wrapping ErrInvalidLimit, naming the limit,
// unless l can be enforced: a known scope, a name, a Concurrency and a Rate
// of 0 or more, and with a Rate a Period of at least Rate nanoseconds and
// a Burst of 0 or more.
func (l Limit) Validate() error {
	var why string
	switch {
	case !l.Scope.valid():
		why = fmt.Sprintf("scope %q: want %q, %q or %q", l.Scope, ScopeQueue, ScopeTask, ScopePartition)
	case l.Name == "":
		why = "no name"
	case l.Concurrency < 0:
		why = fmt.Sprintf("concurrency %d: want 0 (none) or more", l.Concurrency)
	case l.Rate < 0:
		why = fmt.Sprintf("rate %d: want 0 (none) or more", l.Rate)
	case l.Rate > 0 && l.Period <= 0:
		why = fmt.Sprintf("period %v: want more than 0", l.Period)
	case l.Rate > 0 && l.Interval() <= 0:
		why = fmt.Sprintf("rate %d per %v: more than one start per nanosecond", l.Rate, l.Period)
	case l.Burst < 0:
		why = fmt.Sprintf("burst %d: want 0 or more", l.Burst)
	default:
		return nil
	}
	return fmt.Errorf("%w %s: %s", ErrInvalidLimit, l.Key(), why)
}

// LimitUsage is how much of a limit is in use, per partition for a limit
// of ScopePartition.
type LimitUsage struct {
	Limit Limit
	// Partition is the partition counted, for a limit of ScopePartition.
	Partition string
	// Running is how many jobs of the scope (and partition) are
	// Processing.
	Running int64
	// Waiting is how many Enqueued jobs of the scope (and partition) there
	// are; when Running is at Concurrency, they wait on the limit.
	Waiting int64
	// NextStart is, for a rate limit, the earliest time another job may
	// start; zero when one may start now.
	NextStart time.Time
}

// FlowControl is implemented by stores that enforce concurrency and rate
// limits, and serve partitions fairly, when they lease jobs. taskflow
// refuses to start a worker that declares a limit on a store without it.
//
// The guarantees, each a MUST and a test in storagetest:
//
//   - Fetch MUST NOT lease a job when that would put a scope (for
//     ScopePartition, the job's partition of its task) over a declared
//     Concurrency, counting every Processing job of the store, whoever
//     leased it. Limits are checked and slots taken in Fetch's one atomic
//     step, so no number of concurrent fetches exceeds them.
//   - A job leaving Processing by any path (Transition, ReclaimExpired,
//     RemoveDeadWorkers, deletion) MUST give its slot back in the same
//     atomic step.
//   - Fetch MUST NOT start more jobs of a scope (or partition) than its
//     Rate allows under GCRA (see [Limit]); every lease counts, a retry
//     too.
//   - A job held back by a limit MUST NOT hold back jobs that no full
//     limit applies to: Fetch skips it and leases the next ones (no
//     head-of-line blocking).
//   - Within one queue and priority, Fetch MUST serve the jobs of
//     different partitions (the pair of task and Partition) round robin,
//     so that a partition with many jobs waiting does not delay one with
//     few. Within a partition jobs keep their order.
//   - SetLimits MUST take effect for the next Fetch, also for jobs that
//     are running: lowering a limit under what is in use leases nothing
//     more until enough finish.
//   - A limit stored by SetLimits replaces the one stored under the same
//     key: the last declaration wins.
type FlowControl interface {
	// SetLimits stores limits, each replacing the one of its key; a zero
	// limit (see Limit.IsZero) removes its key's. It returns an error
	// wrapping ErrInvalidLimit, storing none, if one is invalid.
	SetLimits(ctx context.Context, limits []Limit) error
	// Limits returns the stored limits, ordered by key.
	Limits(ctx context.Context) ([]Limit, error)
	// LimitUsage returns the use of every stored limit: one entry per
	// limit, or for a limit of ScopePartition one per partition that has
	// jobs Enqueued or Processing, ordered by key then partition.
	LimitUsage(ctx context.Context) ([]LimitUsage, error)
}

// ValidateLimits validates each limit and refuses two of one key.
func ValidateLimits(limits []Limit) error {
	seen := make(map[string]bool, len(limits))
	for _, l := range limits {
		if l.IsZero() && l.Name != "" && l.Scope.valid() {
			continue
		}
		if err := l.Validate(); err != nil {
			return err
		}
		if seen[l.Key()] {
			return fmt.Errorf("%w %s: declared twice", ErrInvalidLimit, l.Key())
		}
		seen[l.Key()] = true
	}
	return nil
}

// GCRA decides a start under a rate limit: given the stored theoretical
// arrival time tat (zero for none), it reports whether a job may start at
// now and the time to store if it does.
func GCRA(l Limit, tat, now time.Time) (ok bool, next time.Time) {
	t := l.Interval()
	if t <= 0 {
		return true, tat
	}
	if tat.Before(now) {
		tat = now
	}
	if tat.Sub(now) > time.Duration(l.Burst)*t {
		return false, tat
	}
	return true, tat.Add(t)
}
