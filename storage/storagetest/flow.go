package storagetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func awaiting(parent uuid.UUID, on states.Condition) jobOpt {
	return func(j *storage.Job) {
		j.State = states.NameAwaiting
		j.StateData = mustMarshal(states.Awaiting{ParentID: parent.String(), On: on})
		j.ParentID = parent
	}
}

// argsFromResult marks an Awaiting job's args as its parent's result.
func argsFromResult(j *storage.Job) {
	st, err := states.Unmarshal(states.NameAwaiting, j.StateData)
	if err != nil {
		panic(err)
	}
	a := st.(states.Awaiting)
	a.ArgsFromResult = true
	j.StateData = mustMarshal(a)
}

func inBatch(id uuid.UUID) jobOpt                                     { return func(j *storage.Job) { j.BatchID = id } }
func uniqueKey(key string) jobOpt                                     { return func(j *storage.Job) { j.UniqueKey = key } }
func uniqueUntil(t time.Time) jobOpt                                  { return func(j *storage.Job) { j.UniqueUntil = t } }
func newID() uuid.UUID                                                { return uuid.Must(uuid.NewV7()) }
func stateOf(t *testing.T, s storage.Store, id uuid.UUID) states.Name { return get(t, s, id).State }

// finish runs the Enqueued job id to the given final state. Other jobs it
// fetches on the way go back to their queue.
func finish(t *testing.T, s storage.Store, id uuid.UUID, to states.State) {
	t.Helper()
	found := false
	for _, f := range fetch(t, s, 100, "default", "other") {
		tr := requeue(f.ID, states.NameProcessing)
		tr.Queue = f.Queue
		if f.ID == id {
			found = true
			tr = storage.Transition{ID: id, From: []states.Name{states.NameProcessing}, Token: f.LeaseToken, To: to.Name(), Data: mustMarshal(to)}
		}
		require.Equal(t, []error{nil}, transition(t, s, false, tr))
	}
	require.True(t, found, "job %s was not fetchable", id)
}

// together runs fns at once and fails t if any returns an error.
func together(t *testing.T, fns ...func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

// succeedLeased completes a fetched job, reporting any failure as an error,
// for use off the test goroutine.
func succeedLeased(t *testing.T, s storage.Store, j *storage.Job) func() error {
	c := ctx(t)
	return func() error {
		errs, err := s.Transition(c, &storage.TransitionParams{Transitions: []storage.Transition{succeed(j.ID, j.LeaseToken)}, Now: base})
		return errors.Join(append(errs, err)...)
	}
}

var (
	succeeded = states.Succeeded{SucceededAt: base}
	failed    = states.Failed{FailedAt: base, ErrorMessage: "boom"}
)

func testUnique(t *testing.T, newStore NewStore) {
	t.Run("CreateReturnsTheHolderOfAHeldKey", func(t *testing.T) {
		s := newStore(t)
		first := newJob(t, uniqueKey("report:42"))
		require.Equal(t, []uuid.UUID{first.ID}, create(t, s, first))
		dup, other := newJob(t, uniqueKey("report:42")), newJob(t, uniqueKey("report:43"))
		require.Equal(t, []uuid.UUID{first.ID, other.ID}, create(t, s, dup, other))
		_, err := s.Get(ctx(t), dup.ID)
		require.ErrorIs(t, err, storage.ErrNotFound, "the duplicate was stored")
	})

	t.Run("OneCallDeduplicatesItsOwnJobs", func(t *testing.T) {
		s := newStore(t)
		a, b := newJob(t, uniqueKey("k")), newJob(t, uniqueKey("k"))
		require.Equal(t, []uuid.UUID{a.ID, a.ID}, create(t, s, a, b))
		require.Len(t, fetch(t, s, 10), 1)
	})

	t.Run("KeyIsReleasedWhenTheHolderFinishes", func(t *testing.T) {
		s := newStore(t)
		first := newJob(t, uniqueKey("k"))
		create(t, s, first)
		finish(t, s, first.ID, succeeded)
		next := newJob(t, uniqueKey("k"))
		require.Equal(t, []uuid.UUID{next.ID}, create(t, s, next))
	})

	t.Run("KeyWithUntilIsHeldAfterFinishingUntilThen", func(t *testing.T) {
		s := newStore(t)
		first := newJob(t, uniqueKey("k"), uniqueUntil(base.Add(time.Hour)))
		create(t, s, first)
		finish(t, s, first.ID, succeeded)
		ids, err := s.Create(ctx(t), &storage.CreateParams{Jobs: []*storage.Job{newJob(t, uniqueKey("k"))}, Now: base.Add(59 * time.Minute)})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{first.ID}, ids)
		later := newJob(t, uniqueKey("k"))
		ids, err = s.Create(ctx(t), &storage.CreateParams{Jobs: []*storage.Job{later}, Now: base.Add(61 * time.Minute)})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{later.ID}, ids)
	})

	t.Run("ConcurrentCreatesStoreOneJobPerKey", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		results := make([]uuid.UUID, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids, err := s.Create(ctx(t), &storage.CreateParams{Jobs: []*storage.Job{newJob(t, uniqueKey("race"))}})
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = ids[0]
			}()
		}
		wg.Wait()
		for _, id := range results {
			require.Equal(t, results[0], id)
		}
		require.Len(t, fetch(t, s, 10), 1)
	})
}

func testContinuations(t *testing.T, newStore NewStore) {
	tests := []struct {
		name   string
		on     states.Condition
		parent states.State
		want   states.Name
	}{
		{"OnSuccessAfterSuccessIsEnqueued", states.OnSuccess, succeeded, states.NameEnqueued},
		{"DefaultConditionIsOnSuccess", "", succeeded, states.NameEnqueued},
		{"OnSuccessAfterFailureIsDeleted", states.OnSuccess, failed, states.NameDeleted},
		{"OnFailureAfterFailureIsEnqueued", states.OnFailure, failed, states.NameEnqueued},
		{"OnFailureAfterSuccessIsDeleted", states.OnFailure, succeeded, states.NameDeleted},
		{"OnFinishAfterDeletionIsEnqueued", states.OnFinish, states.Deleted{DeletedAt: base}, states.NameEnqueued},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			parent := newJob(t)
			child := newJob(t, awaiting(parent.ID, tt.on))
			create(t, s, parent, child)
			require.Equal(t, states.NameAwaiting, stateOf(t, s, child.ID))
			finish(t, s, parent.ID, tt.parent)
			require.Equal(t, tt.want, stateOf(t, s, child.ID))
			got := get(t, s, child.ID)
			require.Equal(t, []states.Name{states.NameAwaiting, tt.want}, historyNames(got))
			require.NotEmpty(t, got.History[1].Reason, "the store says why it moved the continuation")
		})
	}

	t.Run("AddedAfterParentFinishedResolvesAtOnce", func(t *testing.T) {
		s := newStore(t)
		parent := newJob(t)
		create(t, s, parent)
		finish(t, s, parent.ID, succeeded)
		child := newJob(t, awaiting(parent.ID, states.OnSuccess))
		create(t, s, child)
		require.Equal(t, states.NameEnqueued, stateOf(t, s, child.ID))
		require.Len(t, fetch(t, s, 10), 1)
	})

	t.Run("ArgsFromResult", func(t *testing.T) { testArgsFromResult(t, newStore) })

	t.Run("UnknownParentIsNotFoundAndStoresNothing", func(t *testing.T) {
		s := newStore(t)
		child := newJob(t, awaiting(newID(), states.OnSuccess))
		_, err := s.Create(ctx(t), &storage.CreateParams{Jobs: []*storage.Job{child}})
		require.ErrorIs(t, err, storage.ErrNotFound)
		_, err = s.Get(ctx(t), child.ID)
		require.ErrorIs(t, err, storage.ErrNotFound)
	})

	t.Run("DeletedContinuationResolvesItsOwnChildren", func(t *testing.T) {
		s := newStore(t)
		a := newJob(t)
		b := newJob(t, awaiting(a.ID, states.OnSuccess))
		c := newJob(t, awaiting(b.ID, states.OnFailure))
		d := newJob(t, awaiting(b.ID, states.OnSuccess))
		create(t, s, a, b, c, d)
		finish(t, s, a.ID, failed)
		require.Equal(t, states.NameDeleted, stateOf(t, s, b.ID))
		require.Equal(t, states.NameEnqueued, stateOf(t, s, c.ID))
		require.Equal(t, states.NameDeleted, stateOf(t, s, d.ID))
	})

	// A continuation created while its parent finishes must neither miss
	// the parent finishing nor wait for it forever.
	for _, inBatchOf := range []bool{false, true} {
		name := map[bool]string{false: "Job", true: "Batch"}[inBatchOf]
		t.Run("CreatedWhileItsParentFinishesIsResolved/"+name, func(t *testing.T) {
			s := newStore(t)
			c := ctx(t)
			for range 20 {
				bid := newID()
				parent := newJob(t, inBatch(bid))
				create(t, s, parent)
				f := fetch(t, s, 1)
				require.Len(t, f, 1)
				pid := map[bool]uuid.UUID{false: parent.ID, true: bid}[inBatchOf]
				child := newJob(t, awaiting(pid, states.OnSuccess), argsFromResult, inQueue("other"))
				together(t, succeedLeased(t, s, f[0]), func() error {
					_, err := s.Create(c, &storage.CreateParams{Jobs: []*storage.Job{child}, Now: base})
					return err
				})
				got := get(t, s, child.ID)
				require.Equal(t, states.NameEnqueued, got.State)
				wantArgs := map[bool]string{false: `"ok"`, true: string(child.Args)}[inBatchOf] // a job's result; a batch has none
				require.Equal(t, wantArgs, string(got.Args))
			}
		})
	}

	t.Run("RetentionAppliesToDeletedContinuations", func(t *testing.T) {
		s := newStore(t)
		a := newJob(t)
		b := newJob(t, awaiting(a.ID, states.OnSuccess))
		create(t, s, a, b)
		f := fetch(t, s, 1)[0]
		_, err := s.Transition(ctx(t), &storage.TransitionParams{Now: base, Retention: time.Hour, Transitions: []storage.Transition{{
			ID: f.ID, Token: f.LeaseToken, To: states.NameFailed, Data: mustMarshal(failed),
		}}})
		require.NoError(t, err)
		got := get(t, s, b.ID)
		require.Equal(t, states.NameDeleted, got.State)
		require.True(t, base.Add(time.Hour).Equal(got.ExpireAt), "expire at %v", got.ExpireAt)
	})
}

// testArgsFromResult checks that a continuation marked ArgsFromResult gets
// its parent's result as its args, byte for byte, when it is resolved after
// its parent succeeded, and keeps its args otherwise.
func testArgsFromResult(t *testing.T, newStore NewStore) {
	results := []struct {
		name   string
		result []byte
	}{
		{"CompactJSON", []byte(`{"a":[1,2.50,"x"],"latency":3,"duration":4,"reason":"r"}`)},
		{"JSONString", []byte(`"a\"b\\c"`)},
		{"JSONNumber", []byte(`12345678901234567890`)},
		{"JSONWithSpaces", []byte(`{ "a": 1 }`)},
		{"JSONWithEscapedByOthers", []byte(`"é<&>"`)},
		{"Binary", []byte("\x00\x01\x1e\x1f\xff{\"queue\":")},
		{"Long", []byte(`"` + strings.Repeat("0123456789", 60) + `"`)},
		{"LongBinary", append(bytes.Repeat([]byte{0, 0xfe}, 200), 1)},
		{"Empty", nil},
	}
	for _, tt := range results {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			done := states.Succeeded{SucceededAt: base, Result: tt.result, Reason: `says ,"latency":1`}
			parent := newJob(t)
			atFinish := newJob(t, awaiting(parent.ID, states.OnSuccess), argsFromResult, inQueue("other"))
			create(t, s, parent, atFinish)
			finish(t, s, parent.ID, done)
			atCreate := newJob(t, awaiting(parent.ID, states.OnFinish), argsFromResult, inQueue("other"))
			create(t, s, atCreate)
			want := map[uuid.UUID]bool{atFinish.ID: true, atCreate.ID: true}
			for _, id := range []uuid.UUID{atFinish.ID, atCreate.ID} {
				got := get(t, s, id)
				require.Equal(t, states.NameEnqueued, got.State)
				require.Equal(t, string(tt.result), string(got.Args), "args of the continuation read by Get")
			}
			fetched := fetch(t, s, 10, "other")
			require.Len(t, fetched, 2)
			for _, f := range fetched {
				require.True(t, want[f.ID], "fetched %s", f.ID)
				require.Equal(t, string(tt.result), string(f.Args), "args of the continuation fetched")
			}
		})
	}

	t.Run("ParentThatDidNotSucceedLeavesTheArgs", func(t *testing.T) {
		tests := []struct {
			name   string
			on     states.Condition
			parent states.State
			want   states.Name
		}{
			{"FailedOnFinish", states.OnFinish, failed, states.NameEnqueued},
			{"FailedOnFailure", states.OnFailure, failed, states.NameEnqueued},
			{"FailedOnSuccess", states.OnSuccess, failed, states.NameDeleted},
			{"DeletedOnFinish", states.OnFinish, states.Deleted{DeletedAt: base}, states.NameEnqueued},
			{"DeletedOnSuccess", states.OnSuccess, states.Deleted{DeletedAt: base}, states.NameDeleted},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := newStore(t)
				parent := newJob(t)
				atFinish := newJob(t, awaiting(parent.ID, tt.on), argsFromResult)
				create(t, s, parent, atFinish)
				finish(t, s, parent.ID, tt.parent)
				atCreate := newJob(t, awaiting(parent.ID, tt.on), argsFromResult)
				create(t, s, atCreate)
				for _, j := range []*storage.Job{atFinish, atCreate} {
					got := get(t, s, j.ID)
					require.Equal(t, tt.want, got.State)
					require.Equal(t, string(j.Args), string(got.Args))
				}
			})
		}
	})

	t.Run("DeletedContinuationLeavesTheArgsOfItsOwn", func(t *testing.T) {
		s := newStore(t)
		a := newJob(t)
		b := newJob(t, awaiting(a.ID, states.OnSuccess), argsFromResult)
		c := newJob(t, awaiting(b.ID, states.OnFailure), argsFromResult)
		create(t, s, a, b, c)
		finish(t, s, a.ID, failed)
		require.Equal(t, states.NameDeleted, stateOf(t, s, b.ID))
		got := get(t, s, c.ID)
		require.Equal(t, states.NameEnqueued, got.State)
		require.Equal(t, string(c.Args), string(got.Args))
	})

	t.Run("WithoutTheMarkTheArgsStay", func(t *testing.T) {
		s := newStore(t)
		parent := newJob(t)
		child := newJob(t, awaiting(parent.ID, states.OnSuccess))
		create(t, s, parent, child)
		finish(t, s, parent.ID, states.Succeeded{SucceededAt: base, Result: []byte(`"result"`)})
		got := get(t, s, child.ID)
		require.Equal(t, states.NameEnqueued, got.State)
		require.Equal(t, string(child.Args), string(got.Args))
	})

	t.Run("BatchContinuationKeepsItsArgs", func(t *testing.T) {
		s := newStore(t)
		if _, ok := s.(storage.Batches); !ok {
			t.Skip("store does not implement storage.Batches")
		}
		bid := newID()
		a := newJob(t, inBatch(bid))
		plain := newJob(t, awaiting(bid, states.OnSuccess), inQueue("other"))
		marked := newJob(t, awaiting(bid, states.OnSuccess), argsFromResult, inQueue("other"))
		create(t, s, a, plain, marked)
		finish(t, s, a.ID, states.Succeeded{SucceededAt: base, Result: []byte(`"result"`)})
		for _, j := range []*storage.Job{plain, marked} {
			got := get(t, s, j.ID)
			require.Equal(t, states.NameEnqueued, got.State)
			require.Equal(t, string(j.Args), string(got.Args))
		}
	})
}

func testBatches(t *testing.T, newStore NewStore) {
	t.Run("ContinuationRunsOnceWhenEveryJobHasFinished", func(t *testing.T) {
		s := newStore(t)
		bid := newID()
		a, b := newJob(t, inBatch(bid)), newJob(t, inBatch(bid))
		onSuccess, onFinish := newJob(t, awaiting(bid, states.OnSuccess), inQueue("other")), newJob(t, awaiting(bid, states.OnFinish), inQueue("other"))
		create(t, s, a, b, onSuccess, onFinish) // one call: the batch and its continuations
		finish(t, s, a.ID, succeeded)
		require.Equal(t, states.NameAwaiting, stateOf(t, s, onFinish.ID), "resolved before the batch finished")
		finish(t, s, b.ID, failed)
		require.Equal(t, states.NameDeleted, stateOf(t, s, onSuccess.ID), "not every job succeeded")
		require.Equal(t, states.NameEnqueued, stateOf(t, s, onFinish.ID))
	})

	t.Run("ChangesOfOneCallMeetTheBatchInOrder", func(t *testing.T) {
		// One call finishes a batch's first job, deletes the batch's
		// continuation while it still awaits, then finishes the last job:
		// each change meets the state the ones before it leave.
		s := newStore(t)
		bid := newID()
		c := newJob(t, awaiting(bid, states.OnSuccess), inQueue("other"))
		create(t, s, newJob(t, inBatch(bid)), newJob(t, inBatch(bid)), c)
		f := fetch(t, s, 2)
		require.Len(t, f, 2)
		done := func(j *storage.Job) storage.Transition {
			return storage.Transition{ID: j.ID, From: []states.Name{states.NameProcessing}, Token: j.LeaseToken, To: states.NameSucceeded, Data: mustMarshal(succeeded)}
		}
		del := storage.Transition{ID: c.ID, From: []states.Name{states.NameAwaiting}, To: states.NameDeleted, Data: mustMarshal(states.Deleted{DeletedAt: time.Now()})}
		require.Equal(t, []error{nil, nil, nil}, transition(t, s, false, done(f[0]), del, done(f[1])))
		require.Equal(t, states.NameDeleted, stateOf(t, s, c.ID), "deleted while the batch ran; the batch's end found nothing to enqueue")
	})

	t.Run("LastJobsFinishingAtOnceResolveTheContinuation", func(t *testing.T) {
		s := newStore(t)
		for range 20 {
			bid := newID()
			c := newJob(t, awaiting(bid, states.OnSuccess), inQueue("other"))
			create(t, s, newJob(t, inBatch(bid)), newJob(t, inBatch(bid)), c)
			f := fetch(t, s, 2)
			require.Len(t, f, 2)
			together(t, succeedLeased(t, s, f[0]), succeedLeased(t, s, f[1]))
			require.Equal(t, states.NameEnqueued, stateOf(t, s, c.ID))
		}
	})

	t.Run("GetReturnsBatchParentAndUniqueKey", func(t *testing.T) {
		s := newStore(t)
		bid := newID()
		a := newJob(t, inBatch(bid), uniqueKey("k"), uniqueUntil(base.Add(time.Hour)))
		b := newJob(t, awaiting(a.ID, states.OnSuccess))
		create(t, s, a, b)
		got := get(t, s, a.ID)
		require.Equal(t, bid, got.BatchID)
		require.Equal(t, "k", got.UniqueKey)
		require.True(t, base.Add(time.Hour).Equal(got.UniqueUntil), "unique until %v", got.UniqueUntil)
		require.Equal(t, a.ID, get(t, s, b.ID).ParentID)
	})

	t.Run("BatchProgressCountsByState", func(t *testing.T) {
		s := newStore(t)
		bs, ok := s.(storage.Batches)
		if !ok {
			t.Skip("store does not implement storage.Batches")
		}
		bid := newID()
		a, b, c := newJob(t, inBatch(bid)), newJob(t, inBatch(bid)), newJob(t, inBatch(bid))
		create(t, s, a, b, c, newJob(t))
		finish(t, s, a.ID, succeeded)
		got, err := bs.BatchProgress(ctx(t), bid)
		require.NoError(t, err)
		require.Equal(t, int64(1), got[states.NameSucceeded])
		require.Equal(t, int64(2), got[states.NameEnqueued])
		_, err = bs.BatchProgress(ctx(t), newID())
		require.ErrorIs(t, err, storage.ErrNotFound)
	})

	t.Run("ParentHeldBackByItsUniqueKeyIsNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, ok := s.(storage.UniqueKeys); !ok {
			t.Skip("store does not implement storage.UniqueKeys")
		}
		holder := newJob(t, uniqueKey("k"))
		create(t, s, holder)
		bid := newID()
		tests := []struct {
			name   string
			parent *storage.Job // created in the same call as its continuation, its key held
			await  uuid.UUID
		}{
			{"Batch", newJob(t, inBatch(bid), uniqueKey("k")), bid},
			{"Job", newJob(t, uniqueKey("k")), uuid.Nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				await := tt.await
				if await == uuid.Nil {
					await = tt.parent.ID
				}
				c := newJob(t, awaiting(await, states.OnSuccess))
				_, err := s.Create(ctx(t), &storage.CreateParams{Jobs: []*storage.Job{tt.parent, c}})
				require.ErrorIs(t, err, storage.ErrNotFound, "a continuation of a parent that was not stored would wait for ever")
				_, err = s.Get(ctx(t), c.ID)
				require.ErrorIs(t, err, storage.ErrNotFound, "the continuation was stored")
			})
		}
	})

	// A batch is its stored jobs: one whose every job was held back by its
	// unique key does not exist, in the call that held them back or later;
	// one with some stored finishes when they have.
	t.Run("BatchOfJobsHeldBackByTheirUniqueKeys", func(t *testing.T) {
		s := newStore(t)
		if _, ok := s.(storage.UniqueKeys); !ok {
			t.Skip("store does not implement storage.UniqueKeys")
		}
		bs := s.(storage.Batches)
		holder := newJob(t, uniqueKey("k"))
		create(t, s, holder)
		for _, tt := range []struct {
			name   string
			stored int // jobs of the batch stored, after one held back
		}{{"Every", 0}, {"Some", 2}} {
			t.Run(tt.name, func(t *testing.T) {
				bid := newID()
				jobs := []*storage.Job{newJob(t, inBatch(bid), uniqueKey("k"))}
				for range tt.stored {
					jobs = append(jobs, newJob(t, inBatch(bid)))
				}
				ids := create(t, s, jobs...)
				require.Equal(t, holder.ID, ids[0], "the held-back job stands for its holder")
				c := newJob(t, awaiting(bid, states.OnSuccess))
				_, err := s.Create(ctx(t), &storage.CreateParams{Jobs: []*storage.Job{c}})
				progress, perr := bs.BatchProgress(ctx(t), bid)
				if tt.stored == 0 {
					require.ErrorIs(t, err, storage.ErrNotFound, "a continuation of a batch of no job would wait for ever")
					require.ErrorIs(t, perr, storage.ErrNotFound, "a batch of no job has progress")
					if bl, ok := s.(storage.BatchLister); ok {
						listed, err := bl.ListBatches(ctx(t), &storage.BatchListParams{})
						require.NoError(t, err)
						require.NotContains(t, listed, bid)
					}
					return
				}
				require.NoError(t, err)
				require.NoError(t, perr)
				require.Equal(t, map[states.Name]int64{states.NameEnqueued: int64(tt.stored)}, progress)
				for _, j := range jobs[1:] {
					require.Equal(t, states.NameAwaiting, stateOf(t, s, c.ID))
					finish(t, s, j.ID, succeeded)
				}
				require.Equal(t, states.NameEnqueued, stateOf(t, s, c.ID), "the batch finished with its stored jobs")
			})
		}
	})

	t.Run("ContinuationOfFinishedBatchResolvesAtOnce", func(t *testing.T) {
		s := newStore(t)
		bid := newID()
		a := newJob(t, inBatch(bid))
		create(t, s, a)
		finish(t, s, a.ID, succeeded)
		c := newJob(t, awaiting(bid, states.OnSuccess))
		create(t, s, c)
		require.Equal(t, states.NameEnqueued, stateOf(t, s, c.ID))
	})
}

// recurringDef is a recurring definition of the test task.
func recurringDef(id, spec string, next time.Time) *storage.RecurringJob {
	return &storage.RecurringJob{ID: id, Task: "test-task", Args: []byte(`{}`), Spec: spec, Queue: "default", Misfire: storage.MisfireOnce, NextRun: next, CreatedAt: base, UpdatedAt: base}
}

func testRecurring(t *testing.T, newStore NewStore) {
	def := recurringDef
	get := func(t *testing.T, r storage.Recurring, id string) *storage.RecurringJob {
		t.Helper()
		d, err := r.GetRecurring(ctx(t), id)
		require.NoError(t, err)
		return d
	}

	t.Run("UpsertKeepsTheScheduleWhenTheSpecIsUnchanged", func(t *testing.T) {
		r, ok := newStore(t).(storage.Recurring)
		if !ok {
			t.Skip("store does not implement storage.Recurring")
		}
		require.NoError(t, r.UpsertRecurring(ctx(t), def("digest", "0 9 * * *", base.Add(time.Hour))))
		require.NoError(t, r.UpsertRecurring(ctx(t), def("digest", "0 9 * * *", base.Add(2*time.Hour))))
		require.True(t, base.Add(time.Hour).Equal(get(t, r, "digest").NextRun))
		require.NoError(t, r.UpsertRecurring(ctx(t), def("digest", "0 10 * * *", base.Add(3*time.Hour))))
		got := get(t, r, "digest")
		require.True(t, base.Add(3*time.Hour).Equal(got.NextRun))
		require.Equal(t, "0 10 * * *", got.Spec)
	})

	// A definition carries the settings of the jobs it spawns.
	t.Run("UpsertStoresTheSpawnedJobsSettings", func(t *testing.T) {
		r, ok := newStore(t).(storage.Recurring)
		if !ok {
			t.Skip("store does not implement storage.Recurring")
		}
		d := def("report", "@daily", base.Add(time.Hour))
		d.Priority = 7
		d.Params = map[string]json.RawMessage{"tenant": json.RawMessage(`"acme"`), "taskflow.timeout": json.RawMessage(`1000`)}
		d.UniqueKey, d.UniqueFor = "report:acme", 90*time.Minute
		require.NoError(t, r.UpsertRecurring(ctx(t), d))
		got := get(t, r, "report")
		require.Equal(t, 7, got.Priority)
		require.Len(t, got.Params, 2)
		require.JSONEq(t, `"acme"`, string(got.Params["tenant"]))
		require.JSONEq(t, `1000`, string(got.Params["taskflow.timeout"]))
		require.Equal(t, "report:acme", got.UniqueKey)
		require.Equal(t, 90*time.Minute, got.UniqueFor)

		d.Params, d.UniqueKey, d.UniqueFor = nil, "", 0 // declared again without them
		require.NoError(t, r.UpsertRecurring(ctx(t), d))
		got = get(t, r, "report")
		require.Empty(t, got.Params)
		require.Empty(t, got.UniqueKey)
		require.Zero(t, got.UniqueFor)
	})

	// A run triggered by hand creates its job apart, then records the run
	// and its job, the schedule unchanged.
	t.Run("FireWithoutJobsRecordsTheLastJob", func(t *testing.T) {
		s := newStore(t)
		r, ok := s.(storage.Recurring)
		if !ok {
			t.Skip("store does not implement storage.Recurring")
		}
		require.NoError(t, r.UpsertRecurring(ctx(t), def("manual", "0 9 * * *", base.Add(time.Hour))))
		j := newJob(t)
		create(t, s, j)
		require.NoError(t, r.FireRecurring(ctx(t), &storage.FireParams{ID: "manual", ExpectedNext: base.Add(time.Hour), NextRun: base.Add(time.Hour),
			LastRun: base, LastJobID: j.ID, Now: base}))
		got := get(t, r, "manual")
		require.Equal(t, j.ID, got.LastJobID)
		require.True(t, base.Equal(got.LastRun), "last run %v", got.LastRun)
		require.True(t, base.Add(time.Hour).Equal(got.NextRun), "the schedule is kept")
	})

	t.Run("EachOccurrenceFiresExactlyOnce", func(t *testing.T) {
		s := newStore(t)
		r, ok := s.(storage.Recurring)
		if !ok {
			t.Skip("store does not implement storage.Recurring")
		}
		require.NoError(t, r.UpsertRecurring(ctx(t), def("tick", "@every 1m", base)))
		due, next, err := r.DueRecurring(ctx(t), base, 10)
		require.NoError(t, err)
		require.Len(t, due, 1)
		require.True(t, next.IsZero())
		var wg sync.WaitGroup
		var mu sync.Mutex
		fired := 0
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := r.FireRecurring(ctx(t), &storage.FireParams{ID: "tick", ExpectedNext: base, NextRun: base.Add(time.Minute), LastRun: base, Jobs: []*storage.Job{newJob(t)}})
				if err == nil {
					mu.Lock()
					fired++
					mu.Unlock()
					return
				}
				require.ErrorIs(t, err, storage.ErrStateConflict)
			}()
		}
		wg.Wait()
		require.Equal(t, 1, fired)
		require.Len(t, fetch(t, s, 10), 1, "one job per occurrence")
		got := get(t, r, "tick")
		require.True(t, base.Add(time.Minute).Equal(got.NextRun))
		require.True(t, base.Equal(got.LastRun))
		require.NotEqual(t, uuid.Nil, got.LastJobID)

		due, next, err = r.DueRecurring(ctx(t), base, 10)
		require.NoError(t, err)
		require.Empty(t, due)
		require.True(t, base.Add(time.Minute).Equal(next))
	})

	t.Run("PausedIsNeitherDueNorFired", func(t *testing.T) {
		r, ok := newStore(t).(storage.Recurring)
		if !ok {
			t.Skip("store does not implement storage.Recurring")
		}
		require.NoError(t, r.UpsertRecurring(ctx(t), def("p", "@hourly", base)))
		require.NoError(t, r.SetRecurringPaused(ctx(t), "p", true, time.Time{}))
		due, _, err := r.DueRecurring(ctx(t), base.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, due)
		err = r.FireRecurring(ctx(t), &storage.FireParams{ID: "p", ExpectedNext: base, NextRun: base.Add(time.Hour)})
		require.ErrorIs(t, err, storage.ErrStateConflict)
		require.NoError(t, r.SetRecurringPaused(ctx(t), "p", false, base.Add(2*time.Hour)))
		got := get(t, r, "p")
		require.False(t, got.Paused)
		require.True(t, base.Add(2*time.Hour).Equal(got.NextRun))
	})

	t.Run("RemoveAndList", func(t *testing.T) {
		r, ok := newStore(t).(storage.Recurring)
		if !ok {
			t.Skip("store does not implement storage.Recurring")
		}
		require.NoError(t, r.UpsertRecurring(ctx(t), def("b", "@daily", base)))
		require.NoError(t, r.UpsertRecurring(ctx(t), def("a", "@daily", base)))
		list, err := r.ListRecurring(ctx(t))
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, "a", list[0].ID)
		require.NoError(t, r.RemoveRecurring(ctx(t), "a"))
		require.ErrorIs(t, r.RemoveRecurring(ctx(t), "a"), storage.ErrNotFound)
		_, err = r.GetRecurring(ctx(t), "a")
		require.ErrorIs(t, err, storage.ErrNotFound)
	})
}

func testLocker(t *testing.T, newStore NewStore) {
	t.Run("LockIsExclusiveUntilUnlockedOrExpired", func(t *testing.T) {
		l, ok := newStore(t).(storage.Locker)
		if !ok {
			t.Skip("store does not implement storage.Locker")
		}
		got, err := l.TryLock(ctx(t), "k", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, got)
		got, err = l.TryLock(ctx(t), "k", "b", time.Minute)
		require.NoError(t, err)
		require.False(t, got, "two owners hold one lock")
		got, err = l.TryLock(ctx(t), "k", "a", time.Minute)
		require.NoError(t, err)
		require.True(t, got, "the owner cannot extend its lock")
		require.NoError(t, l.Unlock(ctx(t), "k", "b"))
		got, _ = l.TryLock(ctx(t), "k", "b", time.Minute)
		require.False(t, got, "a non-owner released the lock")
		require.NoError(t, l.Unlock(ctx(t), "k", "a"))
		got, _ = l.TryLock(ctx(t), "k", "b", 50*time.Millisecond)
		require.True(t, got)
		time.Sleep(100 * time.Millisecond)
		got, _ = l.TryLock(ctx(t), "k", "c", time.Minute)
		require.True(t, got, "an expired lock is still held")
	})
}

func testWorkers(t *testing.T, newStore NewStore) {
	t.Run("DeadWorkersJobsAreEnqueuedAtOnce", func(t *testing.T) {
		s := newStore(t)
		srv, ok := s.(storage.Workers)
		if !ok {
			t.Skip("store does not implement storage.Workers")
		}
		create(t, s, newJob(t))
		f := fetch(t, s, 1)[0]
		_, err := s.ExtendLeases(ctx(t), &storage.ExtendParams{Owner: owner, Jobs: map[uuid.UUID]int64{f.ID: f.LeaseToken}, Until: base.Add(time.Hour),
			Worker: &storage.WorkerInfo{ID: owner, Host: "h", PID: 1, Queues: []string{"default"}, Concurrency: 4, StartedAt: base,
				Tasks: []string{"mail.send", "report"}}})
		require.NoError(t, err)
		list, err := srv.ListWorkers(ctx(t))
		require.NoError(t, err)
		require.Len(t, list, 1)
		require.Equal(t, owner, list[0].ID)
		require.Equal(t, []string{"default"}, list[0].Queues)
		require.Equal(t, []string{"mail.send", "report"}, list[0].Tasks, "the worker's tasks")
		require.False(t, list[0].HeartbeatAt.IsZero())

		dead, err := srv.RemoveDeadWorkers(ctx(t), time.Hour)
		require.NoError(t, err)
		require.Empty(t, dead, "a live worker was removed")

		time.Sleep(20 * time.Millisecond)
		dead, err = srv.RemoveDeadWorkers(ctx(t), 10*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, []string{owner}, dead)
		require.Equal(t, states.NameEnqueued, stateOf(t, s, f.ID), "the job of a dead server waits for its lease")
		require.Len(t, fetch(t, s, 1), 1)
		errs := transition(t, s, false, succeed(f.ID, f.LeaseToken))
		require.ErrorIs(t, errs[0], storage.ErrLeaseLost)

		require.NoError(t, srv.RemoveWorker(ctx(t), "nobody"))
		list, err = srv.ListWorkers(ctx(t))
		require.NoError(t, err)
		require.Empty(t, list)
	})
}
