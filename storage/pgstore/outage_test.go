package pgstore

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/taskflow"
)

// errOutage is what dialing returns while the test's outage lasts.
var errOutage = errors.New("the server is down")

// After an outage (every backend terminated, no new connection accepted
// for a few seconds) a worker resumes within about a second: the outcomes
// that failed to be stored meanwhile are stored, and jobs enqueued once
// the server is back run, without waiting out back-offs grown during the
// outage.
func TestWorkerResumesSoonAfterAnOutage(t *testing.T) {
	const (
		jobs   = 20
		outage = 3500 * time.Millisecond
		resume = 2 * time.Second // what "within a second or two" allows here
	)
	base := testPool(t)
	schema := newSchema(t, base)
	ctx := testCtx(t)
	require.NoError(t, Migrate(ctx, base, Schema(schema)))
	cfg := base.Config()
	app := cfg.ConnConfig.RuntimeParams["application_name"] + "-outage"
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	var down atomic.Bool
	var dialer net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if down.Load() {
			return nil, errOutage
		}
		return dialer.DialContext(ctx, network, addr)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := New(pool, Schema(schema))

	release := make(chan struct{})
	var started atomic.Int64
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "held", func(ctx context.Context, n int) (int, error) {
		started.Add(1)
		<-release
		return n, nil
	})
	require.NoError(t, err)
	client := rig.Start(t, s, rig.Options{
		Client: taskflow.ClientOptions{Registry: reg},
		Worker: taskflow.WorkerOptions{Registry: reg, Concurrency: jobs, HeartbeatInterval: 5 * time.Second},
	}).Client
	for i := range jobs {
		_, err := task.On(client).Enqueue(ctx, i)
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { return started.Load() == jobs }, 10*time.Second, 10*time.Millisecond)

	down.Store(true)
	var killed int
	require.NoError(t, base.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1`, app).Scan(&killed))
	require.Positive(t, killed)
	close(release) // the outcomes fail to be stored, and fetches fail
	time.Sleep(outage)
	down.Store(false)
	back := time.Now()

	for i := range jobs {
		_, err := task.On(client).Enqueue(ctx, jobs+i)
		require.NoError(t, err)
	}
	succeeded := func() int {
		var n int
		require.NoError(t, base.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.jobs WHERE state = 'succeeded'`).Scan(&n))
		return n
	}
	require.Eventually(t, func() bool { return succeeded() == 2*jobs }, 20*time.Second, 10*time.Millisecond)
	took := time.Since(back)
	t.Logf("every job succeeded %v after the server came back", took)
	require.Less(t, took, resume, "resumed too late after the outage")
}
