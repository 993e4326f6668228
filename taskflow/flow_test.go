package taskflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

func TestRecurringFiresEachOccurrenceOnceAcrossWorkers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var mu sync.Mutex
	seen := map[string]int{}
	var lateness []time.Duration
	task, err := taskflow.RegisterTask(e.reg, "tick", func(ctx context.Context, _ struct{}) (int, error) {
		rj, _ := taskflow.JobFromContext(ctx)
		var id string
		var at time.Time
		if _, err := rj.Param("taskflow.recurring_id", &id); err != nil || id != "every-second" {
			return 0, fmt.Errorf("recurring id %q: %v", id, err)
		}
		if _, err := rj.Param("taskflow.recurring_at", &at); err != nil {
			return 0, err
		}
		mu.Lock()
		seen[at.Format(time.RFC3339Nano)]++
		lateness = append(lateness, time.Since(at))
		mu.Unlock()
		return 0, nil
	})
	require.NoError(t, err)
	require.NoError(t, task.On(e.client).AddRecurring(waitCtx(t), "every-second", "* * * * * *", struct{}{}))
	for range 3 {
		e.startWorker(t, taskflow.WorkerOptions{})
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) >= 3 }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for at, n := range seen {
		require.Equal(t, 1, n, "occurrence %s ran %d times", at, n)
	}
	for _, l := range lateness {
		require.Less(t, l, 900*time.Millisecond, "a second-level schedule fired late")
	}
}

func TestRecurringRegistration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		id      string
		spec    string
		opts    []taskflow.RecurringOption
		wantErr error
	}{
		{"Valid", "digest", "0 9 * * *", []taskflow.RecurringOption{taskflow.TimeZone("Europe/Berlin"), taskflow.Misfire("skip"), taskflow.Queue("mail")}, nil},
		{"Macro", "nightly", "@daily", nil, nil},
		{"BadCron", "x", "every day at nine", nil, taskflow.ErrInvalidOption},
		{"BadZone", "x", "@daily", []taskflow.RecurringOption{taskflow.TimeZone("Nowhere/Land")}, taskflow.ErrInvalidOption},
		{"BadMisfire", "x", "@daily", []taskflow.RecurringOption{taskflow.Misfire("sometimes")}, taskflow.ErrInvalidOption},
		{"EmptyID", "", "@daily", nil, taskflow.ErrInvalidOption},
		{"NegativeTimeout", "x", "@daily", []taskflow.RecurringOption{taskflow.Timeout(-time.Second)}, taskflow.ErrInvalidOption},
		{"EmptyUniqueKey", "x", "@daily", []taskflow.RecurringOption{taskflow.Unique("")}, taskflow.ErrInvalidOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			task, err := taskflow.RegisterTask(e.reg, "t", add)
			require.NoError(t, err)
			err = task.On(e.client).AddRecurring(waitCtx(t), tt.id, tt.spec, addArgs{1, 2}, tt.opts...)
			defs, lerr := e.client.RecurringJobs(waitCtx(t))
			require.NoError(t, lerr)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Empty(t, defs, "a rejected definition was stored")
				return
			}
			require.NoError(t, err)
			require.Len(t, defs, 1)
			require.Equal(t, tt.spec, defs[0].Spec)
			require.True(t, defs[0].NextRun.After(time.Now()))
		})
	}
}

func TestRecurringControl(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "t", add)
	require.NoError(t, err)
	b := task.On(e.client)
	ctx := waitCtx(t)
	require.NoError(t, b.AddRecurring(ctx, "r", "@hourly", addArgs{1, 2}))
	first, err := e.client.RecurringJob(ctx, "r")
	require.NoError(t, err)

	// Declaring it again (a restart) keeps the schedule.
	require.NoError(t, b.AddRecurring(ctx, "r", "@hourly", addArgs{1, 2}))
	again, err := e.client.RecurringJob(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, first.NextRun, again.NextRun)

	id, err := e.client.TriggerRecurring(ctx, "r")
	require.NoError(t, err)
	info, err := e.client.Job(ctx, id)
	require.NoError(t, err)
	require.Equal(t, states.NameEnqueued, info.State.Name())
	require.JSONEq(t, `"r"`, string(info.Params["taskflow.recurring_id"]))

	require.NoError(t, e.client.PauseRecurring(ctx, "r"))
	paused, _ := e.client.RecurringJob(ctx, "r")
	require.True(t, paused.Paused)
	require.NoError(t, e.client.ResumeRecurring(ctx, "r"))
	resumed, _ := e.client.RecurringJob(ctx, "r")
	require.False(t, resumed.Paused)

	require.NoError(t, e.client.RemoveRecurring(ctx, "r"))
	require.ErrorIs(t, e.client.RemoveRecurring(ctx, "r"), taskflow.ErrNotFound)
	_, err = e.client.TriggerRecurring(ctx, "r")
	require.ErrorIs(t, err, taskflow.ErrNotFound)
}

type order struct{ ID int }
type invoice struct {
	Order  int
	Amount int
}

func TestThenHandsTheResultOnTyped(t *testing.T) {
	t.Parallel()
	e := setup(t)
	price, err := taskflow.RegisterTask(e.reg, "price", func(_ context.Context, o order) (invoice, error) {
		return invoice{Order: o.ID, Amount: o.ID * 100}, nil
	})
	require.NoError(t, err)
	describe, err := taskflow.RegisterTask(e.reg, "describe", func(_ context.Context, in invoice) (string, error) {
		return fmt.Sprintf("order %d costs %d", in.Order, in.Amount), nil
	})
	require.NoError(t, err)
	shout, err := taskflow.RegisterTask(e.reg, "shout", func(_ context.Context, s string) (string, error) {
		return strings.ToUpper(s), nil
	})
	require.NoError(t, err)

	h1, err := price.On(e.client).Enqueue(waitCtx(t), order{ID: 7})
	require.NoError(t, err)
	h2, err := taskflow.Then(waitCtx(t), h1, describe)
	require.NoError(t, err)
	h3, err := taskflow.Then(waitCtx(t), h2, shout)
	require.NoError(t, err)
	info, err := h3.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, states.NameAwaiting, info.State.Name())

	e.startWorker(t, taskflow.WorkerOptions{})
	got, err := h3.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, "ORDER 7 COSTS 700", got)
}

func TestThenStoresNoArgsAndNoSecondParentID(t *testing.T) {
	t.Parallel()
	e := setup(t)
	double, err := taskflow.RegisterTask(e.reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	require.NoError(t, err)
	h1, err := double.On(e.client).Enqueue(waitCtx(t), 21)
	require.NoError(t, err)
	h2, err := taskflow.Then(waitCtx(t), h1, double)
	require.NoError(t, err)
	j, err := e.store.Get(waitCtx(t), h2.ID)
	require.NoError(t, err)
	require.Empty(t, j.Args, "args before the parent's result exists")
	require.Empty(t, j.Params, "the parent is the job's ParentID only")
	st, err := j.CurrentState()
	require.NoError(t, err)
	require.True(t, st.(states.Awaiting).ArgsFromResult)

	e.startWorker(t, taskflow.WorkerOptions{})
	got, err := h2.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 84, got)
	j, err = e.store.Get(waitCtx(t), h2.ID)
	require.NoError(t, err)
	require.JSONEq(t, `42`, string(j.Args), "the store copied the parent's result")
}

// TestThenStoredByAnEarlierReleaseStillRuns: a continuation that names its
// parent in the parameter taskflow.args_from, with no args and no
// ArgsFromResult mark, reads its args from its parent's result.
func TestThenStoredByAnEarlierReleaseStillRuns(t *testing.T) {
	t.Parallel()
	e := setup(t)
	double, err := taskflow.RegisterTask(e.reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	require.NoError(t, err)
	h1, err := double.On(e.client).Enqueue(waitCtx(t), 21)
	require.NoError(t, err)
	data, err := states.Marshal(states.Awaiting{ParentID: h1.ID.String(), On: states.OnSuccess})
	require.NoError(t, err)
	old := &storage.Job{
		ID: newID(t), Task: "double", Queue: taskflow.DefaultQueue, State: states.NameAwaiting, StateData: data,
		CreatedAt: time.Now(), ParentID: h1.ID,
		Params: map[string]json.RawMessage{"taskflow.args_from": json.RawMessage(`"` + h1.ID.String() + `"`)},
	}
	_, err = e.store.Create(waitCtx(t), &storage.CreateParams{Jobs: []*storage.Job{old}})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	got, err := double.On(e.client).Handle(old.ID).Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 84, got)
}

func TestThenTakesOnlyOnSuccess(t *testing.T) {
	t.Parallel()
	e := setup(t)
	double, err := taskflow.RegisterTask(e.reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	require.NoError(t, err)
	h1, err := double.On(e.client).Enqueue(waitCtx(t), 21)
	require.NoError(t, err)
	for _, tt := range []struct {
		on      states.Condition
		wantErr error
	}{
		{states.OnSuccess, nil},
		{states.OnFinish, taskflow.ErrInvalidOption},
		{states.OnFailure, taskflow.ErrInvalidOption},
	} {
		t.Run(string(tt.on), func(t *testing.T) {
			_, err := taskflow.Then(waitCtx(t), h1, double, taskflow.ContinueOn(tt.on))
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestContinuationConditions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		parentErr error
		on        []taskflow.ContinuationOption
		want      states.Name
	}{
		{"OnSuccessRunsAfterSuccess", nil, nil, states.NameSucceeded},
		{"OnSuccessIsDeletedAfterFailure", errors.New("boom"), nil, states.NameDeleted},
		{"OnFailureRunsAfterRetriesAreExhausted", errors.New("boom"), []taskflow.ContinuationOption{taskflow.ContinueOn(states.OnFailure)}, states.NameSucceeded},
		{"OnFailureIsDeletedAfterSuccess", nil, []taskflow.ContinuationOption{taskflow.ContinueOn(states.OnFailure)}, states.NameDeleted},
		{"OnFinishRunsAfterFailure", errors.New("boom"), []taskflow.ContinuationOption{taskflow.ContinueOn(states.OnFinish)}, states.NameSucceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			parent, err := taskflow.RegisterTask(e.reg, "parent", func(context.Context, addArgs) (int, error) { return 1, tt.parentErr }, instantRetry(2))
			require.NoError(t, err)
			child, err := taskflow.RegisterTask(e.reg, "child", add)
			require.NoError(t, err)
			ph, err := parent.On(e.client).Enqueue(waitCtx(t), addArgs{})
			require.NoError(t, err)
			ch, err := child.On(e.client).ContinueWith(waitCtx(t), ph.ID, addArgs{2, 3}, tt.on...)
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{})
			info := waitState(t, e, ch.ID, tt.want)
			if tt.want == states.NameSucceeded {
				require.Equal(t, []states.Name{states.NameAwaiting, states.NameEnqueued, states.NameProcessing, states.NameSucceeded}, historyOf(t, info))
				p, err := ph.Job(waitCtx(t))
				require.NoError(t, err)
				require.True(t, p.State.Name().Finished(), "the continuation ran before its parent finished")
			}
		})
	}
}

func TestContinuationOfFinishedParentResolvesAtOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "add", add)
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	ph, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{1, 1})
	require.NoError(t, err)
	_, err = ph.Wait(waitCtx(t))
	require.NoError(t, err)
	ch, err := task.On(e.client).ContinueWith(waitCtx(t), ph.ID, addArgs{2, 2})
	require.NoError(t, err)
	sum, err := ch.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 4, sum)

	_, err = task.On(e.client).ContinueWith(waitCtx(t), newID(t), addArgs{})
	require.ErrorIs(t, err, taskflow.ErrNotFound, "a continuation of an unknown job")
}

func TestBatchFanIn(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var finishedParts atomic.Int32
	part, err := taskflow.RegisterTask(e.reg, "part", func(_ context.Context, n int) (int, error) {
		time.Sleep(time.Duration(n) * time.Millisecond)
		finishedParts.Add(1)
		return n * n, nil
	})
	require.NoError(t, err)
	var sumRuns atomic.Int32
	var partsAtSum atomic.Int32
	sum, err := taskflow.RegisterTask(e.reg, "sum", func(context.Context, struct{}) (string, error) {
		sumRuns.Add(1)
		partsAtSum.Store(finishedParts.Load())
		return "done", nil
	})
	require.NoError(t, err)

	batch, err := part.On(e.client).EnqueueBatch(waitCtx(t), []int{1, 2, 3, 4, 5, 6, 7, 8})
	require.NoError(t, err)
	after, err := sum.On(e.client).ContinueWith(waitCtx(t), batch.ID, struct{}{})
	require.NoError(t, err)
	p, err := batch.Progress(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, taskflow.BatchProgress{Total: 8, Pending: 8}, p)

	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 3})
	_, err = after.Wait(waitCtx(t))
	require.NoError(t, err)
	results, err := batch.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, []int{1, 4, 9, 16, 25, 36, 49, 64}, results)
	require.Equal(t, int32(1), sumRuns.Load())
	require.Equal(t, int32(8), partsAtSum.Load(), "the fan-in ran before every part finished")
	p, err = batch.Progress(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, taskflow.BatchProgress{Total: 8, Succeeded: 8}, p)
	require.True(t, p.Done())
}

func TestBatchCancel(t *testing.T) {
	t.Parallel()
	e := setup(t)
	started := make(chan struct{}, 1)
	var finishedNormally atomic.Bool
	slow, err := taskflow.RegisterTask(e.reg, "slow", func(ctx context.Context, _ int) (int, error) {
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Second):
			finishedNormally.Store(true)
			return 1, nil
		}
	})
	require.NoError(t, err)
	batch, err := slow.On(e.client).EnqueueBatch(waitCtx(t), []int{1, 2, 3})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 1})
	<-started
	canceledAt := time.Now()
	n, err := batch.Cancel(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 3, n)
	p, err := batch.Progress(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, taskflow.BatchProgress{Total: 3, Deleted: 3}, p)
	// The running job's context is cancelled at the next heartbeat, and
	// the job stays Deleted.
	time.Sleep(1500 * time.Millisecond)
	for _, h := range batch.Handles {
		info, err := h.Job(waitCtx(t))
		require.NoError(t, err)
		require.Equal(t, states.NameDeleted, info.State.Name())
		require.Equal(t, states.NameDeleted, info.History[len(info.History)-1].State.Name(), "a state was recorded after deletion")
	}
	require.False(t, finishedNormally.Load())
	require.Less(t, time.Since(canceledAt), 5*time.Second)
}

func TestDeleteRunningJobCancelsItsContext(t *testing.T) {
	t.Parallel()
	e := setup(t)
	started := make(chan struct{})
	canceled := make(chan time.Time, 1)
	task, err := taskflow.RegisterTask(e.reg, "long", func(ctx context.Context, _ int) (int, error) {
		close(started)
		<-ctx.Done()
		canceled <- time.Now()
		return 0, ctx.Err()
	})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	<-started
	deletedAt := time.Now()
	require.NoError(t, e.client.Delete(waitCtx(t), h.ID))
	select {
	case at := <-canceled:
		require.Less(t, at.Sub(deletedAt), 1500*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("the deleted job's context was not cancelled")
	}
	_, err = h.Wait(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrJobDeleted)
	time.Sleep(100 * time.Millisecond)
	info, err := h.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, []states.Name{states.NameEnqueued, states.NameProcessing, states.NameDeleted}, historyOf(t, info))
}

func TestJobControl(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "fails", func(context.Context, int) (int, error) { return 0, errors.New("nope") }, taskflow.MaxRetries(0))
	require.NoError(t, err)
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1, taskflow.Delay(time.Hour))
	require.NoError(t, err)
	ctx := waitCtx(t)

	err = e.client.ChangeState(ctx, h.ID, states.Deleted{Reason: "x"}, states.NameEnqueued)
	require.ErrorIs(t, err, taskflow.ErrStateConflict, "the expected-state guard did not hold")
	require.NoError(t, e.client.Reschedule(ctx, h.ID, time.Now().Add(2*time.Hour)))
	info, err := h.Job(ctx)
	require.NoError(t, err)
	require.Equal(t, states.NameScheduled, info.State.Name())

	require.NoError(t, e.client.Requeue(ctx, h.ID))
	e.startWorker(t, taskflow.WorkerOptions{})
	_, err = h.Wait(ctx)
	require.ErrorIs(t, err, taskflow.ErrJobFailed)

	// A failed job stays until a person acts: requeue runs it again.
	require.NoError(t, e.client.Requeue(ctx, h.ID))
	require.Eventually(t, func() bool {
		info, err := h.Job(ctx)
		return err == nil && info.Attempt == 2 && info.State.Name() == states.NameFailed
	}, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, e.client.Delete(ctx, h.ID))
	info, err = h.Job(ctx)
	require.NoError(t, err)
	require.Equal(t, states.NameDeleted, info.State.Name())
	require.False(t, info.ExpireAt.IsZero(), "a deleted job expires")
	require.ErrorIs(t, e.client.Delete(ctx, h.ID), taskflow.ErrStateConflict)
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		task    time.Duration
		job     []taskflow.JobOption
		runs    time.Duration
		wantErr bool
	}{
		{"TaskTimeoutFailsTheAttempt", 50 * time.Millisecond, nil, 10 * time.Second, true},
		{"JobTimeoutWinsOverTask", time.Minute, []taskflow.JobOption{taskflow.Timeout(50 * time.Millisecond)}, 10 * time.Second, true},
		{"JobTimeoutCanBeLonger", 20 * time.Millisecond, []taskflow.JobOption{taskflow.Timeout(time.Second)}, 100 * time.Millisecond, false},
		{"WithinTimeout", time.Second, nil, 10 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			task, err := taskflow.RegisterTask(e.reg, "sleepy", func(ctx context.Context, d time.Duration) (int, error) {
				select {
				case <-time.After(d):
					return 1, nil
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			}, taskflow.MaxRetries(0), taskflow.Timeout(tt.task))
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{})
			h, err := task.On(e.client).Enqueue(waitCtx(t), tt.runs, tt.job...)
			require.NoError(t, err)
			_, err = h.Wait(waitCtx(t))
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, taskflow.ErrJobFailed)
			require.ErrorContains(t, err, "deadline exceeded")
		})
	}
}

func TestUniqueJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	report, err := taskflow.RegisterTask(e.reg, "report", add, taskflow.UniqueByArgs())
	require.NoError(t, err)
	b := report.On(e.client)
	ctx := waitCtx(t)
	h1, err := b.Enqueue(ctx, addArgs{1, 2})
	require.NoError(t, err)
	h2, err := b.Enqueue(ctx, addArgs{1, 2})
	require.NoError(t, err)
	require.Equal(t, h1.ID, h2.ID, "a duplicate returns the existing job's handle")
	require.False(t, h1.Existing, "the first enqueue stored its job")
	require.True(t, h2.Existing, "the duplicate is told it got the existing job")
	h3, err := b.Enqueue(ctx, addArgs{2, 1})
	require.NoError(t, err)
	require.NotEqual(t, h1.ID, h3.ID)
	require.False(t, h3.Existing)

	k1, err := b.Enqueue(ctx, addArgs{9, 9}, taskflow.Unique("nightly"))
	require.NoError(t, err)
	k2, err := b.Enqueue(ctx, addArgs{8, 8}, taskflow.Unique("nightly"))
	require.NoError(t, err)
	require.Equal(t, k1.ID, k2.ID, "an explicit key wins over args")
	require.True(t, k2.Existing)

	e.startWorker(t, taskflow.WorkerOptions{})
	_, err = h1.Wait(ctx)
	require.NoError(t, err)
	h4, err := b.Enqueue(ctx, addArgs{1, 2})
	require.NoError(t, err)
	require.NotEqual(t, h1.ID, h4.ID, "the key is free once its job finished")

	p1, err := b.Enqueue(ctx, addArgs{5, 5}, taskflow.UniqueFor(time.Hour))
	require.NoError(t, err)
	_, err = p1.Wait(ctx)
	require.NoError(t, err)
	p2, err := b.Enqueue(ctx, addArgs{5, 5})
	require.NoError(t, err)
	require.Equal(t, p1.ID, p2.ID, "UniqueFor holds the key after the job finished")
}

func TestMutexFilterAllowsOneJobPerKeyAtATime(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var running, peak atomic.Int32
	task, err := taskflow.RegisterTask(e.reg, "exclusive", func(context.Context, int) (int, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		return 0, nil
	}, taskflow.WithFilters(filters.Mutex{Locker: e.store, Timeout: 10 * time.Second}))
	require.NoError(t, err)
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), []int{1, 2, 3, 4, 5})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 5})
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 5})
	for _, h := range hs {
		_, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	require.Equal(t, int32(1), peak.Load())
}

func TestMutexTimeoutFailsTheAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	held, err := e.store.TryLock(waitCtx(t), "mutex:blocked", "someone-else", time.Minute)
	require.NoError(t, err)
	require.True(t, held)
	task, err := taskflow.RegisterTask(e.reg, "blocked", add, taskflow.MaxRetries(0),
		taskflow.WithFilters(filters.Mutex{Locker: e.store, Timeout: 50 * time.Millisecond}))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrJobFailed)
	require.ErrorContains(t, err, "mutex wait timed out")
}

// keepDeletedLonger is an elect-state filter that sets a retention per state.
type keepDeletedLonger struct{ filters.Defaults }

func (keepDeletedLonger) OnStateElection(_ context.Context, c *filters.ElectStateContext) {
	if c.Candidate().Name() == states.NameDeleted {
		c.Retention = 7 * 24 * time.Hour
	}
}

func TestRetentionPerTaskAndPerState(t *testing.T) {
	t.Parallel()
	e := setup(t)
	short, err := taskflow.RegisterTask(e.reg, "short", add, taskflow.Retention(time.Minute))
	require.NoError(t, err)
	dflt, err := taskflow.RegisterTask(e.reg, "default", add)
	require.NoError(t, err)
	deleted, err := taskflow.RegisterTask(e.reg, "deleted", func(context.Context, addArgs) (int, error) { return 0, errors.New("x") },
		taskflow.WithRetry(filters.Retry{WhenExhausted: filters.DeleteWhenExhausted}), taskflow.WithFilters(keepDeletedLonger{}))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	tests := []struct {
		task interface {
			On(*taskflow.Client) taskflow.Bound[addArgs, int]
		}
		want time.Duration
	}{
		{short, time.Minute},
		{dflt, taskflow.DefaultRetention},
		{deleted, 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		h, err := tt.task.On(e.client).Enqueue(waitCtx(t), addArgs{})
		require.NoError(t, err)
		_, _ = h.Wait(waitCtx(t))
		info, err := h.Job(waitCtx(t))
		require.NoError(t, err)
		require.True(t, info.State.Name().Expires())
		got := info.ExpireAt.Sub(info.UpdatedAt)
		require.InDelta(t, tt.want.Seconds(), got.Seconds(), 1, "retention of %s", info.Task)
	}
}

func TestFinishedJobsExpireAndFailedStay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ok, err := taskflow.RegisterTask(e.reg, "ok", add, taskflow.Retention(50*time.Millisecond))
	require.NoError(t, err)
	bad, err := taskflow.RegisterTask(e.reg, "bad", func(context.Context, addArgs) (int, error) { return 0, errors.New("x") }, taskflow.MaxRetries(0))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{PruneInterval: 20 * time.Millisecond})
	h1, err := ok.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	h2, err := bad.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	_, _ = h1.Wait(waitCtx(t))
	_, _ = h2.Wait(waitCtx(t))
	require.Eventually(t, func() bool { return e.store.Len() == 1 }, 5*time.Second, 10*time.Millisecond)
	_, err = h1.Job(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrNotFound)
	info, err := h2.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, states.NameFailed, info.State.Name())
}

// frozenStore stands for the store as a killed worker sees it: once frozen,
// every call hangs until its context ends, so the worker can neither renew
// its leases nor record anything.
type frozenStore struct {
	storage.Store
	frozen atomic.Bool
}

func (f *frozenStore) hang(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

func (f *frozenStore) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	if f.frozen.Load() {
		return nil, f.hang(ctx)
	}
	return f.Store.Fetch(ctx, p)
}

func (f *frozenStore) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	if f.frozen.Load() {
		return nil, f.hang(ctx)
	}
	return f.Store.Transition(ctx, p)
}

func (f *frozenStore) ExtendLeases(ctx context.Context, p *storage.ExtendParams) ([]storage.LostLease, error) {
	if f.frozen.Load() {
		return nil, f.hang(ctx)
	}
	return f.Store.ExtendLeases(ctx, p)
}

func TestJobOfKilledWorkerIsCompletedByAnother(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		opts  taskflow.WorkerOptions
		bound time.Duration
	}{
		// The watchdog sees the dead worker's heartbeats stop.
		{"ByServerTimeout", taskflow.WorkerOptions{WorkerTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond}, 3 * time.Second},
		// The lease expires.
		{"ByLeaseExpiry", taskflow.WorkerOptions{LeaseDuration: 300 * time.Millisecond}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			var runs atomic.Int32
			started := make(chan struct{}, 2)
			task, err := taskflow.RegisterTask(e.reg, "work", func(ctx context.Context, _ int) (int, error) {
				runs.Add(1)
				started <- struct{}{}
				select {
				case <-time.After(100 * time.Millisecond):
					return 42, nil
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			})
			require.NoError(t, err)
			frozen := &frozenStore{Store: e.store}
			dying := e.opts(tt.opts)
			w, err := taskflow.NewWorker(frozen, dying)
			require.NoError(t, err)
			dctx, kill := context.WithCancel(context.Background())
			t.Cleanup(kill)
			frozen.frozen.Store(false)
			go func() { _ = w.Run(dctx) }()

			h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
			require.NoError(t, err)
			<-started
			frozen.frozen.Store(true) // the worker is killed mid-job
			killedAt := time.Now()

			e.startWorker(t, tt.opts)
			got, err := h.Wait(waitCtx(t))
			require.NoError(t, err)
			require.Equal(t, 42, got)
			require.Less(t, time.Since(killedAt), tt.bound)
			info, err := h.Job(waitCtx(t))
			require.NoError(t, err)
			require.Equal(t, 1, count(historyOf(t, info), states.NameSucceeded), "completed twice")
			require.Equal(t, int32(2), runs.Load())
		})
	}
}

func count(names []states.Name, n states.Name) int {
	c := 0
	for _, x := range names {
		if x == n {
			c++
		}
	}
	return c
}

func TestWorkersAreRegistered(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w, stop := e.startWorker(t, taskflow.WorkerOptions{Queues: []string{"a", "b"}, Concurrency: 3, HeartbeatInterval: 20 * time.Millisecond})
	require.Eventually(t, func() bool {
		list, err := e.store.ListWorkers(context.Background())
		return err == nil && len(list) == 1 && list[0].ID == w.ID() && list[0].Concurrency == 3
	}, 5*time.Second, 10*time.Millisecond)
	stop()
	list, err := e.store.ListWorkers(context.Background())
	require.NoError(t, err)
	require.Empty(t, list, "a stopped worker stays registered")
}

func TestParamsReachTheTask(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "p", func(ctx context.Context, _ int) (string, error) {
		rj, _ := taskflow.JobFromContext(ctx)
		var tenant string
		_, err := rj.Param("tenant", &tenant)
		return tenant, err
	})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1, taskflow.Param("tenant", "acme"))
	require.NoError(t, err)
	got, err := h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, "acme", got)
	info, err := h.Job(waitCtx(t))
	require.NoError(t, err)
	var v string
	require.NoError(t, json.Unmarshal(info.Params["tenant"], &v))
}

// flakyStore fails every call while down is set, as a store whose
// database connection was lost does.
type flakyStore struct {
	storage.Store
	down  atomic.Bool
	calls atomic.Int64
}

var errConnLost = errors.New("connection refused")

func (f *flakyStore) fail() error {
	f.calls.Add(1)
	if f.down.Load() {
		return errConnLost
	}
	return nil
}

func (f *flakyStore) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Fetch(ctx, p)
}

func (f *flakyStore) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Transition(ctx, p)
}

func (f *flakyStore) ExtendLeases(ctx context.Context, p *storage.ExtendParams) ([]storage.LostLease, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.ExtendLeases(ctx, p)
}

func (f *flakyStore) PromoteDue(ctx context.Context, p *storage.PromoteParams) (storage.PromoteResult, error) {
	if err := f.fail(); err != nil {
		return storage.PromoteResult{}, err
	}
	return f.Store.PromoteDue(ctx, p)
}

func (f *flakyStore) Get(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	if err := f.fail(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, id)
}

// TestWaitOutlastsALostStoreConnection: a waiting handle keeps waiting
// while its store is unreachable, and returns the result once it is back.
func TestWaitOutlastsALostStoreConnection(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "t", add)
	require.NoError(t, err)
	flaky := &flakyStore{Store: e.store}
	c, err := taskflow.NewClient(flaky, taskflow.ClientOptions{})
	require.NoError(t, err)
	h, err := task.On(c).Enqueue(waitCtx(t), addArgs{2, 3})
	require.NoError(t, err)
	flaky.down.Store(true)
	e.startWorker(t, taskflow.WorkerOptions{}) // on the store itself
	time.AfterFunc(300*time.Millisecond, func() { flaky.down.Store(false) })
	sum, err := h.Wait(waitCtx(t))
	require.NoError(t, err, "a transient error ended the wait")
	require.Equal(t, 5, sum)
	require.Greater(t, flaky.calls.Load(), int64(1), "Wait did not read while the store was down")

	gone := task.On(c).Handle(newID(t))
	_, err = gone.Wait(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrNotFound, "a job that does not exist ends the wait")
}

func TestWorkerSurvivesALostStoreConnection(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var runs atomic.Int32
	release := make(chan struct{})
	task, err := taskflow.RegisterTask(e.reg, "t", func(_ context.Context, n int) (int, error) {
		runs.Add(1)
		if n == 0 {
			<-release // finishes while the store is down
		}
		return n, nil
	})
	require.NoError(t, err)
	flaky := &flakyStore{Store: e.store}
	rig.Start(t, flaky, rig.Options{Worker: e.opts(taskflow.WorkerOptions{})})

	first, err := task.On(e.client).Enqueue(waitCtx(t), 0)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return runs.Load() == 1 }, 5*time.Second, time.Millisecond)
	flaky.down.Store(true)
	close(release)
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), []int{1, 2, 3}) // the client's own store still works
	require.NoError(t, err)
	before := flaky.calls.Load()
	time.Sleep(300 * time.Millisecond)
	require.Greater(t, flaky.calls.Load(), before, "the worker stopped retrying")
	flaky.down.Store(false)

	for _, h := range append(hs, first) {
		_, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	require.Equal(t, int32(4), runs.Load(), "a job ran twice or not at all")
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// A worker's clock may differ from the store's, by skew or injection: the
// store decides which workers are dead by its own clock, so a live worker
// whose clock runs a year ahead keeps its job through several sweeps.
func TestWorkerClockAheadOfTheStoreIsNotDeclaredDead(t *testing.T) {
	t.Parallel()
	e := setup(t)
	clock := &fakeClock{now: time.Now().AddDate(1, 0, 0)}
	task, err := taskflow.RegisterTask(e.reg, "slow", func(ctx context.Context, _ int) (int, error) {
		select {
		case <-time.After(400 * time.Millisecond): // several sweeps of 100 ms
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Clock: clock.Now, WorkerTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond})
	h, err := task.On(e.client).Enqueue(waitCtx(t), 0)
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.NoError(t, err)
	info, err := h.Job(waitCtx(t))
	require.NoError(t, err)
	var names []states.Name
	for _, r := range info.History {
		names = append(names, r.State.Name())
	}
	require.Equal(t, []states.Name{states.NameEnqueued, states.NameProcessing, states.NameSucceeded}, names,
		"the job ran once, never requeued from its live worker")
}

// TestRetryScheduleFollowsTheInjectedClock runs a retry whose Hangfire
// delay (15 to 44 seconds) passes on a fake clock, without waiting for it.
func TestRetryScheduleFollowsTheInjectedClock(t *testing.T) {
	t.Parallel()
	e := setup(t)
	clock := &fakeClock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	c, err := taskflow.NewClient(e.store, taskflow.ClientOptions{Clock: clock.Now})
	require.NoError(t, err)
	var calls atomic.Int32
	task, err := taskflow.RegisterTask(e.reg, "once-flaky", func(context.Context, int) (int, error) {
		if calls.Add(1) == 1 {
			return 0, errors.New("transient")
		}
		return 7, nil
	})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Clock: clock.Now})
	h, err := task.On(c).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	info := waitState(t, e, h.ID, states.NameScheduled)
	s := info.State.(states.Scheduled)
	delay := s.EnqueueAt.Sub(clock.Now())
	require.GreaterOrEqual(t, delay, 15*time.Second)
	require.LessOrEqual(t, delay, 44*time.Second)

	clock.Advance(time.Minute)
	_, err = task.On(c).Enqueue(waitCtx(t), 2) // any store change wakes the scheduler
	require.NoError(t, err)
	got, err := h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 7, got)
	info, err = h.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, clock.Now(), info.UpdatedAt, "states are stamped by the injected clock")
}

// TestBatchResultsReachWaitAndTheFanIn checks that Batch.Wait and a fan-in
// continuation (BatchResults) get the results that exist, in order, with a
// per-job error for each part that failed.
func TestBatchResultsReachWaitAndTheFanIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		parts      []int
		wantSquare []int
		wantFailed []bool // per part
	}{
		{"AllSucceed", []int{1, 2, 3}, []int{1, 4, 9}, []bool{false, false, false}},
		{"SomeFail", []int{1, -2, 3, -4}, []int{1, 0, 9, 0}, []bool{false, true, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			part, err := taskflow.RegisterTask(e.reg, "part", func(_ context.Context, n int) (int, error) {
				if n < 0 {
					return 0, fmt.Errorf("part %d: %w", n, errQuota)
				}
				return n * n, nil
			}, taskflow.MaxRetries(0))
			require.NoError(t, err)
			type fanIn struct {
				Squares []int
				Failed  []bool
			}
			sum, err := taskflow.RegisterTask(e.reg, "sum", func(ctx context.Context, _ struct{}) (fanIn, error) {
				squares, err := taskflow.BatchResults(ctx, part)
				out := fanIn{Squares: squares, Failed: make([]bool, len(squares))}
				var be *taskflow.BatchError
				if errors.As(err, &be) {
					for i, err := range be.Errs {
						out.Failed[i] = errors.Is(err, errQuota) && errors.Is(err, taskflow.ErrJobFailed)
					}
				} else if err != nil {
					return out, err
				}
				return out, nil
			})
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{Concurrency: 2})

			batch, err := part.On(e.client).EnqueueBatch(waitCtx(t), tt.parts)
			require.NoError(t, err)
			after, err := sum.On(e.client).ContinueWith(waitCtx(t), batch.ID, struct{}{}, taskflow.ContinueOn(states.OnFinish))
			require.NoError(t, err)

			got, err := after.Wait(waitCtx(t))
			require.NoError(t, err)
			require.Equal(t, fanIn{Squares: tt.wantSquare, Failed: tt.wantFailed}, got)

			results, err := batch.Wait(waitCtx(t))
			require.Equal(t, tt.wantSquare, results, "the results that exist are returned")
			if !slices.Contains(tt.wantFailed, true) {
				require.NoError(t, err)
				return
			}
			var be *taskflow.BatchError
			require.ErrorAs(t, err, &be)
			require.Equal(t, batch.ID, be.ID)
			require.Len(t, be.Errs, len(tt.parts))
			for i, failed := range tt.wantFailed {
				require.Equal(t, failed, be.Errs[i] != nil, "part %d", i)
			}
			require.ErrorIs(t, err, errQuota)
		})
	}
}

func TestBatchResultsOutsideAContinuation(t *testing.T) {
	t.Parallel()
	part := taskflow.Declare[int, int]("part")
	_, err := taskflow.BatchResults(context.Background(), part)
	require.ErrorIs(t, err, taskflow.ErrInvalidOption)
}

// TestClientFromContext: a task enqueues a job through the client its
// context carries, with no default client configured.
func TestClientFromContext(t *testing.T) {
	t.Parallel()
	e := setup(t)
	child, err := taskflow.RegisterTask(e.reg, "child", func(_ context.Context, n int) (int, error) { return n + 1, nil })
	require.NoError(t, err)
	parent, err := taskflow.RegisterTask(e.reg, "parent", func(ctx context.Context, n int) (string, error) {
		c, ok := taskflow.ClientFromContext(ctx)
		if !ok {
			return "", errors.New("no client in the task's context")
		}
		h, err := child.On(c).Enqueue(ctx, n)
		if err != nil {
			return "", err
		}
		return h.ID.String(), nil
	})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := parent.On(e.client).Enqueue(waitCtx(t), 41)
	require.NoError(t, err)
	id, err := h.Wait(waitCtx(t))
	require.NoError(t, err)
	got, err := child.On(e.client).Handle(uuid.MustParse(id)).Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 42, got)

	_, ok := taskflow.ClientFromContext(context.Background())
	require.False(t, ok, "outside a task")
}
