package taskflow_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// TestCreatedEventsCarryEachJobsState: the Enqueued event of each job of
// one call carries that job's state, also when a creating filter moved some
// of the jobs to another queue.
func TestCreatedEventsCarryEachJobsState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		filters []filters.Filter
		args    []addArgs
		want    []string // the queue of each job, in order
	}{
		{"NoFilter", nil, []addArgs{{1, 0}, {2, 0}, {3, 0}}, []string{"default", "default", "default"}},
		{"SomeMoved", []filters.Filter{cancelIf{}}, []addArgs{{1, 0}, {100, 0}, {3, 0}, {100, 1}}, []string{"default", "big", "default", "big"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			hub := taskflow.NewEvents()
			sub := hub.Subscribe(100)
			defer sub.Close()
			task, err := taskflow.RegisterTask(e.reg, "add", add)
			require.NoError(t, err)
			c, err := taskflow.NewClient(e.store, taskflow.ClientOptions{Events: hub, Registry: e.reg, Filters: tt.filters})
			require.NoError(t, err)
			hs, err := task.On(c).EnqueueMany(waitCtx(t), tt.args)
			require.NoError(t, err)
			queueOf := map[uuid.UUID]string{}
			for i, h := range hs {
				queueOf[h.ID] = tt.want[i]
			}
			for range hs {
				ev := <-sub.C
				require.Equal(t, taskflow.EventEnqueued, ev.Kind)
				st, ok := ev.State.(states.Enqueued)
				require.True(t, ok, "state %T", ev.State)
				require.Equal(t, queueOf[ev.JobID], ev.Queue)
				require.Equal(t, queueOf[ev.JobID], st.Queue)
			}
		})
	}
}

// TestEventsFollowAJob: a hub shared by a client and a worker hears every
// step of a job that fails once, then succeeds, then is deleted.
func TestEventsFollowAJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hub := taskflow.NewEvents()
	sub := hub.Subscribe(100)
	defer sub.Close()
	var runs atomic.Int32
	task, err := taskflow.RegisterTask(e.reg, "flaky", func(context.Context, int) (int, error) {
		if runs.Add(1) == 1 {
			return 0, errors.New("first try fails")
		}
		return 1, nil
	}, instantRetry(3))
	require.NoError(t, err)
	c, err := taskflow.NewClient(e.store, taskflow.ClientOptions{Events: hub, Registry: e.reg})
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Events: hub, ID: "w1"})
	h, err := task.On(c).Enqueue(waitCtx(t), 1)
	require.NoError(t, err)
	_, err = h.Wait(waitCtx(t))
	require.NoError(t, err)
	require.NoError(t, c.Delete(waitCtx(t), h.ID))

	// Each event is published by whoever stored its state, once stored, so
	// events of one job may interleave (the worker may start the job before
	// the client that created it has published Enqueued, and the second
	// attempt may start before the first one's Retried is out); an
	// attempt's start always comes before its end.
	type key struct {
		kind    taskflow.EventKind
		attempt int
		worker  string
	}
	want := []key{
		{taskflow.EventEnqueued, 0, ""},
		{taskflow.EventStarted, 1, "w1"},
		{taskflow.EventRetried, 1, "w1"},
		{taskflow.EventStarted, 2, "w1"},
		{taskflow.EventSucceeded, 2, "w1"},
		{taskflow.EventDeleted, 2, ""},
	}
	var got []key
	seen := map[key]int{}
	for range want {
		select {
		case ev := <-sub.C:
			require.Equal(t, h.ID, ev.JobID)
			require.Equal(t, "flaky", ev.Task)
			require.Equal(t, "default", ev.Queue)
			if ev.Kind == taskflow.EventRetried {
				require.ErrorContains(t, ev.Err, "first try fails")
			}
			if ev.Kind == taskflow.EventStarted {
				require.GreaterOrEqual(t, ev.Pickup, time.Duration(0))
			}
			k := key{ev.Kind, ev.Attempt, ev.Worker}
			seen[k] = len(got)
			got = append(got, k)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d events came: %v", len(got), got)
		}
	}
	require.ElementsMatch(t, want, got)
	require.Less(t, seen[want[1]], seen[want[2]], "attempt 1 ended before it started: %v", got)
	require.Less(t, seen[want[3]], seen[want[4]], "attempt 2 ended before it started: %v", got)
	require.Zero(t, sub.Dropped())
}

// TestEventLeaseLostSaysWhy: an attempt whose job is taken from it
// publishes EventLeaseLost with the cause its ctx gets.
func TestEventLeaseLostSaysWhy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		take func(c *taskflow.Client, id uuid.UUID) error
		want error
	}{
		{"requeued", func(c *taskflow.Client, id uuid.UUID) error { return c.Requeue(waitCtx(t), id) }, taskflow.ErrJobRequeued},
		{"deleted", func(c *taskflow.Client, id uuid.UUID) error { return c.Delete(waitCtx(t), id) }, taskflow.ErrJobDeleted},
		{"rescheduled", func(c *taskflow.Client, id uuid.UUID) error {
			return c.Reschedule(waitCtx(t), id, time.Now().Add(time.Hour))
		}, taskflow.ErrJobRescheduled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			hub := taskflow.NewEvents()
			sub := hub.Subscribe(100)
			defer sub.Close()
			started := make(chan struct{}, 10)
			task, err := taskflow.RegisterTask(e.reg, "long", func(ctx context.Context, _ int) (int, error) {
				if rj, _ := taskflow.JobFromContext(ctx); rj.Attempt > 1 {
					return 0, nil // a requeued job runs again
				}
				started <- struct{}{}
				<-ctx.Done()
				return 0, context.Cause(ctx)
			})
			require.NoError(t, err)
			e.startWorker(t, taskflow.WorkerOptions{Events: hub, ID: "w1", HeartbeatInterval: 50 * time.Millisecond})
			h, err := task.On(e.client).Enqueue(waitCtx(t), 1)
			require.NoError(t, err)
			<-started
			require.NoError(t, tt.take(e.client, h.ID))
			for {
				select {
				case ev := <-sub.C:
					if ev.Kind != taskflow.EventLeaseLost {
						continue
					}
					require.Equal(t, h.ID, ev.JobID)
					require.Equal(t, 1, ev.Attempt)
					require.Equal(t, "w1", ev.Worker)
					require.ErrorIs(t, ev.Err, tt.want)
					require.Equal(t, "lease_lost", ev.Kind.String())
					require.Equal(t, tt.name, ev.Cause())
					return
				case <-time.After(5 * time.Second):
					t.Fatal("no EventLeaseLost")
				}
			}
		})
	}
}

// TestSlowSubscriberDropsEventsAndNeverBlocks: a subscriber that does not
// read loses events, counted, and the worker runs on.
func TestSlowSubscriberDropsEventsAndNeverBlocks(t *testing.T) {
	t.Parallel()
	e := setup(t)
	hub := taskflow.NewEvents()
	slow := hub.Subscribe(1) // never read
	task, err := taskflow.RegisterTask(e.reg, "noop", add)
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{Events: hub})
	hs, err := task.On(e.client).EnqueueMany(waitCtx(t), make([]addArgs, 500))
	require.NoError(t, err)
	for _, h := range hs {
		_, err := h.Wait(waitCtx(t))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return slow.Dropped() >= 998 }, 5*time.Second, time.Millisecond,
		"500 jobs make 1,000 worker events; 1 fits the buffer")
	slow.Close()
	_, open := <-slow.C
	require.True(t, open, "the buffered event is still there")
	_, open = <-slow.C
	require.False(t, open, "Close closes C")
	slow.Close() // twice is fine
}

// TestPausedQueueWaitsUntilResumed: a paused queue's jobs stay Enqueued
// while the worker serves other queues, and run once it is resumed.
func TestPausedQueueWaitsUntilResumed(t *testing.T) {
	t.Parallel()
	e := setup(t)
	task, err := taskflow.RegisterTask(e.reg, "mail", add)
	require.NoError(t, err)
	ctx := waitCtx(t)
	require.NoError(t, e.client.PauseQueue(ctx, "mail"))
	e.startWorker(t, taskflow.WorkerOptions{Queues: []string{"mail", "default"}})
	held, err := task.On(e.client).Enqueue(ctx, addArgs{1, 1}, taskflow.Queue("mail"))
	require.NoError(t, err)
	other, err := task.On(e.client).Enqueue(ctx, addArgs{2, 2})
	require.NoError(t, err)
	_, err = other.Wait(ctx)
	require.NoError(t, err, "the worker stopped serving the other queue")
	time.Sleep(200 * time.Millisecond)
	info, err := held.Job(ctx)
	require.NoError(t, err)
	require.Equal(t, "enqueued", string(info.State.Name()), "a paused queue's job ran")

	qs, err := e.client.Queues(ctx)
	require.NoError(t, err)
	require.Len(t, qs, 1)
	require.Equal(t, "mail", qs[0].Name)
	require.True(t, qs[0].Paused)
	require.EqualValues(t, 1, qs[0].Enqueued)
	require.Greater(t, qs[0].Latency, 100*time.Millisecond)

	require.NoError(t, e.client.ResumeQueue(ctx, "mail"))
	sum, err := held.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, sum)
	require.ErrorIs(t, e.client.PauseQueue(ctx, "Bad Name"), taskflow.ErrInvalidQueue)
}

// TestStatsCountOutcomesAfterRetention: the counts of succeeded and failed
// jobs outlive the jobs themselves.
func TestStatsCountOutcomesAfterRetention(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ok, err := taskflow.RegisterTask(e.reg, "ok", add, taskflow.Retention(time.Millisecond))
	require.NoError(t, err)
	bad, err := taskflow.RegisterTask(e.reg, "bad", func(context.Context, int) (int, error) { return 0, errors.New("no") }, taskflow.MaxRetries(0))
	require.NoError(t, err)
	e.startWorker(t, taskflow.WorkerOptions{PruneInterval: 10 * time.Millisecond})
	ctx := waitCtx(t)
	start := time.Now()
	hs, err := ok.On(e.client).EnqueueMany(ctx, make([]addArgs, 3))
	require.NoError(t, err)
	for _, h := range hs {
		if _, err := h.Wait(ctx); err != nil { // or already removed, its retention past
			require.ErrorIs(t, err, taskflow.ErrNotFound)
		}
	}
	h, err := bad.On(e.client).Enqueue(ctx, 1)
	require.NoError(t, err)
	_, err = h.Wait(ctx)
	require.Error(t, err)
	require.Eventually(t, func() bool { _, err := hs[0].Job(ctx); return errors.Is(err, taskflow.ErrNotFound) },
		5*time.Second, 10*time.Millisecond, "the succeeded jobs were not removed")

	points, err := e.client.Stats(ctx, start.Add(-time.Hour), time.Now().Add(time.Minute), time.Hour)
	require.NoError(t, err)
	var total taskflow.StatsPoint
	for _, p := range points {
		total.Succeeded += p.Succeeded
		total.Failed += p.Failed
	}
	require.EqualValues(t, 3, total.Succeeded)
	require.EqualValues(t, 1, total.Failed)
	_, err = e.client.Stats(ctx, start, time.Now(), 90*time.Second)
	require.ErrorIs(t, err, taskflow.ErrInvalidOption)
}

// progressCounter counts the store's progress writes.
type progressCounter struct {
	*memstore.Store
	writes atomic.Int32
}

func (p *progressCounter) SetProgress(ctx context.Context, progress []storage.Progress) error {
	if len(progress) > 0 {
		p.writes.Add(1)
	}
	return p.Store.SetProgress(ctx, progress)
}

// TestTaskLogsAndProgressAreStoredWithTheJob: what a task logs through
// Logger goes to the worker's logger with the job's attributes and is
// stored with the job, capped per attempt with a marker; progress reported
// in a tight loop is stored coalesced, and stays once the job finished.
func TestTaskLogsAndProgressAreStoredWithTheJob(t *testing.T) {
	t.Parallel()
	e := setup(t)
	store := &progressCounter{Store: e.store}
	var logs syncBuffer
	task, err := taskflow.RegisterTask(e.reg, "import", func(ctx context.Context, rows int) (int, error) {
		log := taskflow.Logger(ctx).With("file", "users.csv")
		log.Info("import started", "rows", rows)
		for i := range rows {
			taskflow.SetProgress(ctx, 100*(i+1)/rows, fmt.Sprintf("row %d of %d", i+1, rows))
			if i < 9 {
				log.Warn("odd row", "row", i)
			}
		}
		return rows, nil
	})
	require.NoError(t, err)
	c := rig.Start(t, store, rig.Options{Worker: e.opts(taskflow.WorkerOptions{JobLogCap: 5,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})}).Client
	ctx := waitCtx(t)

	h, err := task.On(c).Enqueue(ctx, 2000)
	require.NoError(t, err)
	_, err = h.Wait(ctx)
	require.NoError(t, err)
	var info *taskflow.JobInfo
	require.Eventually(t, func() bool {
		info, err = c.Job(ctx, h.ID)
		return err == nil && len(info.Logs) == 6 && info.Progress != nil && info.Progress.Percent == 100
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "import started", info.Logs[0].Message)
	require.Equal(t, "INFO", info.Logs[0].Level)
	require.JSONEq(t, `{"file":"users.csv","rows":2000}`, string(info.Logs[0].Attrs))
	require.Equal(t, "odd row", info.Logs[4].Message)
	require.Equal(t, 1, info.Logs[4].Attempt)
	require.Contains(t, info.Logs[5].Message, "5 more records of this attempt were not kept", "the cap's marker")
	require.Equal(t, "row 2000 of 2000", info.Progress.Message)
	require.Less(t, store.writes.Load(), int32(20), "2,000 progress reports were not coalesced")

	var sent int
	for _, r := range logs.records(t) {
		if r["msg"] == "odd row" {
			sent++
			require.Equal(t, h.ID.String(), r["job_id"])
			require.Equal(t, "import", r["task"])
			require.EqualValues(t, 1, r["attempt"])
			require.Equal(t, "users.csv", r["file"])
		}
	}
	require.Equal(t, 9, sent, "every record goes to the worker's logger, stored or not")
}

// TestWorkersListsLiveWorkers: a running worker is listed with its queues
// and concurrency, and gone once it stopped.
func TestWorkersListsLiveWorkers(t *testing.T) {
	t.Parallel()
	e := setup(t)
	_, stop := e.startWorker(t, taskflow.WorkerOptions{ID: "w-7", Queues: []string{"a", "b"}, Concurrency: 3})
	var ws []taskflow.WorkerInfo
	require.Eventually(t, func() bool {
		var err error
		ws, err = e.client.Workers(waitCtx(t))
		return err == nil && len(ws) == 1
	}, 5*time.Second, time.Millisecond, "the worker did not register")
	require.Equal(t, "w-7", ws[0].ID)
	require.Equal(t, []string{"a", "b"}, ws[0].Queues)
	require.Equal(t, 3, ws[0].Concurrency)
	require.False(t, ws[0].HeartbeatAt.IsZero())
	stop()
	ws, err := e.client.Workers(waitCtx(t))
	require.NoError(t, err)
	require.Empty(t, ws, "a stopped worker unregisters")
}
