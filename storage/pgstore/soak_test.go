package pgstore

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
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
	"github.com/taskflow-go/taskflow/taskflow"
)

// warnings counts the records at WARN or above that a worker logs.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler           { return w }
func (w *warnings) WithGroup(string) slog.Handler                { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	w.mu.Lock()
	w.msgs = append(w.msgs, b.String())
	w.mu.Unlock()
	return nil
}

// matching returns the records that contain any of subs.
func (w *warnings) matching(subs ...string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.msgs {
		for _, s := range subs {
			if strings.Contains(m, s) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// A bounded soak of mixed load on one worker: jobs that log and report
// progress, fail and are retried at once, panic, run in batches, with
// continuations and unique keys, while a driver requeues and deletes
// running jobs, waits for some and polls the monitoring queries.
// PostgreSQL must count no deadlock, the worker must lose no job log or
// progress flush, and every job must end finished.
//
// TASKFLOW_SOAK (a Go duration) runs it longer than its 10 s.
func TestMixedLoadDoesNotDeadlock(t *testing.T) {
	duration := 10 * time.Second
	if v := os.Getenv("TASKFLOW_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, "TASKFLOW_SOAK")
		duration = d
	}
	s := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), duration+time.Minute)
	defer cancel()
	before := deadlocks(t, s)

	reg := taskflow.NewRegistry()
	soak, err := taskflow.RegisterTask(reg, "soak", func(ctx context.Context, n int) (int, error) {
		log := taskflow.Logger(ctx)
		for i := range 3 {
			log.Info("step", "i", i, "n", n)
			taskflow.SetProgress(ctx, 30*(i+1), "working")
			select {
			case <-time.After(time.Duration(rand.IntN(20)) * time.Millisecond):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		switch r := rand.IntN(40); {
		case r < 5:
			return 0, errors.New("soak failure")
		case r == 5:
			panic("soak panic")
		}
		return n, nil
	}, taskflow.WithRetry(filters.Retry{MaxRetries: 2, Delay: func(int) time.Duration { return 0 }}))
	require.NoError(t, err)
	warn := &warnings{}
	r := rig.Start(t, s, rig.Options{
		Client: taskflow.ClientOptions{Registry: reg},
		Worker: taskflow.WorkerOptions{Registry: reg, Concurrency: 50, Logger: slog.New(warn), HeartbeatInterval: 200 * time.Millisecond},
	})
	client := r.Client

	var (
		mu      sync.Mutex
		ids     []uuid.UUID // every job created, continuations aside
		waiters sync.WaitGroup
		polls   atomic.Int64
	)
	pollCtx, stopPolls := context.WithCancel(ctx)
	var pollers sync.WaitGroup
	pollers.Go(func() { // a dashboard
		for pollCtx.Err() == nil {
			_, _ = client.JobCounts(pollCtx)
			_, _ = client.Jobs(pollCtx, taskflow.JobQuery{State: states.NameProcessing, Limit: 20})
			_, _ = client.Jobs(pollCtx, taskflow.JobQuery{State: states.NameFailed, Limit: 20})
			polls.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	})
	end := time.Now().Add(duration)
	for i := 0; time.Now().Before(end); i++ {
		var created []uuid.UUID
		switch i % 10 {
		case 0:
			b, err := soak.On(client).EnqueueBatch(ctx, []int{i, i + 1, i + 2})
			require.NoError(t, err)
			for _, h := range b.Handles {
				created = append(created, h.ID)
			}
		case 1:
			h, err := soak.On(client).Enqueue(ctx, i, taskflow.Unique("soak-"+string(rune('a'+i%5))))
			require.NoError(t, err)
			created = append(created, h.ID)
		default:
			h, err := soak.On(client).Enqueue(ctx, i)
			require.NoError(t, err)
			created = append(created, h.ID)
			if i%7 == 0 {
				_, err := taskflow.Then(ctx, h, soak)
				require.NoError(t, err)
			}
			if i%5 == 0 {
				waiters.Go(func() {
					wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					defer cancel()
					_, _ = h.Wait(wctx)
				})
			}
		}
		mu.Lock()
		ids = append(ids, created...)
		victim := ids[rand.IntN(len(ids))]
		mu.Unlock()
		if i%4 == 0 { // requeue or delete a job, running or not
			if i%8 == 0 {
				_ = client.Delete(ctx, victim)
			} else {
				_ = client.Requeue(ctx, victim)
			}
		}
		time.Sleep(3 * time.Millisecond)
	}
	waiters.Wait()
	stopPolls()
	pollers.Wait()

	// Nothing stuck: every job reaches Succeeded, Failed or Deleted.
	require.Eventually(t, func() bool {
		for len(ids) > 0 {
			info, err := client.Job(ctx, ids[0])
			require.NoError(t, err)
			switch info.State.Name() {
			case states.NameSucceeded, states.NameFailed, states.NameDeleted:
				ids = ids[1:]
				continue
			}
			return false
		}
		return true
	}, time.Minute, 50*time.Millisecond, "jobs left unfinished")
	require.NoError(t, r.Stop())
	require.Empty(t, warn.matching("lost", "progress", "deadlock"), "flushes the worker lost")
	require.Positive(t, polls.Load())
	require.Equal(t, before, deadlocks(t, s), "deadlocks counted by PostgreSQL")
}
