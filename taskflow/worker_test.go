package taskflow_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

func historyOf(t *testing.T, info *taskflow.JobInfo) []states.Name {
	t.Helper()
	out := make([]states.Name, len(info.History))
	for i, h := range info.History {
		out[i] = h.State.Name()
	}
	return out
}

func TestWorkerRunsTypedTaskAndWaitReturnsResult(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "add", add)
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{20, 22})
	require.NoError(t, err)
	sum, err := h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 42, sum)

	got, err := h.Result(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 42, got)

	info, err := h.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, []states.Name{states.NameEnqueued, states.NameProcessing, states.NameSucceeded}, historyOf(t, info))
	s := info.State.(states.Succeeded)
	require.JSONEq(t, `42`, string(s.Result))
	require.GreaterOrEqual(t, s.Duration, time.Duration(0))
	require.False(t, info.ExpireAt.IsZero(), "succeeded jobs expire")
	require.Equal(t, 1, info.Attempt)
}

// TestBadJobsFailWithoutStoppingTheWorker covers every kind of bad input a
// worker meets: each job goes Failed with a reason that names the problem,
// and the worker keeps serving the next job. Bad input stays Failed even
// under a retry policy that deletes exhausted jobs; the task's own errors
// follow the policy.
func TestBadJobsFailWithoutStoppingTheWorker(t *testing.T) {
	t.Parallel()
	type badResult struct{ F func() }
	tests := []struct {
		name       string
		setup      func(t *testing.T, e *env) uuidGetter
		wantReason []string
		wantType   string
		wantStack  bool
		badInput   bool
	}{
		{
			name: "MalformedArgs",
			setup: func(t *testing.T, e *env) uuidGetter {
				_, err := taskflow.RegisterTask(e.reg, "add", add)
				require.NoError(t, err)
				return createRaw(t, e, "add", `{"A": "not a number"`)
			},
			wantReason: []string{`args of task "add"`, "taskflow: decode"},
			badInput:   true,
		},
		{
			name: "Panic",
			setup: func(t *testing.T, e *env) uuidGetter {
				task, err := taskflow.RegisterTask(e.reg, "panics", func(context.Context, addArgs) (int, error) { panic("kaboom") }, taskflow.MaxRetries(0))
				require.NoError(t, err)
				h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
				require.NoError(t, err)
				return func() uuidT { return h.ID }
			},
			wantReason: []string{"task panicked", "kaboom"},
			wantStack:  true,
		},
		{
			name: "UnencodableResult",
			setup: func(t *testing.T, e *env) uuidGetter {
				task, err := taskflow.RegisterTask(e.reg, "bad-result", func(context.Context, addArgs) (badResult, error) { return badResult{F: func() {}}, nil })
				require.NoError(t, err)
				h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
				require.NoError(t, err)
				return func() uuidT { return h.ID }
			},
			wantReason: []string{`result of task "bad-result"`, "taskflow: encode"},
			badInput:   true,
		},
		{
			name: "ErrorReturned",
			setup: func(t *testing.T, e *env) uuidGetter {
				task, err := taskflow.RegisterTask(e.reg, "fails", func(context.Context, addArgs) (int, error) { return 0, errors.New("card declined") }, taskflow.MaxRetries(0))
				require.NoError(t, err)
				h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
				require.NoError(t, err)
				return func() uuidT { return h.ID }
			},
			wantReason: []string{"card declined"},
			wantType:   "", // a bare errors.New has no type worth naming
		},
		{
			name: "TypedErrorWithACause",
			setup: func(t *testing.T, e *env) uuidGetter {
				task, err := taskflow.RegisterTask(e.reg, "typed", func(context.Context, addArgs) (int, error) {
					return 0, fmt.Errorf("charge: %w", &cardError{cause: errors.New("insufficient funds")})
				}, taskflow.MaxRetries(0))
				require.NoError(t, err)
				h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
				require.NoError(t, err)
				return func() uuidT { return h.ID }
			},
			wantReason: []string{"charge: card declined: insufficient funds"},
			wantType:   "*taskflow_test.cardError",
		},
	}
	deleting := filters.Retry{WhenExhausted: filters.DeleteWhenExhausted}
	for _, policy := range []*filters.Retry{nil, &deleting} {
		for _, tt := range tests {
			name := tt.name
			if policy != nil {
				name += "/DeleteWhenExhausted"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := setup(t)
				id := tt.setup(t, e)()
				ok, err := taskflow.RegisterTask(e.reg, "ok", add)
				require.NoError(t, err)
				e.startWorker(t, taskflow.WorkerOptions{Retry: policy})

				h, err := ok.On(e.client).Enqueue(waitCtx(t), addArgs{1, 1})
				require.NoError(t, err)
				sum, err := h.Wait(waitCtx(t))
				require.NoError(t, err, "the worker stopped serving jobs")
				require.Equal(t, 2, sum)

				if policy != nil && !tt.badInput {
					info := waitState(t, e, id, states.NameDeleted)
					require.Contains(t, info.State.(states.Deleted).ErrorMessage, tt.wantReason[0])
					return
				}
				info := waitState(t, e, id, states.NameFailed)
				f := info.State.(states.Failed)
				for _, want := range tt.wantReason {
					require.Contains(t, f.Reason, want)
					require.Contains(t, f.ErrorMessage, want)
				}
				if tt.wantType != "" {
					require.Equal(t, tt.wantType, f.ErrorType)
				}
				require.Equal(t, tt.wantStack, f.ErrorDetails != "", "stack recorded: %q", f.ErrorDetails)
				if tt.wantStack {
					require.Contains(t, f.ErrorDetails, "worker_test.go")
				}
				require.True(t, info.ExpireAt.IsZero(), "failed jobs do not expire")
			})
		}
	}
}

// cardError is a task's own error type, with a cause.
type cardError struct{ cause error }

func (e *cardError) Error() string { return "card declined: " + e.cause.Error() }
func (e *cardError) Unwrap() error { return e.cause }

type uuidT = [16]byte
type uuidGetter func() uuidT

func createRaw(t *testing.T, e *env, task, args string) uuidGetter {
	t.Helper()
	j := &storage.Job{ID: newID(t), Task: task, Args: []byte(args), Queue: "default", State: states.NameEnqueued, CreatedAt: time.Now()}
	var err error
	j.StateData, err = states.Marshal(states.Enqueued{Queue: "default", EnqueuedAt: j.CreatedAt})
	require.NoError(t, err)
	_, err = e.store.Create(waitCtx(t), &storage.CreateParams{Jobs: []*storage.Job{j}})
	require.NoError(t, err)
	return func() uuidT { return j.ID }
}

func waitState(t *testing.T, e *env, id uuidT, want states.Name) *taskflow.JobInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := e.client.Job(context.Background(), id)
		require.NoError(t, err)
		if info.State.Name() == want {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never reached %s; history %v", want, historyOf(t, info))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestWaitReturnsJobErrorForFinalFailure(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var calls atomic.Int32
	task, err := taskflow.RegisterTask(e.reg, "flaky", func(context.Context, addArgs) (string, error) {
		calls.Add(1)
		return "", fmt.Errorf("attempt %d: %w", calls.Load(), errors.New("upstream down"))
	}, instantRetry(2))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrJobFailed)
	var je *taskflow.JobError
	require.ErrorAs(t, err, &je)
	require.Contains(t, je.Error(), "attempt 3: upstream down")
	require.Equal(t, int32(3), calls.Load(), "one run and two retries")

	info, err := h.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, []states.Name{
		states.NameEnqueued,
		states.NameProcessing, states.NameFailed, states.NameEnqueued,
		states.NameProcessing, states.NameFailed, states.NameEnqueued,
		states.NameProcessing, states.NameFailed,
	}, historyOf(t, info))
	require.Equal(t, "Retry attempt 1 of 2: attempt 1: upstream down", info.History[3].State.Why())
}

func TestRetryThenSucceed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var calls atomic.Int32
	task, err := taskflow.RegisterTask(e.reg, "second-time-lucky", func(ctx context.Context, a addArgs) (int, error) {
		if calls.Add(1) == 1 {
			return 0, errors.New("transient")
		}
		rj, ok := taskflow.JobFromContext(ctx)
		if !ok {
			return 0, errors.New("no running job in ctx")
		}
		return rj.Attempt, nil
	})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Retry: &filters.Retry{MaxRetries: filters.DefaultMaxRetries, Delay: func(int) time.Duration { return 20 * time.Millisecond }}})
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	attempt, err := h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 2, attempt)
	info, err := h.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, []states.Name{
		states.NameEnqueued, states.NameProcessing, states.NameFailed, states.NameScheduled,
		states.NameEnqueued, states.NameProcessing, states.NameSucceeded,
	}, historyOf(t, info))
}

func TestPermanentErrorIsNotRetriedAndDeleteWhenExhausted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		retry filters.Retry
		err   error
		calls int32
		want  error
	}{
		{"Permanent", retryNow(5), filters.Permanent(errors.New("invalid card")), 1, taskflow.ErrJobFailed},
		{"ExceptOn", filters.Retry{MaxRetries: 5, ExceptOn: []error{context.Canceled}, Delay: retryNow(5).Delay}, fmt.Errorf("x: %w", context.Canceled), 1, taskflow.ErrJobFailed},
		{"DeleteWhenExhausted", filters.Retry{MaxRetries: 1, Delay: retryNow(1).Delay, WhenExhausted: filters.DeleteWhenExhausted}, errors.New("nope"), 2, taskflow.ErrJobDeleted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			var calls atomic.Int32
			task, err := taskflow.RegisterTask(e.reg, "t", func(context.Context, addArgs) (int, error) {
				calls.Add(1)
				return 0, tt.err
			}, taskflow.WithRetry(tt.retry))
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{})
			h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
			require.NoError(t, err)
			_, err = h.Wait(waitCtx(t))
			require.ErrorIs(t, err, tt.want)
			require.Equal(t, tt.calls, calls.Load())
		})
	}
}

func TestDelayedJobRunsOnTime(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ran := make(chan time.Time, 1)
	task, err := taskflow.RegisterTask(e.reg, "later", func(context.Context, addArgs) (int, error) { ran <- time.Now(); return 0, nil })
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	time.Sleep(50 * time.Millisecond) // the scheduler is idle, waiting
	start := time.Now()
	_, err = task.On(e.client).Enqueue(waitCtx(t), addArgs{}, taskflow.Delay(300*time.Millisecond))
	require.NoError(t, err)
	select {
	case at := <-ran:
		require.GreaterOrEqual(t, at.Sub(start), 300*time.Millisecond)
		require.Less(t, at.Sub(start), 1500*time.Millisecond, "a delayed job ran late")
	case <-time.After(5 * time.Second):
		t.Fatal("delayed job never ran")
	}
}

func TestQueuesAreServedInPriorityOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var mu sync.Mutex
	var order []string
	task, err := taskflow.RegisterTask(e.reg, "record", func(ctx context.Context, _ addArgs) (int, error) {
		rj, _ := taskflow.JobFromContext(ctx)
		mu.Lock()
		order = append(order, rj.Queue)
		mu.Unlock()
		return 0, nil
	})
	require.NoError(t, err)
	b := task.On(e.client)
	_, err = b.EnqueueMany(waitCtx(t), make([]addArgs, 3), taskflow.Queue("low"))
	require.NoError(t, err)
	hs, err := b.EnqueueMany(waitCtx(t), make([]addArgs, 3), taskflow.Queue("high"))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Queues: []string{"high", "low"}, Concurrency: 1})
	_, err = hs[2].Wait(waitCtx(t))
	require.NoError(t, err)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 6 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []string{"high", "high", "high", "low", "low", "low"}, order)
}

func TestGracefulStopRequeuesUnfinishedJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	started := make(chan struct{}, 10)
	var finished atomic.Int32
	task, err := taskflow.RegisterTask(e.reg, "slow", func(ctx context.Context, _ addArgs) (int, error) {
		started <- struct{}{}
		<-ctx.Done() // runs until canceled
		return 0, ctx.Err()
	})
	require.NoError(t, err)
	quick, err := taskflow.RegisterTask(e.reg, "quick", func(context.Context, addArgs) (int, error) { finished.Add(1); return 0, nil })
	require.NoError(t, err)
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), make([]addArgs, 2))
	require.NoError(t, err)
	_, stop := e.startWorker(t, taskflow.WorkerOptions{Concurrency: 2, ShutdownTimeout: 100 * time.Millisecond})
	<-started
	<-started
	qh, err := quick.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	stop()

	for _, h := range hs {
		info, err := h.Job(waitCtx(t))
		require.NoError(t, err)
		require.Equal(t, states.NameEnqueued, info.State.Name(), "an interrupted job must go back to its queue")
		require.Equal(t, "worker stopped before the job finished", info.State.Why())
	}
	info, err := qh.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, states.NameEnqueued, info.State.Name(), "a job that never started stays enqueued")
	require.Zero(t, finished.Load())

	// Another worker picks all of them up: nothing was lost.
	e.reg = taskflow.NewRegistry()
	_, err = taskflow.RegisterTask(e.reg, "slow", add)
	require.NoError(t, err)
	_, err = taskflow.RegisterTask(e.reg, "quick", add)
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	for _, id := range []uuidT{hs[0].ID, hs[1].ID, qh.ID} {
		waitState(t, e, id, states.NameSucceeded)
	}
}

func TestLongJobKeepsItsLease(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var runs atomic.Int32
	task, err := taskflow.RegisterTask(e.reg, "long", func(ctx context.Context, _ addArgs) (int, error) {
		runs.Add(1)
		select {
		case <-time.After(600 * time.Millisecond):
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	require.NoError(t, err)
	opts := taskflow.WorkerOptions{LeaseDuration: 150 * time.Millisecond}
	e.startWorker(t, opts)
	e.startWorker(t, opts) // a second worker reclaims any expired lease
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{})
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, int32(1), runs.Load(), "a job whose lease was renewed ran twice")
}

func TestJobOfDeadWorkerRunsAgain(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "add", add)
	require.NoError(t, err)
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{2, 2})
	require.NoError(t, err)
	// A worker leases the job and dies without a trace.
	got, err := e.store.Fetch(waitCtx(t), &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "dead", LeaseFor: 200 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, got, 1)

	start := time.Now()
	e.startWorker(t, taskflow.WorkerOptions{LeaseDuration: 200 * time.Millisecond})
	sum, err := h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 4, sum)
	require.Less(t, time.Since(start), 3*time.Second)
	info, err := h.Job(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 2, info.Attempt)
	require.Equal(t, "lease expired", info.History[2].State.Why())
}

func TestWorkerOptionsValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name string
		opts taskflow.WorkerOptions
		want error
	}{
		{"BadQueue", taskflow.WorkerOptions{Queues: []string{"UPPER"}}, taskflow.ErrInvalidQueue},
		{"BadFilter", taskflow.WorkerOptions{Filters: []filters.Filter{struct{ filters.Defaults }{}}}, taskflow.ErrInvalidOption},
		{"NegativeMaxRetries", taskflow.WorkerOptions{Retry: &filters.Retry{MaxRetries: -1}}, taskflow.ErrInvalidOption},
		{"ServerTimeoutWithinThreeHeartbeats", taskflow.WorkerOptions{WorkerTimeout: time.Second, HeartbeatInterval: time.Second}, taskflow.ErrInvalidOption},
		{"HeartbeatLongerThanAThirdOfTheLease", taskflow.WorkerOptions{LeaseDuration: 30 * time.Second, HeartbeatInterval: 11 * time.Second}, taskflow.ErrInvalidOption},
		{"HeartbeatOverTheLeaseDefault", taskflow.WorkerOptions{HeartbeatInterval: 20 * time.Second}, taskflow.ErrInvalidOption},
		{"ShortServerTimeoutAlone", taskflow.WorkerOptions{WorkerTimeout: time.Second}, nil},
		{"ShortLeaseAlone", taskflow.WorkerOptions{LeaseDuration: 600 * time.Millisecond}, nil},
		{"LongHeartbeatWithLongLease", taskflow.WorkerOptions{LeaseDuration: time.Minute, HeartbeatInterval: 20 * time.Second}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := taskflow.NewWorker(e.store, tt.opts)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
	_, err := taskflow.NewWorker(nil, taskflow.WorkerOptions{})
	require.ErrorIs(t, err, taskflow.ErrInvalidOption)
}

// TestJobFinishingAfterShutdownStoresItsOutcome: a job that ignores
// cancellation outlives its worker's Run. When it finishes while its lease
// still holds, its outcome is stored and it does not run again; when its
// lease expired and another worker took the job meanwhile, its late outcome
// is refused and the job's new run stands.
func TestJobFinishingAfterShutdownStoresItsOutcome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		sleep    time.Duration // how long the first run ignores its ctx
		takeOver bool          // another worker runs meanwhile and reclaims the lease
		runs     int32
	}{
		{"lease still held", 500 * time.Millisecond, false, 1},
		{"lease taken meanwhile", 1500 * time.Millisecond, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			var runs atomic.Int32
			started := make(chan struct{}, 2)
			firstDone := make(chan struct{})
			task, err := taskflow.RegisterTask(e.reg, "stubborn", func(context.Context, int) (int, error) {
				started <- struct{}{}
				n := runs.Add(1)
				if n == 1 {
					defer close(firstDone)
					time.Sleep(tc.sleep) // ignores ctx
				}
				return int(n), nil
			})
			require.NoError(t, err)
			opts := taskflow.WorkerOptions{ShutdownTimeout: 50 * time.Millisecond, LeaseDuration: 300 * time.Millisecond}
			_, stop := e.startWorker(t, opts)
			h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
			require.NoError(t, err)
			<-started
			stopped := time.Now()
			stop() // returns although the job is still running
			require.Less(t, time.Since(stopped), 400*time.Millisecond)
			if tc.takeOver {
				e.startWorker(t, opts)
			}
			<-firstDone
			got, err := h.Wait(waitCtx(t))
			require.NoError(t, err)
			time.Sleep(100 * time.Millisecond) // a late outcome would land by now
			info, err := e.client.Job(waitCtx(t), h.ID)
			require.NoError(t, err)
			require.Equal(t, states.NameSucceeded, info.State.Name())
			require.Equal(t, int(tc.runs), got, "the run whose outcome stands")
			require.Equal(t, tc.runs, runs.Load())
			require.Equal(t, 1, count(historyOf(t, info), states.NameSucceeded))
		})
	}
}

// TestLongJobsAreSharedBetweenWorkers checks that a worker does not lease
// ahead jobs it cannot start soon: with long jobs, a second worker gets its
// share.
func TestLongJobsAreSharedBetweenWorkers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var mu sync.Mutex
	perWorker := map[string]int{}
	task, err := taskflow.RegisterTask(e.reg, "long", func(ctx context.Context, _ int) (int, error) {
		rj, _ := taskflow.JobFromContext(ctx)
		info, err := e.client.Job(ctx, rj.ID)
		if err != nil {
			return 0, err
		}
		mu.Lock()
		perWorker[info.State.(states.Processing).ServerID]++
		mu.Unlock()
		time.Sleep(150 * time.Millisecond)
		return 0, nil
	})
	require.NoError(t, err)
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), make([]int, 8))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 2})
	time.Sleep(20 * time.Millisecond)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 2})
	for _, h := range hs {
		_, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, perWorker, 2)
	for id, n := range perWorker {
		require.GreaterOrEqual(t, n, 3, "worker %s ran only %d of 8 jobs", id, n)
	}
}

// TestRetryKnobsMeanTheSame: a retry count means the same wherever it is
// set: 0 is no retries, n is n retries.
func TestRetryKnobsMeanTheSame(t *testing.T) {
	t.Parallel()
	now := func(int) time.Duration { return 0 }
	tests := []struct {
		name     string
		task     []taskflow.TaskOption
		worker   *filters.Retry
		wantRuns int32
	}{
		{"MaxRetriesZero", []taskflow.TaskOption{taskflow.MaxRetries(0)}, nil, 1},
		{"PolicyZero", []taskflow.TaskOption{taskflow.WithRetry(filters.Retry{Delay: now})}, nil, 1},
		{"NoRetry", []taskflow.TaskOption{taskflow.WithRetry(filters.NoRetry)}, nil, 1},
		{"WorkerPolicyZero", nil, &filters.Retry{Delay: now}, 1},
		{"MaxRetriesTwo", []taskflow.TaskOption{taskflow.MaxRetries(2)}, &filters.Retry{MaxRetries: 5, Delay: now}, 3},
		{"PolicyTwo", []taskflow.TaskOption{taskflow.WithRetry(filters.Retry{MaxRetries: 2, Delay: now})}, nil, 3},
		{"WorkerPolicyTwo", nil, &filters.Retry{MaxRetries: 2, Delay: now}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			var runs atomic.Int32
			task, err := taskflow.RegisterTask(e.reg, "fails", func(context.Context, int) (int, error) {
				runs.Add(1)
				return 0, errors.New("nope")
			}, tt.task...)
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{Retry: tt.worker})
			h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
			require.NoError(t, err)
			_, err = h.Wait(waitCtx(t))
			require.ErrorIs(t, err, taskflow.ErrJobFailed)
			require.Equal(t, tt.wantRuns, runs.Load())
		})
	}
}
