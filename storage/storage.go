package storage

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
)

// Sentinel errors. Backends return them, wrapped or not; callers test with
// errors.Is.
var (
	// ErrNotFound means no job has the given ID.
	ErrNotFound = errors.New("storage: job not found")
	// ErrStateConflict means a compare-and-set saw a state other than the
	// expected one.
	ErrStateConflict = errors.New("storage: state conflict")
	// ErrLeaseLost means the job is no longer leased under the given fencing
	// token: its lease expired and it was reclaimed, or it moved on.
	ErrLeaseLost = errors.New("storage: lease lost")
	// ErrDuplicate means a job with the same ID already exists.
	ErrDuplicate = errors.New("storage: duplicate job")
	// ErrNotSupported means the backend lacks an optional ability.
	ErrNotSupported = errors.New("storage: not supported")
)

// Reasons that stores record with the moves they make on their own, so
// that a worker can tell a job reclaimed from it from one a person moved.
const (
	// ReasonLeaseExpired is the reason of a job that ReclaimExpired
	// returned to its queue.
	ReasonLeaseExpired = "lease expired"
	// ReasonWorkerDead ends the reason of a job that RemoveDeadWorkers
	// returned to its queue: "worker ID stopped sending heartbeats".
	ReasonWorkerDead = " stopped sending heartbeats"
)

// Job is the stored record of a job. Stores work on bytes: Args and state
// data are encoded by package taskflow and never decoded here. The byte
// slices of jobs a store returns may be shared between jobs (pgstore shares
// the state data of the jobs of one fetch): read them, never modify them.
type Job struct {
	ID       uuid.UUID // UUIDv7: time-ordered
	Task     string    // the registered task name
	Args     []byte    // encoded arguments
	Queue    string
	Priority int // higher runs first; default 0

	State     states.Name
	StateData []byte    // JSON of the current state (states.Marshal)
	RunAt     time.Time // for Scheduled jobs: when they become Enqueued

	// Attempt counts how many times the job has been fetched, less the
	// leases refunded (Transition.Refund): the runs that counted.
	Attempt   int
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpireAt is when a final job may be removed; zero means never.
	ExpireAt time.Time

	// Params are small named JSON values that filters and tasks read.
	Params map[string]json.RawMessage

	// ParentID is what an Awaiting job waits for: a job or a batch.
	ParentID uuid.UUID
	// BatchID is the batch the job belongs to; zero for none.
	BatchID uuid.UUID
	// UniqueKey, when not empty, is held by this job while it is Enqueued,
	// Scheduled, Awaiting or Processing, and, when UniqueUntil is set, until
	// that time whatever its state. No two jobs hold one key at once.
	UniqueKey   string
	UniqueUntil time.Time
	// Partition is the job's partition key, computed once when the job is
	// made, at most MaxPartitionLen bytes; empty for none. A [FlowControl]
	// store counts limits of ScopePartition, and serves partitions round
	// robin, by it.
	Partition string

	// The lease, set while the job is Processing.
	LeaseOwner string
	LeaseToken int64
	LeaseUntil time.Time

	// History holds every state the job has been in, oldest first. Only
	// [Store.Get] fills it.
	History []StateRecord

	// Cursor is the job's place in the order of the [Lister.List] call
	// that returned it, opaque, for ListParams.Cursor. Only List sets it.
	Cursor string
}

// CurrentState decodes the job's current state.
func (j *Job) CurrentState() (states.State, error) {
	return states.Unmarshal(j.State, j.StateData)
}

// StateRecord is one entry of a job's state history.
type StateRecord struct {
	State  states.Name
	Reason string
	Data   []byte // JSON of the state
	At     time.Time
}

// NewStateRecord encodes s into a history entry made at time at.
func NewStateRecord(s states.State, at time.Time) (StateRecord, error) {
	data, err := states.Marshal(s)
	if err != nil {
		return StateRecord{}, err
	}
	return StateRecord{State: s.Name(), Reason: s.Why(), Data: data, At: at}, nil
}

// CreateParams are the arguments of [Store.Create].
type CreateParams struct {
	// Jobs to create. Each has ID, Task, Args, Queue, State, StateData and
	// CreatedAt set; RunAt too when State is Scheduled, ParentID when it is
	// Awaiting. Stores set UpdatedAt, clear the lease and record the initial
	// state as the first history entry. A store may keep the jobs' byte
	// slices and Params maps, which jobs of one call may share: the caller
	// must not modify them after the call, and the store must not modify
	// them either.
	Jobs []*Job
	// Now is when the call happens (for unique keys held until a time);
	// zero means the store's clock.
	Now time.Time
	// Retention is how long jobs that this call deletes as a side effect
	// (continuations whose condition fails) are kept; zero keeps them.
	Retention time.Duration
}

// FetchParams are the arguments of [Store.Fetch].
type FetchParams struct {
	// Queues to serve, highest priority first.
	Queues []string
	// Limit is the most jobs to lease; at least 1.
	Limit int
	// Owner identifies the leasing worker; it is stored on the lease and in
	// the Processing state.
	Owner string
	// LeaseFor is how long the lease lasts from Now.
	LeaseFor time.Duration
	// Now is the time of the fetch; zero means the store's clock.
	Now time.Time
	// Above, when set, limits the fetch to jobs that come before a job at
	// this position in the order Fetch serves: jobs of the queues listed
	// before Above.Queue, and jobs of Above.Queue with a Priority greater
	// than Above.Priority. Above.Queue MUST be one of Queues. A worker that
	// holds jobs leased ahead uses it to fetch only jobs more urgent than
	// the least urgent one it holds.
	Above *Position
	// NotAbove, when set, limits the fetch to jobs at or after this
	// position: jobs of NotAbove.Queue with a Priority of at most
	// NotAbove.Priority, and jobs of the queues listed after it.
	// NotAbove.Queue MUST be one of Queues. A worker fetching a large batch
	// uses it so that the batch never holds up a job more urgent than the
	// ones it already has: such jobs are fetched apart, with Above.
	NotAbove *Position
}

// Position is a place in the order in which [Store.Fetch] serves jobs.
type Position struct {
	Queue    string
	Priority int
}

// Transition is one compare-and-set state change.
type Transition struct {
	ID uuid.UUID
	// From lists the states the job must be in; empty means any state. It
	// may be shared between transitions: stores must not modify it.
	From []states.Name
	// Token, when non-zero, must equal the job's lease token while it is
	// Processing, or the change fails with ErrLeaseLost.
	Token int64
	// Owner, when not empty and Token is set, must equal the lease's owner
	// too (the Owner of the Fetch that leased the job), or the change fails
	// with ErrLeaseLost.
	Owner string
	// To is the new state; Data its JSON (states.Marshal).
	To     states.Name
	Data   []byte
	Reason string
	// Traversed are history entries for states elected on the way but never
	// current (say, Failed before a retry made it Scheduled). They are
	// appended before the new state's entry.
	Traversed []StateRecord
	// Queue moves the job to another queue when not empty.
	Queue string
	// RunAt is when a Scheduled job becomes Enqueued.
	RunAt time.Time
	// ExpireAt is when a job entering a final state may be removed; zero
	// keeps it forever. Entering a non-final state clears any expiry.
	ExpireAt time.Time
	// Params are merged into the job's parameters.
	Params map[string]json.RawMessage
	// Refund, with Token, gives back the attempt that the lease counted:
	// in the same atomic step, the job's Attempt goes down by one, so that
	// the next fetch counts the same attempt again. A worker sets it when
	// the lease's run does not count: the job was sent back without
	// running (its task is unknown to the worker), or the task asked to run
	// later (a snooze). The lease's Processing entry stays in the history.
	Refund bool
}

// TransitionParams are the arguments of [Store.Transition].
type TransitionParams struct {
	Transitions []Transition
	// AllOrNothing makes one failing change abort the whole call. The
	// per-item result then reports each failure; the others are nil although
	// nothing was applied.
	AllOrNothing bool
	// Now stamps the history entries; zero means the store's clock.
	Now time.Time
	// Retention is how long jobs that this call deletes as a side effect
	// (continuations whose condition fails) are kept; zero keeps them.
	Retention time.Duration
}

// ExtendParams are the arguments of [Store.ExtendLeases].
type ExtendParams struct {
	Owner string
	// Worker, when set, is recorded as the owner's heartbeat by stores that
	// implement [Workers].
	Worker *WorkerInfo
	// Jobs maps each job the owner runs to the token it holds.
	Jobs map[uuid.UUID]int64
	// Until is the new lease expiry. Zero checks which leases are lost
	// without extending any (and without writing them).
	Until time.Time
}

// LostLease is a lease that [Store.ExtendLeases] found no longer held.
type LostLease struct {
	ID uuid.UUID
	// State is the job's state now; empty when the job no longer exists.
	// A Processing job is held under another token (it was requeued or
	// reclaimed, and fetched again).
	State states.Name
}

// PromoteParams are the arguments of [Store.PromoteDue].
type PromoteParams struct {
	// Now is the time of the promotion; zero means the store's clock.
	Now time.Time
	// Limit is the most jobs to promote in one call.
	Limit int
}

// PromoteResult reports what [Store.PromoteDue] did.
type PromoteResult struct {
	// Promoted is how many Scheduled jobs became Enqueued.
	Promoted int
	// Next is the earliest RunAt of the Scheduled jobs left; zero if none.
	Next time.Time
}

// ReclaimParams are the arguments of [Store.ReclaimExpired].
type ReclaimParams struct {
	// Now is the time of the check; zero means the store's clock.
	Now time.Time
	// Limit is the most jobs to reclaim in one call.
	Limit int
}

// Store is the required storage contract. See the package documentation for
// the guarantees every method MUST keep.
type Store interface {
	// Create stores new jobs, all or none, and returns for each the ID of
	// the job that stands for it: its own, or, when its UniqueKey is held,
	// the holder's (that job is then not stored). A job whose ID exists
	// fails the call with ErrDuplicate. Enqueued jobs become fetchable at
	// once; Scheduled ones at their RunAt. An Awaiting job whose parent (a
	// job, or a batch: the jobs with that BatchID, in the store or stored by
	// this call, not held back by a unique key) does not exist fails the
	// call with ErrNotFound; one whose parent has already finished is
	// resolved at once (see Transition).
	Create(ctx context.Context, p *CreateParams) ([]uuid.UUID, error)

	// Fetch leases up to p.Limit Enqueued jobs and moves them to Processing
	// (none of a paused queue, on a store that implements [Queues]):
	// Attempt grows by one, the lease gets a new, larger token, and a
	// Processing entry (owner as ServerID) is appended to the history. It
	// returns no jobs and no error when none are available.
	Fetch(ctx context.Context, p *FetchParams) ([]*Job, error)

	// Transition applies state changes. The result has one error per
	// transition, in order: nil, or one wrapping ErrNotFound,
	// ErrStateConflict or ErrLeaseLost. The returned error is for failures of
	// the call as a whole. Leaving Processing clears the lease.
	//
	// A job that enters Succeeded, Failed or Deleted has finished, and so has
	// its batch once every job of the batch has. In the same atomic step,
	// every job Awaiting a finished job or batch is resolved: it becomes
	// Enqueued when its condition (states.Awaiting.On) holds, else Deleted
	// (which may in turn resolve jobs awaiting it). OnSuccess holds when the
	// parent Succeeded (a batch: every job of it); OnFailure when it did not;
	// OnFinish always. A job whose Awaiting state has ArgsFromResult and
	// whose parent is a job that Succeeded gets, in that same step, the
	// parent's result (states.Succeeded.Result, byte for byte) as its Args;
	// any other resolved job keeps its Args.
	Transition(ctx context.Context, p *TransitionParams) ([]error, error)

	// ExtendLeases moves the lease expiry of the owner's jobs to p.Until. It
	// returns the leases the owner no longer holds, each with the state its
	// job is in now, so that the worker can tell the attempt why it lost it.
	ExtendLeases(ctx context.Context, p *ExtendParams) (lost []LostLease, err error)

	// PromoteDue moves Scheduled jobs whose RunAt has come to Enqueued.
	PromoteDue(ctx context.Context, p *PromoteParams) (PromoteResult, error)

	// ReclaimExpired moves Processing jobs whose lease expired back to
	// Enqueued, so another worker can run them. It returns how many moved.
	ReclaimExpired(ctx context.Context, p *ReclaimParams) (int, error)

	// Get returns the job with its full history, or ErrNotFound.
	Get(ctx context.Context, id uuid.UUID) (*Job, error)
}

// Topic is a set of kinds of change that a [Notifier] announces. Each
// loop of a worker subscribes to the one it acts on, so that a change wakes
// only the loops that have work because of it.
type Topic uint8

const (
	// TopicEnqueued: jobs became Enqueued (created, promoted, retried,
	// requeued, reclaimed, or continuations whose parents finished).
	// Fetchers subscribe to it.
	TopicEnqueued Topic = 1 << iota
	// TopicScheduled: jobs became Scheduled. Schedulers subscribe to it.
	TopicScheduled
	// TopicRecurring: recurring definitions were added, changed or resumed.
	TopicRecurring
	// TopicFinished: jobs became Succeeded, Failed or Deleted by
	// Transition. Waiting handles subscribe to it.
	TopicFinished

	// TopicAll is every topic.
	TopicAll = TopicEnqueued | TopicScheduled | TopicRecurring | TopicFinished
)

// Notifier is implemented by stores that can wake fetchers and schedulers
// when work may be available, instead of leaving them to poll.
type Notifier interface {
	// Subscribe returns a channel that receives a value whenever a change
	// of one of the topics has been stored. Wake-ups are coalesced: a slow
	// reader misses none that matter, it sees one for many. The channel is
	// closed when ctx is done.
	Subscribe(ctx context.Context, topics Topic) (<-chan struct{}, error)
}

// Peeker is implemented by stores that read a job without its history, in
// less work than Get: what a handle waiting for the job needs.
type Peeker interface {
	// Peek returns the job as Get does but with no History, or
	// ErrNotFound.
	Peek(ctx context.Context, id uuid.UUID) (*Job, error)
}

// TxBound is implemented by stores bound to a caller's transaction (such
// as pgstore's WithTx). Outside returns the same store outside that
// transaction, for reads that outlive it: a handle to a job enqueued in the
// transaction waits for the job after the commit.
type TxBound interface {
	Outside() Store
}

// ListParams select jobs for [Lister.List]. Empty fields match every job.
type ListParams struct {
	State   states.Name
	Queue   string
	Task    string
	BatchID uuid.UUID
	// ParentID selects the continuations of a job or batch: the jobs that
	// await it, or awaited it.
	ParentID uuid.UUID
	// Offset and Limit page through the jobs in the list's order (see
	// Lister); a zero Limit means no limit. Deep pages are cheap only
	// through Cursor: Offset skips jobs one by one.
	Offset, Limit int
	// Cursor, when set, continues a list from a job's place in its order:
	// the Cursor of a job that a List call with the same State returned.
	// The list starts after that place (Offset then counts from there),
	// whether the job is still there or not. A cursor a store cannot read
	// fails the call with an error wrapping ErrBadCursor.
	Cursor string
	// Backward walks the order backwards: from Cursor (exclusive), or from
	// the end when Cursor is empty, towards the start. The jobs come in
	// the order walked, the nearest first: reverse them to show them in
	// the list's order. "Newer" and "last" links of a page use it.
	Backward bool
}

// ErrBadCursor means a ListParams.Cursor that the store did not make, or
// made for a list of another state.
var ErrBadCursor = errors.New("storage: bad list cursor")

// Lister is implemented by stores that answer monitoring queries.
type Lister interface {
	// List returns the jobs p selects, without history, each with its
	// Cursor set, in the order that a job of its state is looked for in:
	//   - Enqueued: the order workers take them from a queue: highest
	//     Priority first, then first enqueued first;
	//   - Scheduled: by RunAt, the soonest due first, then by ID;
	//   - any other state, or none: newest first (by ID, a UUIDv7).
	// Each page costs about the same at any depth through Cursor (a
	// keyset), not Offset.
	List(ctx context.Context, p *ListParams) ([]*Job, error)
	// Count returns how many jobs are in each state, optionally in one queue.
	Count(ctx context.Context, queue string) (map[states.Name]int64, error)
}

// Estimator is implemented by stores where an exact count of every state
// is too slow on a large store. EstimateCount returns the number of jobs in
// each state, of one queue or ("") of every queue, exact for the states in
// exact and estimated for the others.
type Estimator interface {
	EstimateCount(ctx context.Context, queue string) (counts map[states.Name]int64, exact []states.Name, err error)
}

// PruneParams are the arguments of [Pruner.DeleteExpired].
type PruneParams struct {
	// Now is the time of the check; zero means the store's clock.
	Now time.Time
	// Limit is the most jobs to delete in one call.
	Limit int
}

// Pruner is implemented by stores that remove final jobs once their ExpireAt
// has passed.
type Pruner interface {
	// DeleteExpired removes up to p.Limit jobs whose ExpireAt has passed,
	// with their history, and returns how many it removed. Jobs without
	// an ExpireAt, Failed ones above all, stay whole: a store may move them
	// aside then, but every method reads and changes them as before.
	DeleteExpired(ctx context.Context, p *PruneParams) (int, error)
}
