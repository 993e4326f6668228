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

	want := []struct {
		kind    taskflow.EventKind
		attempt int
		worker  string
	}{
		{taskflow.EventEnqueued, 0, ""},
		{taskflow.EventStarted, 1, "w1"},
		{taskflow.EventRetried, 1, "w1"},
		{taskflow.EventStarted, 2, "w1"},
		{taskflow.EventSucceeded, 2, "w1"},
		{taskflow.EventDeleted, 2, ""},
	}
	for i, w := range want {
		select {
		case ev := <-sub.C:
			require.Equal(t, w.kind, ev.Kind, "event %d: %s", i, ev.Kind)
			require.Equal(t, h.ID, ev.JobID)
			require.Equal(t, "flaky", ev.Task)
			require.Equal(t, "default", ev.Queue)
			require.Equal(t, w.attempt, ev.Attempt, "event %d (%s)", i, ev.Kind)
			require.Equal(t, w.worker, ev.Worker, "event %d (%s)", i, ev.Kind)
			if ev.Kind == taskflow.EventRetried {
				require.ErrorContains(t, ev.Err, "first try fails")
			}
			if ev.Kind == taskflow.EventStarted {
				require.GreaterOrEqual(t, ev.Pickup, time.Duration(0))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d (%s) did not come", i, w.kind)
		}
	}
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
