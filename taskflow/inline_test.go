package taskflow_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// TestRunNextEndsAsAWorkerWould runs one job inline for each way a task can
// end, and checks the state stored and the error reported.
func TestRunNextEndsAsAWorkerWould(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		fn        func(context.Context, int) (int, error)
		opts      []taskflow.TaskOption
		badArgs   bool // enqueued with a string for the int args
		unknown   bool // the worker's registry lacks the task
		wantState states.Name
		wantErr   error
	}{
		{name: "Succeeds", fn: func(_ context.Context, n int) (int, error) { return n + 1, nil }, wantState: states.NameSucceeded},
		{name: "FailsAndIsScheduledForRetry", fn: func(context.Context, int) (int, error) { return 0, errBoom },
			wantState: states.NameScheduled, wantErr: errBoom},
		{name: "FailsWithNoRetries", fn: func(context.Context, int) (int, error) { return 0, errBoom },
			opts: []taskflow.TaskOption{taskflow.WithRetry(filters.NoRetry)}, wantState: states.NameFailed, wantErr: errBoom},
		{name: "RetriedAtOnceWithZeroDelay", fn: func(context.Context, int) (int, error) { return 0, errBoom },
			opts: []taskflow.TaskOption{instantRetry(1)}, wantState: states.NameEnqueued, wantErr: errBoom},
		{name: "Panics", fn: func(context.Context, int) (int, error) { panic("oops") },
			opts: []taskflow.TaskOption{taskflow.WithRetry(filters.NoRetry)}, wantState: states.NameFailed, wantErr: taskflow.ErrPanic},
		{name: "BadArgs", fn: func(_ context.Context, n int) (int, error) { return n, nil }, badArgs: true,
			wantState: states.NameFailed, wantErr: filters.ErrBadInput},
		{name: "UnknownTask", fn: func(_ context.Context, n int) (int, error) { return n, nil }, unknown: true,
			wantState: states.NameScheduled, wantErr: taskflow.ErrUnknownTask},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := waitCtx(t)
			e := setup(t)
			task, err := taskflow.RegisterTask(e.reg, "inline", tt.fn, tt.opts...)
			require.NoError(t, err)
			var id uuid.UUID
			if tt.badArgs {
				h, err := taskflow.Declare[string, int]("inline").On(e.client).Enqueue(ctx, "x")
				require.NoError(t, err)
				id = h.ID
			} else {
				h, err := task.On(e.client).Enqueue(ctx, 1)
				require.NoError(t, err)
				id = h.ID
			}
			reg := e.reg
			if tt.unknown {
				reg = taskflow.NewRegistry()
			}
			w, err := taskflow.NewWorker(e.store, e.opts(taskflow.WorkerOptions{Registry: reg}))
			require.NoError(t, err)

			ran, ok, err := w.RunNext(ctx)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, id, ran.ID)
			require.Equal(t, 1, ran.Attempt)
			require.Equal(t, tt.wantState, ran.State.Name())
			if tt.wantErr == nil {
				require.NoError(t, ran.Err)
			} else {
				require.ErrorIs(t, ran.Err, tt.wantErr)
			}
			info, err := e.client.Job(ctx, id)
			require.NoError(t, err)
			require.Equal(t, tt.wantState, info.State.Name(), "the state RunNext reports is the one stored")
		})
	}
}

// TestRunNextRunsContinuationsAndNothingWhenIdle: a continuation becomes
// due once its parent's outcome is stored, and RunNext reports false when
// no job is due.
func TestRunNextRunsContinuationsAndNothingWhenIdle(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	e := setup(t)
	double, err := taskflow.RegisterTask(e.reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	require.NoError(t, err)
	parent, err := double.On(e.client).Enqueue(ctx, 3)
	require.NoError(t, err)
	child, err := taskflow.Then(ctx, parent, double)
	require.NoError(t, err)
	w, err := taskflow.NewWorker(e.store, e.opts(taskflow.WorkerOptions{}))
	require.NoError(t, err)

	var order []string
	for {
		ran, ok, err := w.RunNext(ctx)
		require.NoError(t, err)
		if !ok {
			break
		}
		order = append(order, ran.ID.String())
	}
	require.Equal(t, []string{parent.ID.String(), child.ID.String()}, order)
	got, err := child.Result(ctx)
	require.NoError(t, err)
	require.Equal(t, 12, got)
}

// TestRunNextRefusedWhileRunning: RunNext and Run exclude each other.
func TestRunNextRefusedWhileRunning(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	e := setup(t)
	started, release := make(chan struct{}), make(chan struct{})
	block, err := taskflow.RegisterTask(e.reg, "block", func(context.Context, int) (int, error) {
		close(started)
		<-release
		return 0, nil
	})
	require.NoError(t, err)
	_, err = block.On(e.client).Enqueue(ctx, 1)
	require.NoError(t, err)
	w, err := taskflow.NewWorker(e.store, e.opts(taskflow.WorkerOptions{}))
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, _, err := w.RunNext(ctx); err != nil {
			t.Errorf("RunNext: %v", err)
		}
	}()
	<-started
	_, _, err = w.RunNext(ctx)
	require.ErrorIs(t, err, taskflow.ErrWorkerRunning)
	require.ErrorIs(t, w.Run(ctx), taskflow.ErrWorkerRunning)
	close(release)
	wg.Wait()
}

// TestMaintainFollowsTheClock: with a clock moved by hand, Maintain
// promotes due Scheduled jobs, fires due recurring jobs and reclaims
// expired leases, and returns the next due time.
func TestMaintainFollowsTheClock(t *testing.T) {
	t.Parallel()
	ctx := waitCtx(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	store := memstore.New(memstore.WithClock(clock))
	reg := taskflow.NewRegistry()
	c, err := taskflow.NewClient(store, taskflow.ClientOptions{Clock: clock, Registry: reg})
	require.NoError(t, err)
	echo, err := taskflow.RegisterTask(reg, "echo", func(_ context.Context, n int) (int, error) { return n, nil })
	require.NoError(t, err)
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Clock: clock, Logger: quiet})
	require.NoError(t, err)

	later, err := echo.On(c).Enqueue(ctx, 1, taskflow.Delay(time.Hour))
	require.NoError(t, err)
	require.NoError(t, echo.On(c).AddRecurring(ctx, "half-hourly", "*/30 * * * *", 2))
	// A job leased by a worker that then died.
	crashed, err := echo.On(c).Enqueue(ctx, 3)
	require.NoError(t, err)
	_, err = store.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "dead", LeaseFor: time.Minute, Now: clock()})
	require.NoError(t, err)

	state := func(id uuid.UUID) states.Name {
		info, err := c.Job(ctx, id)
		require.NoError(t, err)
		return info.State.Name()
	}
	next, err := w.Maintain(ctx)
	require.NoError(t, err)
	require.Equal(t, clock().Add(30*time.Minute), next, "the recurring job is due first")
	require.Equal(t, states.NameProcessing, state(crashed.ID))

	advance(30 * time.Minute)
	next, err = w.Maintain(ctx)
	require.NoError(t, err)
	require.Equal(t, clock().Add(30*time.Minute), next)
	require.Equal(t, states.NameEnqueued, state(crashed.ID), "its lease expired")
	require.Equal(t, states.NameScheduled, state(later.ID))
	def, err := c.RecurringJob(ctx, "half-hourly")
	require.NoError(t, err)
	require.Equal(t, clock(), def.LastRun, "the recurring job fired")

	advance(30 * time.Minute)
	_, err = w.Maintain(ctx)
	require.NoError(t, err)
	require.Equal(t, states.NameEnqueued, state(later.ID))
}

// TestRunNextCancelledKeepsTheTasksError: when RunNext's ctx ends while the
// task runs, the job goes back to its queue and Ran still carries the
// task's error.
func TestRunNextCancelledKeepsTheTasksError(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, cancel := context.WithCancel(waitCtx(t))
	errStopped := errors.New("stopped halfway")
	task, err := taskflow.RegisterTask(e.reg, "cancelled", func(ctx context.Context, _ int) (int, error) {
		cancel()
		<-ctx.Done()
		return 0, errStopped
	})
	require.NoError(t, err)
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	w, err := taskflow.NewWorker(e.store, e.opts(taskflow.WorkerOptions{}))
	require.NoError(t, err)
	ran, ok, err := w.RunNext(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.ErrorIs(t, ran.Err, errStopped)
	require.Equal(t, states.NameEnqueued, ran.State.Name())
	info, err := e.client.Job(waitCtx(t), h.ID)
	require.NoError(t, err)
	require.Equal(t, states.NameEnqueued, info.State.Name())
}
