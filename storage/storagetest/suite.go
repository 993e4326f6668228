// Package storagetest is the conformance suite for taskflow stores: the
// storage contract written as tests. Every backend's tests call [Run], and so
// may third-party backends:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return memstore.New() })
//	}
//
// Each subtest is named after the MUST sentence of package storage that it
// checks. Subtests for optional interfaces skip, with a message, when the
// store does not implement them; required ones never skip. A bug fixed in any
// backend adds a case here.
package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// NewStore returns a fresh, empty store, isolated from every other store it
// returned. It registers its own cleanup with t.
type NewStore func(t *testing.T) storage.Store

// Run runs the whole suite against the stores newStore makes.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Create", func(t *testing.T) { testCreate(t, newStore) })
	t.Run("Fetch", func(t *testing.T) { testFetch(t, newStore) })
	t.Run("Transition", func(t *testing.T) { testTransition(t, newStore) })
	t.Run("Lease", func(t *testing.T) { testLease(t, newStore) })
	t.Run("Schedule", func(t *testing.T) { testSchedule(t, newStore) })
	t.Run("Notifier", func(t *testing.T) { testNotifier(t, newStore) })
	t.Run("Lister", func(t *testing.T) { testLister(t, needing(newStore, has[storage.Lister]("Lister"))) })
	t.Run("Peeker", func(t *testing.T) { testPeeker(t, newStore) })
	t.Run("Queues", func(t *testing.T) { testQueues(t, newStore) })
	t.Run("Statistics", func(t *testing.T) { testStatistics(t, newStore) })
	t.Run("JobLogs", func(t *testing.T) { testJobLogs(t, newStore) })
	t.Run("Pruner", func(t *testing.T) { testPruner(t, newStore) })
	t.Run("Unique", func(t *testing.T) { testUnique(t, needing(newStore, has[storage.UniqueKeys]("UniqueKeys"))) })
	t.Run("Continuations", func(t *testing.T) {
		testContinuations(t, needing(newStore, has[storage.Continuations]("Continuations")))
	})
	t.Run("Batches", func(t *testing.T) {
		testBatches(t, needing(newStore, has[storage.Batches]("Batches"), has[storage.Continuations]("Continuations")))
	})
	t.Run("Recurring", func(t *testing.T) { testRecurring(t, newStore) })
	t.Run("Locker", func(t *testing.T) { testLocker(t, newStore) })
	t.Run("Workers", func(t *testing.T) { testWorkers(t, newStore) })
	t.Run("FlowControl", func(t *testing.T) {
		testFlowControl(t, needing(newStore, has[storage.FlowControl]("FlowControl")))
	})
	t.Run("HeldCounter", func(t *testing.T) { testHeld(t, needing(newStore, has[storage.FlowControl]("FlowControl"))) })
}

// capability is an optional interface of package storage.
type capability struct {
	name string
	has  func(storage.Store) bool
}

func has[C any](name string) capability {
	return capability{name, func(s storage.Store) bool { _, ok := s.(C); return ok }}
}

// needing returns newStore for the tests of optional capabilities: a test
// skips, with a message, when the store lacks one of caps.
func needing(newStore NewStore, caps ...capability) NewStore {
	return func(t *testing.T) storage.Store {
		s := newStore(t)
		for _, c := range caps {
			if !c.has(s) {
				t.Skipf("store does not implement storage.%s", c.name)
			}
		}
		return s
	}
}

// base is the time the suite pretends it is. It is truncated to whole
// microseconds, the precision SQL backends keep.
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).Add(123456 * time.Microsecond)

const owner = "server-a"

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

type jobOpt func(*storage.Job)

func inQueue(q string) jobOpt { return func(j *storage.Job) { j.Queue = q } }
func priority(p int) jobOpt   { return func(j *storage.Job) { j.Priority = p } }
func scheduledAt(at time.Time) jobOpt {
	return func(j *storage.Job) {
		j.State = states.NameScheduled
		j.StateData = mustMarshal(states.Scheduled{EnqueueAt: at, ScheduledAt: j.CreatedAt, Reason: "delayed"})
		j.RunAt = at
	}
}

// newJob builds an Enqueued job in queue "default".
func newJob(t *testing.T, opts ...jobOpt) *storage.Job {
	t.Helper()
	j := &storage.Job{
		ID:        uuid.Must(uuid.NewV7()),
		Task:      "test-task",
		Args:      []byte(`{"n":1}`),
		Queue:     "default",
		CreatedAt: base,
	}
	for _, o := range opts {
		o(j)
	}
	if j.State == "" {
		j.State = states.NameEnqueued
		j.StateData = mustMarshal(states.Enqueued{Queue: j.Queue, EnqueuedAt: j.CreatedAt, Reason: "created"})
	}
	return j
}

func mustMarshal(s states.State) []byte {
	b, err := states.Marshal(s)
	if err != nil {
		panic(err)
	}
	return b
}

func create(t *testing.T, s storage.Store, jobs ...*storage.Job) []uuid.UUID {
	t.Helper()
	ids, err := s.Create(ctx(t), &storage.CreateParams{Jobs: jobs, Now: base})
	require.NoError(t, err)
	require.Len(t, ids, len(jobs))
	return ids
}

func fetch(t *testing.T, s storage.Store, limit int, queues ...string) []*storage.Job {
	t.Helper()
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	jobs, err := s.Fetch(ctx(t), &storage.FetchParams{Queues: queues, Limit: limit, Owner: owner, LeaseFor: time.Minute, Now: base})
	require.NoError(t, err)
	return jobs
}

func get(t *testing.T, s storage.Store, id uuid.UUID) *storage.Job {
	t.Helper()
	j, err := s.Get(ctx(t), id)
	require.NoError(t, err)
	return j
}

func transition(t *testing.T, s storage.Store, allOrNothing bool, ts ...storage.Transition) []error {
	t.Helper()
	errs, err := s.Transition(ctx(t), &storage.TransitionParams{Transitions: ts, AllOrNothing: allOrNothing, Now: base.Add(time.Second)})
	require.NoError(t, err)
	require.Len(t, errs, len(ts))
	return errs
}

func succeed(id uuid.UUID, token int64) storage.Transition {
	return storage.Transition{
		ID: id, From: []states.Name{states.NameProcessing}, Token: token,
		To: states.NameSucceeded, Data: mustMarshal(states.Succeeded{SucceededAt: base, Result: []byte(`"ok"`)}),
	}
}

func requeue(id uuid.UUID, from ...states.Name) storage.Transition {
	return storage.Transition{
		ID: id, From: from, To: states.NameEnqueued,
		Data: mustMarshal(states.Enqueued{Queue: "default", EnqueuedAt: base, Reason: "requeued"}), Reason: "requeued",
	}
}

func ids(jobs []*storage.Job) []uuid.UUID {
	out := make([]uuid.UUID, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func historyNames(j *storage.Job) []states.Name {
	out := make([]states.Name, len(j.History))
	for i, h := range j.History {
		out[i] = h.State
	}
	return out
}
