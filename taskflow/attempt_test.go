package taskflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
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
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// TestTakenAttemptIsCancelledWithItsCause takes a running job from its
// attempt in each way a client can; the attempt's context is cancelled
// within about a second with a cause naming why, its outcome is discarded,
// and the job's new state stands (a requeued or rescheduled job runs again
// as attempt 2).
func TestTakenAttemptIsCancelledWithItsCause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		act       func(ctx context.Context, c *taskflow.Client, id uuid.UUID) error
		wantCause error
		wantFinal states.Name
		wantHist  []states.Name
	}{
		{
			name:      "Requeue",
			act:       func(ctx context.Context, c *taskflow.Client, id uuid.UUID) error { return c.Requeue(ctx, id) },
			wantCause: taskflow.ErrJobRequeued, wantFinal: states.NameSucceeded,
			wantHist: []states.Name{states.NameEnqueued, states.NameProcessing, states.NameEnqueued, states.NameProcessing, states.NameSucceeded},
		},
		{
			name: "Reschedule",
			act: func(ctx context.Context, c *taskflow.Client, id uuid.UUID) error {
				return c.Reschedule(ctx, id, time.Now().Add(50*time.Millisecond))
			},
			wantCause: taskflow.ErrJobRescheduled, wantFinal: states.NameSucceeded,
			wantHist: []states.Name{states.NameEnqueued, states.NameProcessing, states.NameScheduled, states.NameEnqueued, states.NameProcessing, states.NameSucceeded},
		},
		{
			name:      "Delete",
			act:       func(ctx context.Context, c *taskflow.Client, id uuid.UUID) error { return c.Delete(ctx, id) },
			wantCause: taskflow.ErrJobDeleted, wantFinal: states.NameDeleted,
			wantHist: []states.Name{states.NameEnqueued, states.NameProcessing, states.NameDeleted},
		},
		{
			name: "ChangeStateToFailed",
			act: func(ctx context.Context, c *taskflow.Client, id uuid.UUID) error {
				return c.ChangeState(ctx, id, states.Failed{FailedAt: time.Now(), ErrorMessage: "stopped by an operator"}, states.NameProcessing)
			},
			wantCause: taskflow.ErrJobStateChanged, wantFinal: states.NameFailed,
			wantHist: []states.Name{states.NameEnqueued, states.NameProcessing, states.NameFailed},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			started := make(chan struct{})
			type cancellation struct {
				at    time.Time
				cause error
			}
			canceled := make(chan cancellation, 1)
			task, err := taskflow.RegisterTask(e.reg, "long", func(ctx context.Context, _ int) (int, error) {
				job, _ := taskflow.JobFromContext(ctx)
				if job.Attempt > 1 {
					return job.Attempt, nil
				}
				close(started)
				<-ctx.Done()
				canceled <- cancellation{time.Now(), context.Cause(ctx)}
				return 0, ctx.Err() // discarded: the job is no longer this attempt's
			})
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{Concurrency: 2})
			h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
			require.NoError(t, err)
			<-started
			require.NoError(t, tt.act(waitCtx(t), e.client, h.ID))
			acted := time.Now()
			select {
			case c := <-canceled:
				require.Less(t, c.at.Sub(acted), 1500*time.Millisecond)
				require.ErrorIs(t, c.cause, tt.wantCause)
				require.ErrorContains(t, c.cause, h.ID.String(), "the cause names the job")
			case <-time.After(5 * time.Second):
				t.Fatal("the taken attempt's context was not cancelled")
			}
			waitState(t, e, h.ID, tt.wantFinal)
			time.Sleep(50 * time.Millisecond) // a late outcome of attempt 1 would show now
			info, err := e.client.Job(waitCtx(t), h.ID)
			require.NoError(t, err)
			require.Equal(t, tt.wantHist, historyOf(t, info))
			if tt.wantFinal == states.NameSucceeded {
				n, err := h.Wait(waitCtx(t))
				require.NoError(t, err)
				require.Equal(t, 2, n, "the result is the second attempt's")
			}
		})
	}
}

// TestStaleAttemptLeavesTheNewAttemptAlone requeues a running job whose
// attempt ignores cancellation; the same worker runs the job again while
// the old attempt still runs. When the old attempt ends it must not drop the
// new attempt's lease: the new attempt, longer than a lease, keeps it and
// the job succeeds on attempt 2, not reclaimed and run again.
func TestStaleAttemptLeavesTheNewAttemptAlone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	started := make(chan struct{})
	var (
		mu    sync.Mutex
		runs  []int
		cause error
	)
	task, err := taskflow.RegisterTask(e.reg, "stubborn", func(ctx context.Context, _ int) (int, error) {
		job, _ := taskflow.JobFromContext(ctx)
		mu.Lock()
		runs = append(runs, job.Attempt)
		mu.Unlock()
		if job.Attempt == 1 {
			close(started)
			time.Sleep(1500 * time.Millisecond) // ignores ctx
			mu.Lock()
			cause = context.Cause(ctx)
			mu.Unlock()
			return 1, nil
		}
		select {
		case <-time.After(2500 * time.Millisecond):
			return job.Attempt, nil
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	}, taskflow.MaxRetries(0))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 2, LeaseDuration: time.Second})
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	<-started
	require.NoError(t, e.client.Requeue(waitCtx(t), h.ID))
	n, err := h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []int{1, 2}, runs, "the job ran again while its new attempt still ran")
	require.ErrorIs(t, cause, taskflow.ErrJobRequeued)
}

// TestRequeueOfRunningJobsOnOneWorker is the loop that crashed a worker:
// one executor, warmed up, then enqueue, wait, requeue the running job,
// round after round. Every job ends Succeeded exactly once.
func TestRequeueOfRunningJobsOnOneWorker(t *testing.T) {
	t.Parallel()
	e := setup(t)
	noop, err := taskflow.RegisterTask(e.reg, "noop", func(context.Context, int) (int, error) { return 0, nil })
	require.NoError(t, err)
	work, err := taskflow.RegisterTask(e.reg, "work", func(ctx context.Context, _ int) (int, error) {
		select {
		case <-time.After(80 * time.Millisecond):
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 1})
	ctx := waitCtx(t)
	warm := make([]int, 1000)
	hs, err := noop.On(e.client).EnqueueMany(ctx, warm)
	require.NoError(t, err)
	for _, h := range hs {
		_, err := h.Wait(ctx)
		require.NoError(t, err)
	}
	var ids []uuid.UUID
	for range 40 {
		h, err := work.On(e.client).Enqueue(ctx, 1)
		require.NoError(t, err)
		ids = append(ids, h.ID)
		time.Sleep(50 * time.Millisecond)
		if err := e.client.Requeue(ctx, h.ID); err != nil {
			require.ErrorIs(t, err, taskflow.ErrStateConflict)
		}
	}
	for _, id := range ids {
		info := waitState(t, e, id, states.NameSucceeded)
		n := 0
		for _, s := range historyOf(t, info) {
			if s == states.NameSucceeded {
				n++
			}
		}
		require.Equal(t, 1, n, "job %s: %v", id, historyOf(t, info))
	}
}

// TestLiveWorkerIsNeverTakenForDead sets only a short WorkerTimeout: the
// heartbeat is derived to fit, so the watchdog never removes a live worker
// and requeues its running jobs.
func TestLiveWorkerIsNeverTakenForDead(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "slow", func(ctx context.Context, _ int) (int, error) {
		select {
		case <-time.After(2500 * time.Millisecond):
			job, _ := taskflow.JobFromContext(ctx)
			return job.Attempt, nil
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	}, taskflow.MaxRetries(0))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{WorkerTimeout: time.Second})
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), []int{1, 2, 3, 4})
	require.NoError(t, err)
	for _, h := range hs {
		n, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
		require.Equal(t, 1, n, "the job ran again")
	}
}

// TestMaxRetriesKeepsTheWorkersPolicy: a per-task retry count changes the
// count only; the worker's delay and WhenExhausted still apply.
func TestMaxRetriesKeepsTheWorkersPolicy(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "fails", func(context.Context, int) (int, error) {
		return 0, errors.New("always")
	}, taskflow.MaxRetries(2))
	require.NoError(t, err)
	policy := retryNow(5)
	policy.WhenExhausted = filters.DeleteWhenExhausted
	e.startWorker(t, taskflow.WorkerOptions{Retry: &policy})
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	info := waitState(t, e, h.ID, states.NameDeleted) // not Scheduled for Hangfire's 15-44 s
	require.Equal(t, 3, info.Attempt, "MaxRetries(2): three runs")
}

// TestUrgentJobsJumpLeasedAheadWork: a worker leases ahead a backlog of low
// priority work; high priority jobs enqueued later, more at once than one
// urgent fetch takes, start after the attempts already running, not after
// everything leased ahead, nor after the rest of the backlog.
func TestUrgentJobsJumpLeasedAheadWork(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var (
		mu       sync.Mutex
		order    []int // 0 for low priority, 1 for urgent
		urgentAt int   // how many jobs had started when the urgent ones were enqueued
	)
	task, err := taskflow.RegisterTask(e.reg, "step", func(_ context.Context, urgent int) (int, error) {
		mu.Lock()
		order = append(order, urgent)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return 0, nil
	})
	require.NoError(t, err)
	_, err = task.On(e.client).EnqueueMany(waitCtx(t), make([]int, 3000))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 2})
	time.Sleep(500 * time.Millisecond) // the finish rate is known: the worker leases about 100 ms ahead
	mu.Lock()
	urgentAt = len(order)
	mu.Unlock()
	const urgent = 20 // ten times what one urgent fetch takes (Concurrency)
	urgentArgs := make([]int, urgent)
	for i := range urgentArgs {
		urgentArgs[i] = 1
	}
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), urgentArgs, taskflow.Priority(10))
	require.NoError(t, err)
	mu.Lock()
	enqueuedAt := len(order) // jobs kept starting while EnqueueMany ran, as long as a busy machine made it
	mu.Unlock()
	for _, h := range hs {
		_, err = h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	mu.Lock()
	defer mu.Unlock()
	var pos []int
	for i, u := range order {
		if u == 1 {
			pos = append(pos, i)
		}
	}
	require.Len(t, pos, urgent)
	require.GreaterOrEqual(t, pos[0], urgentAt)
	// At about 1,000 jobs/s the worker holds about 100 leased ahead; the
	// urgent jobs may wait for the two running and an urgent fetch, not
	// for those, nor for the rest of the backlog.
	require.Less(t, pos[urgent-1]-enqueuedAt, urgent+40, "the urgent jobs waited behind %d low priority jobs", pos[urgent-1]-enqueuedAt-urgent)
}

// unreachableStore fails every call, as a store behind a dead network does.
type unreachableStore struct{ storage.Store }

var errUnreachable = errors.New("dial tcp 127.0.0.1:5432: connection refused")

func (unreachableStore) ExtendLeases(context.Context, *storage.ExtendParams) ([]storage.LostLease, error) {
	return nil, errUnreachable
}

func (unreachableStore) Fetch(context.Context, *storage.FetchParams) ([]*storage.Job, error) {
	return nil, errUnreachable
}

// TestWorkerRunFailsAtOnceWithoutItsStore: Run returns the store's error
// instead of logging warnings forever.
func TestWorkerRunFailsAtOnceWithoutItsStore(t *testing.T) {
	t.Parallel()
	e := setup(t)
	w, err := taskflow.NewWorker(unreachableStore{e.store}, e.opts(taskflow.WorkerOptions{}))
	require.NoError(t, err)
	err = w.Run(waitCtx(t))
	require.ErrorIs(t, err, errUnreachable)
	require.ErrorContains(t, err, w.ID())
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(s.b.Bytes()), []byte("\n")) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m))
		out = append(out, m)
	}
	return out
}

// TestFailedAttemptsAreLogged: each failed attempt is logged through the
// worker's logger with the job's id, task, queue and attempt: a warning
// while retries remain, an error when the job failed for good.
func TestFailedAttemptsAreLogged(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var logs syncBuffer
	task, err := taskflow.RegisterTask(e.reg, "flaky", func(context.Context, int) (int, error) {
		panic("out of paper")
	}, taskflow.MaxRetries(1))
	require.NoError(t, err)
	policy := retryNow(5)
	e.startWorker(t, taskflow.WorkerOptions{Queues: []string{"printing"}, Retry: &policy, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	h, err := task.On(e.client).Enqueue(waitCtx(t), 1, taskflow.Queue("printing"))
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.ErrorIs(t, err, taskflow.ErrJobFailed)
	var failures []map[string]any
	require.Eventually(t, func() bool {
		failures = failures[:0]
		for _, r := range logs.records(t) {
			if r["job_id"] == h.ID.String() {
				failures = append(failures, r)
			}
		}
		return len(failures) == 2
	}, 5*time.Second, 10*time.Millisecond)
	// Outcomes are logged once stored, by the completer, so the second
	// attempt's may come first.
	slices.SortFunc(failures, func(a, b map[string]any) int { return int(a["attempt"].(float64) - b["attempt"].(float64)) })
	for i, want := range []struct{ level, state string }{{"WARN", "enqueued"}, {"ERROR", "failed"}} {
		r := failures[i]
		require.Equal(t, want.level, r["level"])
		require.Equal(t, want.state, r["state"])
		require.Equal(t, "flaky", r["task"])
		require.Equal(t, "printing", r["queue"])
		require.EqualValues(t, i+1, r["attempt"])
		require.Equal(t, true, r["panic"])
		require.Contains(t, r["err"], "out of paper")
	}
}

// TestEmptyBatchIsAnError: a batch with no jobs would have an ID that
// names nothing, and a continuation of it would wait forever.
func TestEmptyBatchIsAnError(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "part", add)
	require.NoError(t, err)
	for _, args := range [][]addArgs{nil, {}} {
		b, err := task.On(e.client).EnqueueBatch(waitCtx(t), args)
		require.ErrorIs(t, err, taskflow.ErrInvalidOption)
		require.Nil(t, b)
	}
}

// TestUnknownTaskWaitsForAWorkerThatKnowsIt: during a rolling deploy a
// worker meets a job of a task it does not know yet. The job is not failed:
// it is scheduled again, with a reason saying so, and a worker that knows
// the task runs it.
func TestUnknownTaskWaitsForAWorkerThatKnowsIt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, stopOld := e.startWorker(t, taskflow.WorkerOptions{Registry: taskflow.NewRegistry(), ID: "old-release"})
	id := createRaw(t, e, "new-task", `{"A":1,"B":2}`)()
	info := waitState(t, e, id, states.NameScheduled)
	require.Contains(t, info.State.Why(), `"new-task"`)
	require.Contains(t, info.State.Why(), "old-release")
	require.Contains(t, info.State.Why(), "waiting for a worker that knows it")
	require.Greater(t, time.Until(info.State.(states.Scheduled).EnqueueAt), time.Second)
	stopOld()

	_, err := taskflow.RegisterTask(e.reg, "new-task", add)
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{ID: "new-release"})
	require.NoError(t, e.client.Requeue(waitCtx(t), id)) // rather than wait for the pause to pass
	info = waitState(t, e, id, states.NameSucceeded)
	require.NotContains(t, historyOf(t, info), states.NameFailed)
	require.JSONEq(t, "3", string(info.State.(states.Succeeded).Result))
}

// TestRecurringJobsGetTheTasksAndTheDefinitionsSettings: options given to
// AddRecurring, and the task's own defaults, reach the jobs a definition
// spawns, as they reach enqueued ones.
func TestRecurringJobsGetTheTasksAndTheDefinitionsSettings(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "report", add,
		taskflow.Queue("reports"), taskflow.Param("team", "core"), taskflow.UniqueByArgs())
	require.NoError(t, err)
	ctx := waitCtx(t)
	require.NoError(t, task.On(e.client).AddRecurring(ctx, "acme-report", "@daily", addArgs{1, 2},
		taskflow.Param("tenant", "acme"), taskflow.Timeout(2*time.Second), taskflow.Priority(3)))

	id, err := e.client.TriggerRecurring(ctx, "acme-report")
	require.NoError(t, err)
	info, err := e.client.Job(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "reports", info.Queue)
	require.Equal(t, 3, info.Priority)
	require.JSONEq(t, `"core"`, string(info.Params["team"]), "the task's parameter")
	require.JSONEq(t, `"acme"`, string(info.Params["tenant"]), "the definition's parameter")
	require.JSONEq(t, `2000000000`, string(info.Params["taskflow.timeout"]), "the definition's timeout")
	require.JSONEq(t, `"acme-report"`, string(info.Params["taskflow.recurring_id"]))

	again, err := e.client.TriggerRecurring(ctx, "acme-report")
	require.NoError(t, err)
	require.Equal(t, id, again, "unique by args, as the task says: the pending job stands for the new one")
}

// electRecorder records the elections and applied changes it sees.
type electRecorder struct {
	filters.Defaults
	mu      sync.Mutex
	elected []string // "from>to"
	applied []string
}

func (r *electRecorder) OnStateElection(_ context.Context, c *filters.ElectStateContext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.elected = append(r.elected, string(c.From)+">"+string(c.Candidate().Name()))
}

func (r *electRecorder) OnStateApplied(_ context.Context, c *filters.ApplyStateContext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied = append(r.applied, string(c.From)+">"+string(c.State.Name()))
}

func (r *electRecorder) seen() ([]string, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.elected), slices.Clone(r.applied)
}

// TestJobControlAndShutdownAreElectedThroughTheTasksFilters: state changes
// that a client or a stopping worker makes go through the task's own
// elect-state and apply-state filters, as a worker's outcomes do.
func TestJobControlAndShutdownAreElectedThroughTheTasksFilters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	rec := &electRecorder{}
	started := make(chan struct{}, 1)
	task, err := taskflow.RegisterTask(e.reg, "watched", func(ctx context.Context, _ int) (int, error) {
		started <- struct{}{}
		<-ctx.Done()
		return 0, ctx.Err()
	}, taskflow.WithFilters(rec))
	require.NoError(t, err)
	c, err := taskflow.NewClient(e.store, taskflow.ClientOptions{Registry: e.reg})
	require.NoError(t, err)
	ctx := waitCtx(t)

	h, err := task.On(c).Enqueue(ctx, 1, taskflow.Delay(time.Hour))
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, h.ID))
	elected, applied := rec.seen()
	require.Contains(t, elected, "scheduled>deleted", "Delete was not elected through the task's filters")
	require.Contains(t, applied, "scheduled>deleted")

	h, err = task.On(c).Enqueue(ctx, 2)
	require.NoError(t, err)
	_, stop := e.startWorker(t, taskflow.WorkerOptions{ShutdownTimeout: 50 * time.Millisecond})
	<-started
	stop() // the running job is cancelled and requeued
	info, err := c.Job(ctx, h.ID)
	require.NoError(t, err)
	require.Equal(t, states.NameEnqueued, info.State.Name())
	elected, applied = rec.seen()
	require.Contains(t, elected, "processing>enqueued", "the shutdown requeue was not elected")
	require.Contains(t, applied, "processing>enqueued")
}

// TestDeclareAndBind: a task declared without its function registers
// nothing; Bind registers it once per registry.
func TestDeclareAndBind(t *testing.T) {
	t.Parallel()
	task := taskflow.Declare[addArgs, int]("declared-add")
	require.Equal(t, "declared-add", task.Name())
	reg := taskflow.NewRegistry()
	require.Empty(t, reg.Names(), "Declare registered something")
	require.NoError(t, task.Bind(reg, add))
	require.Equal(t, []string{"declared-add"}, reg.Names())
	require.ErrorIs(t, task.Bind(reg, add), taskflow.ErrDuplicateTask)
	require.ErrorIs(t, task.Bind(nil, add), taskflow.ErrInvalidOption)
	require.ErrorIs(t, task.Bind(taskflow.NewRegistry(), nil), taskflow.ErrInvalidOption)
	require.Panics(t, func() { taskflow.Declare[addArgs, int]("bad name") })
	require.Panics(t, func() { taskflow.Declare[addArgs, int]("t", taskflow.Timeout(-1)) })
}

// requiredOnly is a store with the required part of the contract only.
type requiredOnly struct{ storage.Store }

// TestRequiredOnlyStore: on a store that implements only storage.Store,
// plain jobs run, and each feature that needs an optional capability
// returns ErrNotSupported naming it, storing nothing.
func TestRequiredOnlyStore(t *testing.T) {
	t.Parallel()
	e := setup(t)
	store := requiredOnly{e.store}
	task, err := taskflow.RegisterTask(e.reg, "sum", add)
	require.NoError(t, err)
	c := rig.Start(t, store, rig.Options{Worker: e.opts(taskflow.WorkerOptions{})}).Client
	ctx := waitCtx(t)

	h, err := task.On(c).Enqueue(ctx, addArgs{1, 2})
	require.NoError(t, err)
	sum, err := h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, sum)

	b := task.On(c)
	for _, tc := range []struct {
		name, want string
		call       func() error
	}{
		{"Unique", "storage.UniqueKeys", func() error { _, err := b.Enqueue(ctx, addArgs{}, taskflow.Unique("k")); return err }},
		{"ContinueWith", "storage.Continuations", func() error { _, err := b.ContinueWith(ctx, h.ID, addArgs{}); return err }},
		{"Then", "storage.Continuations", func() error {
			next, err := taskflow.RegisterTask(e.reg, "next", func(context.Context, int) (int, error) { return 0, nil })
			require.NoError(t, err)
			_, err = taskflow.Then(ctx, h, next)
			return err
		}},
		{"EnqueueBatch", "storage.Batches", func() error { _, err := b.EnqueueBatch(ctx, []addArgs{{}}); return err }},
		{"AddRecurring", "storage.Recurring", func() error { return b.AddRecurring(ctx, "r", "@daily", addArgs{}) }},
		{"TriggerRecurring", "storage.Recurring", func() error { _, err := c.TriggerRecurring(ctx, "r"); return err }},
		{"PauseQueue", "storage.Queues", func() error { return c.PauseQueue(ctx, "default") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			require.ErrorIs(t, err, taskflow.ErrNotSupported)
			require.ErrorContains(t, err, "the store implements no "+tc.want)
		})
	}
}

// stamp is a client filter that marks the jobs it sees created.
type stamp struct {
	filters.Defaults
	created atomic.Int32
}

func (s *stamp) OnCreating(_ context.Context, c *filters.CreatingContext) error {
	c.SetParam("stamped", json.RawMessage(`true`))
	return nil
}

func (s *stamp) OnCreated(_ context.Context, c *filters.CreatedContext) {
	if c.Err == nil {
		s.created.Add(1)
	}
}

// TestRecurringJobsPassTheClientFilters: jobs a worker fires on schedule
// pass the task's client filters, as enqueued ones do.
func TestRecurringJobsPassTheClientFilters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := &stamp{}
	task, err := taskflow.RegisterTask(e.reg, "stamped", add, taskflow.WithFilters(f))
	require.NoError(t, err)
	ctx := waitCtx(t)
	require.NoError(t, task.On(e.client).AddRecurring(ctx, "every-second", "@every 1s", addArgs{1, 1}))
	e.startWorker(t, taskflow.WorkerOptions{})
	var def *taskflow.RecurringJob
	require.Eventually(t, func() bool {
		def, err = e.client.RecurringJob(ctx, "every-second")
		return err == nil && def.LastJobID != uuid.Nil
	}, 5*time.Second, 10*time.Millisecond)
	info, err := e.client.Job(ctx, def.LastJobID)
	require.NoError(t, err)
	require.JSONEq(t, `true`, string(info.Params["stamped"]), "OnCreating did not see the fired job")
	require.Eventually(t, func() bool { return f.created.Load() >= 1 }, time.Second, time.Millisecond, "OnCreated was not told")
}

// countingStore counts the reads of a store.
type countingStore struct {
	*memstore.Store
	gets, peeks atomic.Int32
}

func (c *countingStore) Get(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	c.gets.Add(1)
	return c.Store.Get(ctx, id)
}

func (c *countingStore) Peek(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	c.peeks.Add(1)
	return c.Store.Peek(ctx, id)
}

// TestWaitReadsTheStateAndIsWokenWhenTheJobFinishes: a waiting handle
// reads the job's state only (no history), backs off while the job runs,
// and is woken by the store when it finishes instead of polling.
func TestWaitReadsTheStateAndIsWokenWhenTheJobFinishes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var returned atomic.Int64
	task, err := taskflow.RegisterTask(e.reg, "slow", func(context.Context, int) (int, error) {
		time.Sleep(2500 * time.Millisecond)
		returned.Store(time.Now().UnixNano())
		return 7, nil
	})
	require.NoError(t, err)
	store := &countingStore{Store: e.store}
	c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{})
	h, err := task.On(c).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	n, err := h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 7, n)
	late := time.Since(time.Unix(0, returned.Load()))
	require.Less(t, late, 500*time.Millisecond, "Wait was not woken when the job finished")
	require.Zero(t, store.gets.Load(), "Wait read the history")
	require.Less(t, store.peeks.Load(), int32(20), "Wait polled instead of waiting for the wake-up")
}
