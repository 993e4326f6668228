package taskflow_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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

// seenAttempts records the attempt number each run of a job saw.
type seenAttempts struct {
	mu   sync.Mutex
	runs map[uuid.UUID][]int
}

func (s *seenAttempts) add(ctx context.Context) int {
	job, _ := taskflow.JobFromContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runs == nil {
		s.runs = map[uuid.UUID][]int{}
	}
	s.runs[job.ID] = append(s.runs[job.ID], job.Attempt)
	return len(s.runs[job.ID])
}

func (s *seenAttempts) of(id uuid.UUID) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.runs[id])
}

// TestBouncesSpendNoAttempt: a job bounced by workers that do not know its
// task, as in a rolling deploy, keeps its attempts and retries for its real
// runs. With one retry allowed, its first real failure is retried, and the
// task sees attempts 1 and 2.
func TestBouncesSpendNoAttempt(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, stopOld := e.startWorker(t, taskflow.WorkerOptions{Registry: taskflow.NewRegistry(), ID: "old-release",
		UnknownTaskTimeout: time.Second}) // bounces 20–100 ms apart
	id := createRaw(t, e, "flaky", `1`)()
	deadline := time.Now().Add(10 * time.Second)
	for bounces := 0; bounces < 4; {
		require.True(t, time.Now().Before(deadline), "the job did not bounce")
		info, err := e.client.Job(waitCtx(t), id)
		require.NoError(t, err)
		if info.State.Name() == states.NameScheduled {
			require.Zero(t, info.Attempt, "a bounce spent an attempt")
		}
		bounces = count(historyOf(t, info), states.NameScheduled)
		time.Sleep(5 * time.Millisecond)
	}
	stopOld()

	var seen seenAttempts
	_, err := taskflow.RegisterTask(e.reg, "flaky", func(ctx context.Context, _ int) (int, error) {
		if seen.add(ctx) == 1 {
			return 0, errors.New("first real run fails")
		}
		return 1, nil
	}, taskflow.MaxRetries(1), instantRetry(1))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{ID: "new-release"})
	require.NoError(t, e.client.Requeue(waitCtx(t), id)) // rather than wait for the pause to pass
	info := waitState(t, e, id, states.NameSucceeded)
	require.Equal(t, []int{1, 2}, seen.of(id))
	require.Equal(t, 2, info.Attempt)
}

// TestUnknownTaskFailsAfterUnknownTaskTimeout: a job whose task no worker
// knows waits UnknownTaskTimeout, bouncing without spending attempts, then
// fails with a reason naming the task; a negative timeout waits forever.
func TestUnknownTaskFailsAfterUnknownTaskTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		fails   bool
	}{
		{"bounded", 300 * time.Millisecond, true},
		{"forever", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.startWorker(t, taskflow.WorkerOptions{ID: "w", UnknownTaskTimeout: tc.timeout})
			id := createRaw(t, e, "misspelt-task", `1`)()
			if !tc.fails {
				waitState(t, e, id, states.NameScheduled)
				time.Sleep(500 * time.Millisecond)
				info, err := e.client.Job(waitCtx(t), id)
				require.NoError(t, err)
				require.Equal(t, states.NameScheduled, info.State.Name())
				return
			}
			start := time.Now()
			info := waitState(t, e, id, states.NameFailed)
			require.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond, "failed before its timeout")
			failed := info.State.(states.Failed)
			require.Contains(t, failed.ErrorMessage, `"misspelt-task"`)
			require.Contains(t, failed.Reason, `"misspelt-task"`)
			require.Zero(t, info.Attempt, "bounces spent attempts")
			require.Greater(t, count(historyOf(t, info), states.NameScheduled), 1)

			// Requeued by a person, it waits anew rather than failing at once.
			require.NoError(t, e.client.Requeue(waitCtx(t), id))
			waitState(t, e, id, states.NameScheduled)
		})
	}
}

var errTooManyRequests = errors.New("429 too many requests")

// TestSnoozeSpendsNoAttempt: a task that snoozes, by returning Snooze or an
// error its SnoozeWhen says is no failure, runs again after the delay
// under the same attempt, spending no retry (the task allows none), with
// the snooze and its reason in the history.
func TestSnoozeSpendsNoAttempt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		first  error
		opts   []taskflow.TaskOption
		state  states.Name // of the snooze's history entry
		reason string
	}{
		{"Snooze", fmt.Errorf("upstream busy: %w", taskflow.Snooze(20*time.Millisecond)), nil,
			states.NameScheduled, "upstream busy: snoozed for 20ms"},
		{"Snooze now", taskflow.Snooze(0), nil, states.NameEnqueued, "snoozed for 0s"},
		{"SnoozeWhen", fmt.Errorf("call api: %w", errTooManyRequests),
			[]taskflow.TaskOption{taskflow.SnoozeWhen(func(err error) (time.Duration, bool) {
				return 20 * time.Millisecond, errors.Is(err, errTooManyRequests)
			})},
			states.NameScheduled, "snoozed for 20ms: call api: 429 too many requests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			var seen seenAttempts
			opts := append([]taskflow.TaskOption{taskflow.MaxRetries(0)}, tc.opts...)
			task, err := taskflow.RegisterTask(e.reg, "snoozer", func(ctx context.Context, _ int) (int, error) {
				if seen.add(ctx) <= 2 {
					return 0, tc.first
				}
				return 7, nil
			}, opts...)
			require.NoError(t, err)
			hub := taskflow.NewEvents()
			sub := hub.Subscribe(100)
			e.startWorker(t, taskflow.WorkerOptions{Events: hub})
			h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
			require.NoError(t, err)
			got, err := h.Wait(waitCtx(t))
			require.NoError(t, err)
			require.Equal(t, 7, got)
			require.Equal(t, []int{1, 1, 1}, seen.of(h.ID))
			info, err := e.client.Job(waitCtx(t), h.ID)
			require.NoError(t, err)
			require.Equal(t, 1, info.Attempt)
			var snoozes []string
			for i, c := range info.History {
				if i > 0 && info.History[i-1].State.Name() == states.NameProcessing && c.State.Name() == tc.state {
					snoozes = append(snoozes, c.State.Why())
				}
			}
			require.Equal(t, []string{tc.reason, tc.reason}, snoozes)
			require.NotContains(t, historyOf(t, info), states.NameFailed)
			for len(sub.C) > 0 {
				ev := <-sub.C
				require.NotEqual(t, taskflow.EventRetried, ev.Kind, "a snooze reported as a retry")
			}
		})
	}
}

// stateMirror is a filter that mirrors each job's state from the
// state-applied hooks a worker runs.
type stateMirror struct {
	filters.Defaults
	mu   sync.Mutex
	last map[uuid.UUID]states.Name
	seen map[uuid.UUID][]states.Name
}

func (m *stateMirror) OnStateApplied(_ context.Context, c *filters.ApplyStateContext) {
	if c.State.Name() == states.NameEnqueued {
		time.Sleep(time.Millisecond) // a hook that takes time: the retry may finish meanwhile
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last[c.Job.ID()] = c.State.Name()
	m.seen[c.Job.ID()] = append(m.seen[c.Job.ID()], c.State.Name())
}

// TestStateHooksRunInStoredOrder: a job that fails once and is retried at
// once has its hooks run in the order its states were stored, so a filter
// mirroring job state ends with Succeeded, never with the retry's Enqueued.
func TestStateHooksRunInStoredOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	m := &stateMirror{last: map[uuid.UUID]states.Name{}, seen: map[uuid.UUID][]states.Name{}}
	var seen seenAttempts
	task, err := taskflow.RegisterTask(e.reg, "once-flaky", func(ctx context.Context, _ int) (int, error) {
		if seen.add(ctx) == 1 {
			return 0, errors.New("first run fails")
		}
		return 1, nil
	}, instantRetry(3))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 8, Filters: []filters.Filter{m}, CompletionBatch: 4})
	const rounds, perRound = 50, 4 // a few at a time, so that each retry runs at once
	var hs []*taskflow.Handle[int]
	for range rounds {
		round, err := task.On(e.client).EnqueueMany(waitCtx(t), make([]int, perRound))
		require.NoError(t, err)
		for _, h := range round {
			_, err := h.Wait(waitCtx(t))
			require.NoError(t, err)
		}
		hs = append(hs, round...)
	}
	const jobs = rounds * perRound
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		n := 0
		for _, h := range hs {
			if len(m.seen[h.ID]) == 2 {
				n++
			}
		}
		m.mu.Unlock()
		if n == jobs || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	bad := 0
	for _, h := range hs {
		if !slices.Equal(m.seen[h.ID], []states.Name{states.NameEnqueued, states.NameSucceeded}) {
			bad++
			t.Logf("job %s: hooks saw %v", h.ID, m.seen[h.ID])
		}
	}
	require.Zero(t, bad, "jobs whose hooks ran out of stored order")
}

// TestLeaseLostIsNotReportedForUntouchedJobs: with heartbeats far more
// frequent than jobs finish, no EventLeaseLost is published when nobody
// touches the jobs: a lease gone because the attempt's own outcome was
// stored is no loss.
func TestLeaseLostIsNotReportedForUntouchedJobs(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "quick", func(ctx context.Context, n int) (int, error) {
		time.Sleep(time.Duration(n%3) * time.Millisecond)
		return n, nil
	})
	require.NoError(t, err)
	hub := taskflow.NewEvents()
	sub := hub.Subscribe(100000)
	e.startWorker(t, taskflow.WorkerOptions{Events: hub, HeartbeatInterval: time.Millisecond, Concurrency: 16})
	args := make([]int, 2000)
	for i := range args {
		args[i] = i
	}
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), args)
	require.NoError(t, err)
	for _, h := range hs {
		_, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	time.Sleep(100 * time.Millisecond) // a late event would come by now
	var lost []string
	for len(sub.C) > 0 {
		if ev := <-sub.C; ev.Kind == taskflow.EventLeaseLost {
			lost = append(lost, ev.Cause()+": "+ev.Err.Error())
		}
	}
	require.Empty(t, lost, "lease-lost events for jobs nobody touched:\n%s", strings.Join(lost, "\n"))
}

// TestStoredLogsAndProgressFollowAttempts: a job retried at once has its
// stored log records in attempt order, and its progress is its last
// attempt's.
func TestStoredLogsAndProgressFollowAttempts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var seen seenAttempts
	task, err := taskflow.RegisterTask(e.reg, "logger", func(ctx context.Context, _ int) (int, error) {
		n := seen.add(ctx)
		taskflow.Logger(ctx).Info(fmt.Sprintf("run %d", n))
		taskflow.SetProgress(ctx, 10*n, fmt.Sprintf("run %d", n))
		if n < 3 {
			return 0, errors.New("again")
		}
		return n, nil
	}, instantRetry(5))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Concurrency: 32})
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), make([]int, 600))
	require.NoError(t, err)
	for _, h := range hs {
		_, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	for _, h := range hs {
		var info *taskflow.JobInfo
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			info, err = e.client.Job(waitCtx(t), h.ID)
			require.NoError(t, err)
			if len(info.Logs) == 3 && info.Progress != nil && info.Progress.Attempt == 3 {
				break
			}
			require.True(t, time.Now().Before(deadline), "job %s: logs %+v, progress %+v", h.ID, info.Logs, info.Progress)
		}
		for i, l := range info.Logs {
			require.Equal(t, i+1, l.Attempt, "job %s: logs %+v", h.ID, info.Logs)
		}
		require.Equal(t, 30, info.Progress.Percent)
	}
}

// TestUnservedNamesQueuesAndTasksNoWorkerServes: workers advertise their
// tasks and queues; Unserved names the queue with jobs that no live worker
// serves, and the task of waiting jobs that no live worker runs.
func TestUnservedNamesQueuesAndTasksNoWorkerServes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "served", add)
	require.NoError(t, err)
	mail, err := taskflow.RegisterTask(e.reg, "mail", add, taskflow.Queue("mail"))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{ID: "w1", Queues: []string{"default"}})
	_, err = mail.On(e.client).Enqueue(waitCtx(t), addArgs{A: 1})
	require.NoError(t, err)
	h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{A: 1})
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.NoError(t, err)
	id := createRaw(t, e, "nobody-runs-this", `1`)()
	waitState(t, e, id, states.NameScheduled) // bounced

	ws, err := e.client.Workers(waitCtx(t))
	require.NoError(t, err)
	require.Len(t, ws, 1)
	require.Equal(t, []string{"mail", "served"}, ws[0].Tasks)
	u, err := e.client.Unserved(waitCtx(t))
	require.NoError(t, err)
	require.Equal(t, 1, u.Workers)
	require.Len(t, u.Queues, 1)
	require.Equal(t, "mail", u.Queues[0].Name)
	require.Equal(t, map[string]int{"nobody-runs-this": 1}, u.Tasks)
}

// TestWorkerSaysWhatItServes: a worker logs one INFO line at start with
// its queues, tasks, concurrency and store; left at its default queues it
// serves the queues its tasks name, and given queues that miss a task's,
// it warns.
func TestWorkerSaysWhatItServes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		queues []string
		want   []any // the queues logged
		warns  bool
	}{
		{"default queues", nil, []any{"default", "mail"}, false},
		{"queues given", []string{"default"}, []any{"default"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			task, err := taskflow.RegisterTask(e.reg, "send-mail", add, taskflow.Queue("mail"))
			require.NoError(t, err)
			var logs syncBuffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			e.startWorker(t, taskflow.WorkerOptions{Queues: tc.queues, Concurrency: 7, Logger: logger})
			h, err := task.On(e.client).Enqueue(waitCtx(t), addArgs{A: 1, B: 2})
			require.NoError(t, err)
			if !tc.warns {
				got, err := h.Wait(waitCtx(t))
				require.NoError(t, err)
				require.Equal(t, 3, got)
			}
			for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "worker started"); time.Sleep(time.Millisecond) {
				require.True(t, time.Now().Before(deadline), "no start line")
			}
			var started []map[string]any
			warned := false
			for _, r := range logs.records(t) {
				switch r["msg"] {
				case "taskflow: worker started":
					started = append(started, r)
				case "taskflow: this worker does not serve the queue of a task it knows; its jobs wait for another worker":
					warned = true
				}
			}
			require.Len(t, started, 1, "one start line")
			require.Equal(t, "INFO", started[0]["level"])
			require.Equal(t, tc.want, started[0]["queues"])
			require.Equal(t, []any{"send-mail"}, started[0]["tasks"])
			require.EqualValues(t, 7, started[0]["concurrency"])
			require.Equal(t, "*memstore.Store", started[0]["store"])
			require.Equal(t, tc.warns, warned)
		})
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stalledStore is a store whose heartbeats hang until their call is
// cancelled.
type stalledStore struct{ *memstore.Store }

func (s stalledStore) ExtendLeases(ctx context.Context, _ *storage.ExtendParams) ([]storage.LostLease, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestWorkerStoppedBeforeItsFirstHeartbeatReturnsNil: a stop while the
// first heartbeat is under way is a stop, not a store that cannot be used.
func TestWorkerStoppedBeforeItsFirstHeartbeatReturnsNil(t *testing.T) {
	t.Parallel()
	w, err := taskflow.NewWorker(stalledStore{memstore.New()}, taskflow.WorkerOptions{Registry: taskflow.NewRegistry(), Logger: quiet})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.NoError(t, w.Run(ctx))
}

// slowFetchStore leases jobs as a remote store does: the call goes through
// even when its caller gives up on the answer.
type slowFetchStore struct{ *memstore.Store }

func (s slowFetchStore) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	jobs, err := s.Store.Fetch(context.WithoutCancel(ctx), p)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(100 * time.Millisecond):
	}
	return jobs, err
}

// TestFetchUnderWayAtStopLeavesNoJobLeased: a worker stopped while a fetch
// is under way gets its answer, and runs or requeues the jobs it leased,
// rather than leaving them Processing until their leases expire.
func TestFetchUnderWayAtStopLeavesNoJobLeased(t *testing.T) {
	t.Parallel()
	store := slowFetchStore{memstore.New()}
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "quick", add)
	require.NoError(t, err)
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(t, err)
	h, err := task.On(client).Enqueue(waitCtx(t), addArgs{A: 1})
	require.NoError(t, err)
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Logger: quiet})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond) // during the first fetch
	defer cancel()
	require.NoError(t, w.Run(ctx))
	info, err := client.Job(waitCtx(t), h.ID)
	require.NoError(t, err)
	require.NotEqual(t, states.NameProcessing, info.State.Name(), "a job leased by the fetch under way was left leased: %v", historyOf(t, info))
}
