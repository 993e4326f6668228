package redisstore

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/taskflow"
)

// retentionPort is the loopback port of the Redis server of
// TestMemoryReturnsToBaseline, which has a server of its own so that no
// other test moves its memory.
const retentionPort = 7112

// usedMemory reads used_memory from INFO memory.
func usedMemory(t *testing.T, c redis.Cmdable) int64 {
	info, err := c.Info(context.Background(), "memory").Result()
	require.NoError(t, err)
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("INFO memory has no used_memory")
	return 0
}

// TestMemoryReturnsToBaseline runs jobs through a worker whose finished
// jobs expire after a second, and checks that once they are pruned Redis
// holds no more memory than before they came: nothing grows without bound.
// TASKFLOW_REDIS_RETENTION_JOBS sets how many jobs (default 20,000; the
// issue's figure is 1,000,000).
func TestMemoryReturnsToBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis server and runs jobs for seconds")
	}
	requireRedisBinaries(t)
	jobs := 20_000
	if v := os.Getenv("TASKFLOW_REDIS_RETENTION_JOBS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "TASKFLOW_REDIS_RETENTION_JOBS")
		jobs = n
	}
	srv := startServer(t, t.TempDir(), retentionPort, "--save", "", "--appendonly", "no")
	client := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = client.Close() })
	s := New(client)
	ctx := context.Background()

	var done atomic.Int64
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "retained", func(context.Context, int) (struct{}, error) {
		done.Add(1)
		return struct{}{}, nil
	})
	require.NoError(t, err)
	tc, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{Registry: reg, Retention: time.Second, PruneInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error)
	go func() { stopped <- w.Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-stopped) }()

	// Warm up (scripts loaded, worker registered, counters and statistics
	// created), let the warm-up jobs expire and go, then take the baseline.
	enqueue := func(n int) {
		args := make([]int, 1000)
		for i := 0; i < n; i += len(args) {
			_, err := task.On(tc).EnqueueMany(ctx, args[:min(len(args), n-i)])
			require.NoError(t, err)
		}
	}
	empty := func() bool {
		n, err := s.Count(ctx, "")
		require.NoError(t, err)
		var total int64
		for _, c := range n {
			total += c
		}
		return total == 0
	}
	enqueue(1000)
	require.Eventually(t, empty, time.Minute, 100*time.Millisecond, "the warm-up jobs were not pruned")
	base := usedMemory(t, client)

	start := time.Now()
	enqueue(jobs)
	require.Eventually(t, func() bool { return done.Load() >= int64(1000+jobs) }, 30*time.Minute, 100*time.Millisecond)
	peak := usedMemory(t, client)
	require.Eventually(t, empty, time.Minute, 100*time.Millisecond, "the finished jobs were not pruned")
	end := usedMemory(t, client)
	t.Logf("%d jobs in %s; used_memory: baseline %d B, with the last jobs retained %d B, after pruning %d B",
		jobs, time.Since(start).Round(time.Millisecond), base, peak, end)
	require.Less(t, end-base, int64(256<<10), "Redis holds %d B more than before %d jobs went through", end-base, jobs)
}
