package taskflowtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowtest"
)

// fakeT records what the kit reports; FailNow ends the goroutine, as
// testing.T's does.
type fakeT struct {
	mu     sync.Mutex
	errors []string
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeT) FailNow() {
	f.mu.Lock()
	f.failed = true
	f.mu.Unlock()
	runtime.Goexit()
}

// capture runs fn with a fakeT in its own goroutine and returns what it
// reported.
func capture(fn func(t taskflowtest.TB)) (failed bool, message string) {
	ft := &fakeT{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ft)
	}()
	<-done
	return ft.failed, strings.Join(ft.errors, "\n")
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// step is a run as the tests expect it.
type step struct {
	task    string
	attempt int
	state   states.Name
	err     error // matched with errors.Is; nil: no error
}

func requireRuns(t *testing.T, want []step, got []taskflowtest.Run) {
	t.Helper()
	require.Len(t, got, len(want), "runs: %v", got)
	for i, w := range want {
		g := got[i]
		require.Equal(t, w.task, g.Task, "run %d: %v", i, g)
		require.Equal(t, w.attempt, g.Attempt, "run %d: %v", i, g)
		require.NotNil(t, g.State, "run %d: %v", i, g)
		require.Equal(t, w.state, g.State.Name(), "run %d: %v", i, g)
		if w.err == nil {
			require.NoError(t, g.Err, "run %d", i)
		} else {
			require.ErrorIs(t, g.Err, w.err, "run %d", i)
		}
	}
}

var errFlaky = errors.New("flaky")

// TestDrainEndsAsAWorkerWould drains one job per case, and the runs it
// causes, and checks each run's end.
func TestDrainEndsAsAWorkerWould(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fn      func(context.Context, int) (int, error)
		opts    []taskflow.TaskOption
		enqueue func(ctx context.Context, c *taskflow.Client, task *taskflow.Task[int, int]) error
		want    []step
	}{
		{
			name: "Succeeds",
			fn:   func(_ context.Context, n int) (int, error) { return n, nil },
			want: []step{{"job", 1, states.NameSucceeded, nil}},
		},
		{
			name: "RetriedAtOnceUntilItSucceeds",
			fn: func(ctx context.Context, n int) (int, error) {
				if j, _ := taskflow.JobFromContext(ctx); j.Attempt < 3 {
					return 0, errFlaky
				}
				return n, nil
			},
			opts: []taskflow.TaskOption{taskflow.WithRetry(filters.Retry{MaxRetries: 5, Delay: func(int) time.Duration { return 0 }})},
			want: []step{
				{"job", 1, states.NameEnqueued, errFlaky}, {"job", 2, states.NameEnqueued, errFlaky}, {"job", 3, states.NameSucceeded, nil},
			},
		},
		{
			name: "RetryScheduledLaterWaits",
			fn:   func(context.Context, int) (int, error) { return 0, errFlaky },
			want: []step{{"job", 1, states.NameScheduled, errFlaky}},
		},
		{
			name: "PermanentError",
			fn:   func(context.Context, int) (int, error) { return 0, filters.Permanent(errFlaky) },
			want: []step{{"job", 1, states.NameFailed, errFlaky}},
		},
		{
			name: "Panic",
			fn:   func(context.Context, int) (int, error) { panic("kaboom") },
			opts: []taskflow.TaskOption{taskflow.WithRetry(filters.NoRetry)},
			want: []step{{"job", 1, states.NameFailed, taskflow.ErrPanic}},
		},
		{
			name: "BadArgs",
			fn:   func(_ context.Context, n int) (int, error) { return n, nil },
			enqueue: func(ctx context.Context, c *taskflow.Client, _ *taskflow.Task[int, int]) error {
				_, err := taskflow.Declare[string, int]("job").On(c).Enqueue(ctx, "not a number")
				return err
			},
			want: []step{{"job", 1, states.NameFailed, filters.ErrBadInput}},
		},
		{
			name: "ContinuationsRunAfterTheirParent",
			fn:   func(_ context.Context, n int) (int, error) { return n * 2, nil },
			enqueue: func(ctx context.Context, c *taskflow.Client, task *taskflow.Task[int, int]) error {
				h, err := task.On(c).Enqueue(ctx, 1)
				if err == nil {
					h, err = taskflow.Then(ctx, h, task)
				}
				if err == nil {
					_, err = taskflow.Then(ctx, h, task)
				}
				return err
			},
			want: []step{{"job", 1, states.NameSucceeded, nil}, {"job", 1, states.NameSucceeded, nil}, {"job", 1, states.NameSucceeded, nil}},
		},
		{
			name: "FailedParentDeletesItsContinuation",
			fn:   func(context.Context, int) (int, error) { return 0, errFlaky },
			opts: []taskflow.TaskOption{taskflow.WithRetry(filters.NoRetry)},
			enqueue: func(ctx context.Context, c *taskflow.Client, task *taskflow.Task[int, int]) error {
				h, err := task.On(c).Enqueue(ctx, 1)
				if err == nil {
					_, err = taskflow.Then(ctx, h, task)
				}
				return err
			},
			want: []step{{"job", 1, states.NameFailed, errFlaky}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			reg := taskflow.NewRegistry()
			task, err := taskflow.RegisterTask(reg, "job", tt.fn, tt.opts...)
			require.NoError(t, err)
			h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
			if tt.enqueue == nil {
				_, err = task.On(h.Client).Enqueue(ctx, 21)
			} else {
				err = tt.enqueue(ctx, h.Client, task)
			}
			require.NoError(t, err)

			requireRuns(t, tt.want, h.Drain(ctx))
			require.Empty(t, h.Drain(ctx), "a second Drain finds nothing due")
		})
	}
}

// TestDrainServesTheStoresOrder: by default every queue with jobs, by
// name, higher priority first, then first in first out; Worker.Queues
// chooses the queues and their order.
func TestDrainServesTheStoresOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		queues []string
		want   []string // args of the runs, in order
	}{
		{name: "EveryQueueByName", want: []string{"a-high", "a-1", "a-2", "b-high", "b-1"}},
		{name: "WorkerQueuesInTheirOrder", queues: []string{"b", "a"}, want: []string{"b-high", "b-1", "a-high", "a-1", "a-2"}},
		{name: "OnlyTheWorkersQueues", queues: []string{"b"}, want: []string{"b-high", "b-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			reg := taskflow.NewRegistry()
			echo, err := taskflow.RegisterTask(reg, "echo", func(_ context.Context, s string) (string, error) { return s, nil })
			require.NoError(t, err)
			h := taskflowtest.New(t, taskflowtest.Options{Registry: reg, Worker: taskflow.WorkerOptions{Queues: tt.queues}})
			for _, j := range []struct {
				args, queue string
				priority    int
			}{{"b-1", "b", 0}, {"a-1", "a", 0}, {"a-2", "a", 0}, {"b-high", "b", 5}, {"a-high", "a", 5}} {
				_, err := echo.On(h.Client).Enqueue(ctx, j.args, taskflow.Queue(j.queue), taskflow.Priority(j.priority))
				require.NoError(t, err)
			}
			var got []string
			for _, r := range h.Drain(ctx) {
				args, err := echo.DecodeArgs(r.Args)
				require.NoError(t, err)
				got = append(got, args)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// TestAdvanceMovesTimeWithoutRunning: each thing that waits on the clock
// becomes due exactly when the clock reaches it, and Advance runs nothing.
func TestAdvanceMovesTimeWithoutRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(ctx context.Context, t *testing.T, h *taskflowtest.Harness, task *taskflow.Task[int, int])
		due   time.Duration // when the job is due
		want  step          // the run Drain makes then
	}{
		{
			name: "DelayedJob",
			setup: func(ctx context.Context, t *testing.T, h *taskflowtest.Harness, task *taskflow.Task[int, int]) {
				_, err := task.On(h.Client).Enqueue(ctx, 1, taskflow.Delay(time.Hour))
				require.NoError(t, err)
			},
			due: time.Hour, want: step{"job", 1, states.NameSucceeded, nil},
		},
		{
			name: "Retry",
			setup: func(ctx context.Context, t *testing.T, h *taskflowtest.Harness, task *taskflow.Task[int, int]) {
				_, err := task.On(h.Client).Enqueue(ctx, -1) // fails the first time
				require.NoError(t, err)
				requireRuns(t, []step{{"job", 1, states.NameScheduled, errFlaky}}, h.Drain(ctx))
			},
			due: 10 * time.Minute, want: step{"job", 2, states.NameSucceeded, nil},
		},
		{
			name: "RecurringJob",
			setup: func(ctx context.Context, t *testing.T, h *taskflowtest.Harness, task *taskflow.Task[int, int]) {
				require.NoError(t, task.On(h.Client).AddRecurring(ctx, "daily", "0 6 * * *", 1))
			},
			due: 6 * time.Hour, want: step{"job", 1, states.NameSucceeded, nil},
		},
		{
			name: "ExpiredLease",
			setup: func(ctx context.Context, t *testing.T, h *taskflowtest.Harness, task *taskflow.Task[int, int]) {
				_, err := task.On(h.Client).Enqueue(ctx, 1)
				require.NoError(t, err)
				// A worker leases it for 30 seconds, then dies.
				got, err := h.Store.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "dead",
					LeaseFor: 30 * time.Second, Now: h.Clock.Now()})
				require.NoError(t, err)
				require.Len(t, got, 1)
			},
			due: 30 * time.Second, want: step{"job", 2, states.NameSucceeded, nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			reg := taskflow.NewRegistry()
			task, err := taskflow.RegisterTask(reg, "job", func(ctx context.Context, n int) (int, error) {
				if j, _ := taskflow.JobFromContext(ctx); n < 0 && j.Attempt == 1 {
					return 0, errFlaky
				}
				return n, nil
			}, taskflow.WithRetry(filters.Retry{MaxRetries: 1, Delay: func(int) time.Duration { return 10 * time.Minute }}))
			require.NoError(t, err)
			h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
			start := h.Clock.Now()
			tt.setup(ctx, t, h, task)

			h.Advance(ctx, tt.due-time.Second)
			require.Empty(t, h.Drain(ctx), "nothing is due a second early")
			h.Advance(ctx, time.Second)
			require.Equal(t, start.Add(tt.due), h.Clock.Now())
			runs := h.Drain(ctx)
			requireRuns(t, []step{tt.want}, runs)
			require.Equal(t, start.Add(tt.due), runs[0].At)
		})
	}
}

// TestRunForRunsEachDueTimeAtItsTime: retries and recurring occurrences
// in the span run at their own times, in order; the clock ends at the
// span's end.
func TestRunForRunsEachDueTimeAtItsTime(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := taskflow.NewRegistry()
	flaky, err := taskflow.RegisterTask(reg, "flaky", func(context.Context, int) (int, error) { return 0, errFlaky },
		taskflow.WithRetry(filters.Retry{MaxRetries: 2, Delay: func(n int) time.Duration { return time.Duration(n) * 10 * time.Minute }}))
	require.NoError(t, err)
	tick, err := taskflow.RegisterTask(reg, "tick", func(context.Context, int) (int, error) { return 0, nil })
	require.NoError(t, err)
	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	start := h.Clock.Now()
	_, err = flaky.On(h.Client).Enqueue(ctx, 1)
	require.NoError(t, err)
	require.NoError(t, tick.On(h.Client).AddRecurring(ctx, "every-25m", "@every 25m", 1))

	runs := h.RunFor(ctx, time.Hour)
	type at struct {
		min  int
		task string
		st   states.Name
	}
	var got []at
	for _, r := range runs {
		got = append(got, at{int(r.At.Sub(start) / time.Minute), r.Task, r.State.Name()})
	}
	require.Equal(t, []at{
		{0, "flaky", states.NameScheduled},
		{10, "flaky", states.NameScheduled},
		{25, "tick", states.NameSucceeded},
		{30, "flaky", states.NameFailed},
		{50, "tick", states.NameSucceeded},
	}, got)
	require.Equal(t, start.Add(time.Hour), h.Clock.Now())
}

// TestTaskThatMovesTheClockKeepsItsJob: a task that lets time pass while
// it runs, as a long job would, keeps its lease, as on a live worker.
func TestTaskThatMovesTheClockKeepsItsJob(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := taskflow.NewRegistry()
	var h *taskflowtest.Harness
	slow, err := taskflow.RegisterTask(reg, "slow", func(ctx context.Context, _ int) (int, error) {
		h.Advance(ctx, 2*time.Hour)
		return 0, nil
	})
	require.NoError(t, err)
	h = taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	_, err = slow.On(h.Client).Enqueue(ctx, 1)
	require.NoError(t, err)
	requireRuns(t, []step{{"slow", 1, states.NameSucceeded, nil}}, h.Drain(ctx))
}

// TestRunForADayTakesNoRealTime: a day of a recurring job every minute
// (1440 runs) passes without sleeping.
func TestRunForADayTakesNoRealTime(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := taskflow.NewRegistry()
	tick, err := taskflow.RegisterTask(reg, "tick", func(context.Context, int) (int, error) { return 0, nil })
	require.NoError(t, err)
	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	require.NoError(t, tick.On(h.Client).AddRecurring(ctx, "minutely", "* * * * *", 1))
	began := time.Now()
	require.Len(t, h.RunFor(ctx, 24*time.Hour), 24*60)
	require.Less(t, time.Since(began), 15*time.Second)
}

// TestHarnessFailures: misuse fails the test with a message naming it.
func TestHarnessFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(ctx context.Context, t taskflowtest.TB)
		want []string // substrings of the message
	}{
		{
			name: "JobThatEnqueuesItself",
			run: func(ctx context.Context, t taskflowtest.TB) {
				reg := taskflow.NewRegistry()
				var again *taskflow.Task[int, int]
				var h *taskflowtest.Harness
				again, _ = taskflow.RegisterTask(reg, "again", func(ctx context.Context, n int) (int, error) {
					_, err := again.On(h.Client).Enqueue(ctx, n+1)
					return n, err
				})
				h = taskflowtest.New(t, taskflowtest.Options{Registry: reg, MaxRuns: 50})
				_, _ = again.On(h.Client).Enqueue(ctx, 1)
				h.Drain(ctx)
			},
			want: []string{"more than 50 jobs ran in one call (MaxRuns)", "again ", "args 51 → succeeded"},
		},
		{
			name: "TaskWithNoFunction",
			run: func(ctx context.Context, t taskflowtest.TB) {
				h := taskflowtest.New(t, taskflowtest.Options{Registry: taskflow.NewRegistry()})
				_, _ = taskflow.Declare[int, int]("elsewhere").On(h.Client).Enqueue(ctx, 1)
				h.Drain(ctx)
			},
			want: []string{`task "elsewhere" has no function in the harness's registry`},
		},
		{
			name: "AdvanceBackwards",
			run: func(ctx context.Context, t taskflowtest.TB) {
				taskflowtest.New(t, taskflowtest.Options{}).Advance(ctx, -time.Second)
			},
			want: []string{"Advance(-1s): the clock only moves forward"},
		},
		{
			name: "InvalidWorkerOptions",
			run: func(_ context.Context, t taskflowtest.TB) {
				taskflowtest.New(t, taskflowtest.Options{Worker: taskflow.WorkerOptions{Queues: []string{"Bad Queue"}}})
			},
			want: []string{"taskflowtest: worker:", `"Bad Queue"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			failed, msg := capture(func(ft taskflowtest.TB) { tt.run(ctx, ft) })
			require.True(t, failed)
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

// TestDrainOrderAfterPromotion: a job that became due in a queue named
// first runs first, whatever the queues held before.
func TestDrainOrderAfterPromotion(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := taskflow.NewRegistry()
	echo, err := taskflow.RegisterTask(reg, "echo", func(_ context.Context, s string) (string, error) { return s, nil })
	require.NoError(t, err)
	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	_, err = echo.On(h.Client).Enqueue(ctx, "zeta", taskflow.Queue("zeta"))
	require.NoError(t, err)
	require.Len(t, h.Drain(ctx), 1)
	_, err = echo.On(h.Client).Enqueue(ctx, "zeta-2", taskflow.Queue("zeta"))
	require.NoError(t, err)
	_, err = echo.On(h.Client).Enqueue(ctx, "alpha", taskflow.Delay(time.Minute), taskflow.Queue("alpha"))
	require.NoError(t, err)
	h.Advance(ctx, time.Minute)
	var got []string
	for _, r := range h.Drain(ctx) {
		args, err := echo.DecodeArgs(r.Args)
		require.NoError(t, err)
		got = append(got, args)
	}
	require.Equal(t, []string{"alpha", "zeta-2"}, got)
}

// TestRunForNeverMovesTheClockBack: a task that moved the clock past the
// end of RunFor keeps that time.
func TestRunForNeverMovesTheClockBack(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	reg := taskflow.NewRegistry()
	var h *taskflowtest.Harness
	slow, err := taskflow.RegisterTask(reg, "slow", func(context.Context, int) (int, error) {
		h.Clock.Advance(2 * time.Hour)
		return 0, nil
	})
	require.NoError(t, err)
	h = taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	_, err = slow.On(h.Client).Enqueue(ctx, 1)
	require.NoError(t, err)
	start := h.Clock.Now()
	h.RunFor(ctx, time.Hour)
	require.Equal(t, start.Add(2*time.Hour), h.Clock.Now())
}
