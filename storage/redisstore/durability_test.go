package redisstore

import (
	"context"
	"fmt"
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

const (
	crashJobs  = 5
	crashLease = 2 * time.Second
)

// crashTask registers the task of the crash test on reg. Each run records
// itself in the list runs:<job> of the store, tagged with who ran it; in
// the helper process it then says so on stdout and blocks until the
// process is killed.
func crashTask(t testing.TB, reg *taskflow.Registry, client redis.UniversalClient, s *Store, who string) *taskflow.Task[int, struct{}] {
	task, err := taskflow.RegisterTask(reg, "crash-test", func(ctx context.Context, _ int) (struct{}, error) {
		j, _ := taskflow.JobFromContext(ctx)
		if err := client.RPush(ctx, s.k.prefix+"runs:"+j.ID.String(), fmt.Sprintf("%s:%d", who, j.Attempt)).Err(); err != nil {
			return struct{}{}, err
		}
		if who == "helper" {
			crashtest.Started(j.ID)
			time.Sleep(time.Minute) // until SIGKILL; the bound keeps a lost helper from lingering
		}
		return struct{}{}, nil
	})
	require.NoError(t, err)
	return task
}

func quietWorker(t testing.TB, s *Store, reg *taskflow.Registry, concurrency int, lease time.Duration) *taskflow.Worker {
	w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{
		Registry: reg, Concurrency: concurrency, LeaseDuration: lease,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return w
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
	reg := taskflow.NewRegistry()
	crashTask(t, reg, client, s, "helper")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = quietWorker(t, s, reg, crashJobs, crashLease).Run(ctx)
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
	ctx := testCtx(t)
	reg := taskflow.NewRegistry()
	task := crashTask(t, reg, client, s, "recovery")
	tc, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	handles, err := task.On(tc).EnqueueMany(ctx, make([]int, crashJobs))
	require.NoError(t, err)

	// The helper process leases every job and blocks in all of them.
	name := strings.Trim(strings.TrimSuffix(s.k.prefix, ":"), "{}")
	killed := crashtest.StartAndKill(t, "TestCrashHelper", []string{crashEnv + "=" + name}, crashJobs, crashLease/2)

	// A new worker finds the jobs leased to a dead process and runs them again.
	runCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- quietWorker(t, s, reg, crashJobs, crashLease).Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-stopped) }()
	crashtest.RequireRecovered(t, func() (int64, error) {
		n, err := s.Count(ctx, "")
		return n[states.NameSucceeded], err
	}, crashJobs, crashLease, killed)

	for _, h := range handles {
		j, err := tc.Job(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, 2, j.Attempt, "one attempt in the killed worker, one in the new one")
		require.Equal(t, 1, crashtest.SucceededEntries(j), "job %s history: %v", h.ID, j.History)
		who, err := client.LRange(ctx, s.k.prefix+"runs:"+h.ID.String(), 0, -1).Result()
		require.NoError(t, err)
		require.Equal(t, []string{"helper:1", "recovery:2"}, who, "runs of job %s", h.ID)
	}
}

// restartPort is the loopback port of the Redis server that
// TestRedisRestartWithAOF starts and kills.
const restartPort = 7111

// TestRedisRestartWithAOF kills Redis (SIGKILL) in the middle of a run and
// starts it again on its append-only file (appendfsync always): the worker
// reconnects by itself, and every job completes, none twice.
func TestRedisRestartWithAOF(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a Redis server")
	}
	requireRedisBinaries(t)
	srv := startServer(t, t.TempDir(), restartPort, "--appendonly", "yes", "--appendfsync", "always", "--save", "")
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
		require.Equal(t, 1, crashtest.SucceededEntries(j), "job %s history: %v", h.ID, j.History)
		if runs[h.ID] > 1 {
			again++
		}
	}
	t.Logf("%d jobs ran again: their lease was held when Redis died", again)
}

// notifyPort is the loopback port of the Redis server of
// TestSubscriberSurvivesALostConnection.
const notifyPort = 7113

// A subscriber whose pub/sub connection drops is woken once it is back (a
// wake-up may have been lost meanwhile), and keeps getting wake-ups.
func TestSubscriberSurvivesALostConnection(t *testing.T) {
	requireRedisBinaries(t)
	srv := startServer(t, t.TempDir(), notifyPort, "--save", "", "--appendonly", "no")
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
