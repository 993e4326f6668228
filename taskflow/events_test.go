package taskflow_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/taskflow"
)

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
	// events of one job may interleave (the second attempt may start before
	// the first one's Retried is out); an attempt's start always comes
	// before its end.
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
	require.Equal(t, want[0], got[0], "the job's creation comes first")
	require.Less(t, seen[want[1]], seen[want[2]], "attempt 1 ended before it started: %v", got)
	require.Less(t, seen[want[3]], seen[want[4]], "attempt 2 ended before it started: %v", got)
	require.Zero(t, sub.Dropped())
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
