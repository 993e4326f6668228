package redisstore

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/crashtest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// crashEnv names the store the crash helper process works on; it is set
// only in that process.
const crashEnv = "TASKFLOW_REDIS_CRASH_HELPER_STORE"

// crashRuns records the runs of the crash test's jobs in the list
// runs:<job> of store s.
func crashRuns(client redis.UniversalClient, s *Store) crashtest.Runs {
	key := func(id uuid.UUID) string { return s.k.prefix + "runs:" + id.String() }
	return crashtest.Runs{
		Record: func(ctx context.Context, id uuid.UUID, run string) error {
			return client.RPush(ctx, key(id), run).Err()
		},
		Of: func(ctx context.Context, id uuid.UUID) ([]string, error) {
			return client.LRange(ctx, key(id), 0, -1).Result()
		},
	}
}

// TestCrashHelper is the worker process of TestCrashRecovery; on its own it
// does nothing.
func TestCrashHelper(t *testing.T) {
	name := os.Getenv(crashEnv)
	if name == "" {
		t.Skip("the worker process of TestCrashRecovery")
	}
	client := testClient(t)
	s := New(client, Name(name))
	crashtest.Helper(t, s, crashRuns(client, s))
}

// TestCrashRecovery kills a worker process with SIGKILL while it runs jobs,
// then checks that another worker completes every one of them, exactly
// once, within the lease recovery bound.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the helper process")
	}
	client := testClient(t)
	s := newStore(t, client)
	name := strings.Trim(strings.TrimSuffix(s.k.prefix, ":"), "{}")
	crashtest.Recover(t, s, crashRuns(client, s), "TestCrashHelper", crashEnv+"="+name)
}

func quietWorker(t testing.TB, s *Store, reg *taskflow.Registry, concurrency int, lease time.Duration) *taskflow.Worker {
	w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{
		Registry: reg, Concurrency: concurrency, LeaseDuration: lease,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return w
}

// succeeded counts the Succeeded entries of a job's history.
func succeeded(j *taskflow.JobInfo) int {
	n := 0
	for _, e := range j.History {
		if e.State.Name() == states.NameSucceeded {
			n++
		}
	}
	return n
}

// TestRedisRestartWithAOF kills Redis (SIGKILL) in the middle of a run and
// starts it again on its append-only file (appendfsync always): the worker
// reconnects by itself, and every job completes, none twice.
func TestRedisRestartWithAOF(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a Redis server")
	}
	requireRedisBinaries(t)
	srv := startServer(t, t.TempDir(), freePort(t, false), "--appendonly", "yes", "--appendfsync", "always", "--save", "")
	client := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = client.Close() })
	s := New(client, Name("restart"))
	ctx := testCtx(t)

	const jobs = 3000
	var (
		mu   sync.Mutex
		runs = map[uuid.UUID]int{}
	)
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "restart-test", func(ctx context.Context, _ int) (struct{}, error) {
		j, _ := taskflow.JobFromContext(ctx)
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return struct{}{}, nil
	})
	require.NoError(t, err)
	tc, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	handles, err := task.On(tc).EnqueueMany(ctx, make([]int, jobs))
	require.NoError(t, err)

	runCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- quietWorker(t, s, reg, 20, 2*time.Second).Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-stopped) }()
	ran := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(runs)
	}
	require.Eventually(t, func() bool { return ran() >= jobs/4 }, 20*time.Second, 10*time.Millisecond, "the worker did not get going")
	srv.kill()
	t.Logf("Redis killed after %d of %d jobs ran", ran(), jobs)
	time.Sleep(500 * time.Millisecond) // the worker meets a dead server
	srv.start(t)

	require.Eventually(t, func() bool {
		n, err := s.Count(ctx, "")
		return err == nil && n[states.NameSucceeded] == jobs
	}, 30*time.Second, 50*time.Millisecond, "not every job Succeeded after the restart")
	again := 0
	mu.Lock()
	defer mu.Unlock()
	for _, h := range handles {
		j, err := tc.Job(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, 1, succeeded(j), "job %s history: %v", h.ID, j.History)
		if runs[h.ID] > 1 {
			again++
		}
	}
	t.Logf("%d jobs ran again: their lease was held when Redis died", again)
}

// A subscriber whose pub/sub connection drops is woken once it is back (a
// wake-up may have been lost meanwhile), and keeps getting wake-ups.
func TestSubscriberSurvivesALostConnection(t *testing.T) {
	requireRedisBinaries(t)
	srv := startServer(t, t.TempDir(), freePort(t, false), "--save", "", "--appendonly", "no")
	client := redis.NewClient(&redis.Options{Addr: srv.addr})
	t.Cleanup(func() { _ = client.Close() })
	s := New(client)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	ch, err := s.Subscribe(ctx, storage.TopicScheduled)
	require.NoError(t, err)
	woken := func() bool {
		select {
		case <-ch:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	require.NoError(t, client.ClientKillByFilter(ctx, "TYPE", "pubsub").Err())
	require.True(t, woken(), "no wake-up after the connection came back")
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t, func(j *storage.Job) {
		j.State, j.RunAt, j.StateData = states.NameScheduled, time.Now().Add(time.Hour), []byte(`{}`)
	})}})
	require.NoError(t, err)
	require.True(t, woken(), "no wake-up for a change after the reconnection")
}
