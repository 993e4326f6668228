package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Many handles waiting at once, each enqueued in a transaction of its own
// through a client of its own, share one LISTEN connection: while every one
// of them waits, the test's backends (its application_name) number at most
// the pool's size plus two. The derived clients keep the main client's
// events.
func TestConcurrentWaitsShareOneConnection(t *testing.T) {
	const waits = 1000
	tests := []struct {
		name   string
		client func(main *taskflow.Client, s *Store, tx pgx.Tx) (*taskflow.Client, error)
		events int // enqueued events the main client's hub must see
	}{
		{"ClientWithTx", func(main *taskflow.Client, s *Store, tx pgx.Tx) (*taskflow.Client, error) {
			return main.WithTx(s.WithTx(tx)), nil
		}, waits},
		{"NewClientPerTransaction", func(_ *taskflow.Client, s *Store, tx pgx.Tx) (*taskflow.Client, error) {
			return taskflow.NewClient(s.WithTx(tx), taskflow.ClientOptions{})
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			// A thousand transactions and waits take a while on a loaded
			// machine (CI runs packages side by side, under -race).
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			release := make(chan struct{})
			reg := taskflow.NewRegistry()
			echo, err := taskflow.RegisterTask(reg, "echo", func(ctx context.Context, n int) (int, error) {
				select {
				case <-release:
					return n, nil
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			})
			require.NoError(t, err)
			hub := taskflow.NewEvents()
			sub := hub.Subscribe(2 * waits)
			defer sub.Close()
			main := rig.Start(t, s, rig.Options{
				Client: taskflow.ClientOptions{Registry: reg, Events: hub},
				Worker: taskflow.WorkerOptions{Registry: reg, Concurrency: 20},
			}).Client

			var waiting atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, waits)
			for i := range waits {
				wg.Go(func() {
					n, err := enqueueInTxAndWait(ctx, s, main, tt.client, echo, i, &waiting)
					if err == nil && n != i {
						err = errWrongResult
					}
					if err != nil {
						errs <- err
					}
				})
			}
			require.Eventually(t, func() bool { return waiting.Load() == waits || len(errs) > 0 }, time.Minute, 10*time.Millisecond)
			require.Empty(t, errs)
			time.Sleep(200 * time.Millisecond) // subscriptions settle
			app := s.pool.Config().ConnConfig.RuntimeParams["application_name"]
			var backends int
			require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND application_name = $1`, app).Scan(&backends))
			t.Logf("%d backends (pool of %d) while %d handles wait", backends, s.pool.Config().MaxConns, waits)
			require.LessOrEqual(t, backends, int(s.pool.Config().MaxConns)+2, "backends while %d handles wait", waits)

			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			var enqueued int
			for len(sub.C) > 0 {
				if ev := <-sub.C; ev.Kind == taskflow.EventEnqueued {
					enqueued++
				}
			}
			require.Equal(t, tt.events, enqueued, "enqueued events on the main client's hub")
		})
	}
}

var errWrongResult = errors.New("wrong result")

// enqueueInTxAndWait enqueues n in a transaction through the client that
// newClient derives, commits, and waits for the result.
func enqueueInTxAndWait(ctx context.Context, s *Store, main *taskflow.Client,
	newClient func(*taskflow.Client, *Store, pgx.Tx) (*taskflow.Client, error),
	task *taskflow.Task[int, int], n int, waiting *atomic.Int64) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	c, err := newClient(main, s, tx)
	if err != nil {
		return 0, err
	}
	h, err := task.On(c).Enqueue(ctx, n)
	if err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	waiting.Add(1)
	return h.Wait(ctx)
}
