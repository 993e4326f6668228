package sqlitestore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// helperEnv names the file a worker process of the multi-process tests
// works on; it is set only in that process.
const helperEnv = "TASKFLOW_SQLITE_WORKER_FILE"

// processTasks registers the tasks the worker processes run: noop, and
// stamp, which returns when it started, in Unix nanoseconds.
func processTasks(t testing.TB, reg *taskflow.Registry) (noop *taskflow.Task[int, struct{}], stamp *taskflow.Task[int, int64]) {
	noop, err := taskflow.RegisterTask(reg, "noop", func(context.Context, int) (struct{}, error) { return struct{}{}, nil })
	require.NoError(t, err)
	stamp, err = taskflow.RegisterTask(reg, "stamp", func(context.Context, int) (int64, error) { return time.Now().UnixNano(), nil })
	require.NoError(t, err)
	return noop, stamp
}

// TestWorkerProcess is the worker process of the multi-process tests; on
// its own it does nothing. It works until its stdin is closed, polling
// only once a minute: a job it runs sooner was announced across processes.
// It logs warnings and errors to stderr, which the parent test checks.
func TestWorkerProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("the worker process of the multi-process tests")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	s, err := Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	reg := taskflow.NewRegistry()
	processTasks(t, reg)
	w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{
		Registry: reg, Concurrency: 16, PollInterval: time.Minute,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	require.NoError(t, err)
	require.NoError(t, w.Run(ctx))
}

// workerProcess is a running worker process.
type workerProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startWorkers runs n worker processes on the file at path and waits until
// each has registered; stop them with stopWorkers.
func startWorkers(t *testing.T, s *Store, n int) []*workerProcess {
	t.Helper()
	var out []*workerProcess
	for range n {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"="+s.Path())
		p := &workerProcess{cmd: cmd, stderr: &syncBuffer{}}
		cmd.Stderr = p.stderr
		var err error
		p.stdin, err = cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		out = append(out, p)
	}
	require.Eventually(t, func() bool {
		ws, err := s.ListWorkers(testCtx(t))
		return err == nil && len(ws) == n
	}, 30*time.Second, 20*time.Millisecond, "the worker processes did not register")
	return out
}

// stopWorkers stops the processes gracefully and checks that they exited
// cleanly and logged no warning or error, "database is locked" least of all.
func stopWorkers(t *testing.T, ps []*workerProcess) {
	t.Helper()
	for _, p := range ps {
		require.NoError(t, p.stdin.Close())
	}
	for _, p := range ps {
		err := p.cmd.Wait()
		logs := p.stderr.String()
		require.NoError(t, err, "worker process: %s", logs)
		require.NotContains(t, logs, "database is locked")
		require.NotContains(t, logs, "level=ERROR")
		require.NotContains(t, logs, "level=WARN")
	}
}

// TestWakeUpAcrossProcesses: a job enqueued here wakes the worker of
// another process, which polls only once a minute; the pickup latency is
// logged (a figure of a shared machine, not a bound).
func TestWakeUpAcrossProcesses(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the worker process")
	}
	s := newStore(t)
	ps := startWorkers(t, s, 1)
	reg := taskflow.NewRegistry()
	_, stamp := processTasks(t, reg)
	client, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	var lat []time.Duration
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		h, err := stamp.On(client).Enqueue(ctx, i)
		require.NoError(t, err)
		started, err := h.Wait(ctx)
		cancel()
		require.NoError(t, err, "job %d was not picked up within 10s: no wake-up across processes", i)
		lat = append(lat, time.Unix(0, started).Sub(start))
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	}
	slices.Sort(lat)
	t.Logf("pickup across processes: p50 %s, max %s (poll interval %s)", lat[len(lat)/2], lat[len(lat)-1], s.cfg.poll)
	stopWorkers(t, ps)
}

// TestTwoWorkerProcessesAndAController: two worker processes work one
// file while this process enqueues jobs and requeues, deletes and counts
// them. No call fails (no "database is locked" reaches anyone), every job
// ends Succeeded or Deleted, and none succeeds twice.
func TestTwoWorkerProcessesAndAController(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the worker process")
	}
	s := newStore(t)
	ps := startWorkers(t, s, 2)
	reg := taskflow.NewRegistry()
	noop, _ := processTasks(t, reg)
	client, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	ctx := testCtx(t)

	var ids []uuid.UUID
	requeued := map[uuid.UUID]bool{} // may run again after succeeding
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) || len(ids) < 300 {
		hs, err := noop.On(client).EnqueueMany(ctx, make([]int, 1+rand.IntN(40)))
		require.NoError(t, err)
		for _, h := range hs {
			ids = append(ids, h.ID)
		}
		for range 3 { // control calls on random jobs, in whatever state they are
			id := ids[rand.IntN(len(ids))]
			var err error
			switch rand.IntN(3) {
			case 0:
				err = client.Requeue(ctx, id)
				requeued[id] = true
			case 1:
				err = client.Delete(ctx, id)
			default:
				_, err = client.JobCounts(ctx)
			}
			if err != nil && !errors.Is(err, storage.ErrStateConflict) {
				require.NoError(t, err)
			}
		}
		time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
	}
	require.Eventually(t, func() bool {
		n, err := s.Count(ctx, "")
		require.NoError(t, err)
		return n[states.NameSucceeded]+n[states.NameDeleted] == int64(len(ids))
	}, 60*time.Second, 50*time.Millisecond, "jobs left unfinished")
	stopWorkers(t, ps)
	for _, id := range ids {
		j, err := s.Get(ctx, id)
		require.NoError(t, err)
		succeeded := 0
		for i, h := range j.History {
			if h.State == states.NameSucceeded {
				succeeded++
				require.Equal(t, states.NameProcessing, j.History[i-1].State, "job %s: an attempt completed twice: %v", id, historyNames(j))
			}
		}
		if !requeued[id] {
			require.LessOrEqual(t, succeeded, 1, "job %s succeeded twice: %v", id, historyNames(j))
		}
	}
	t.Logf("%d jobs through two worker processes", len(ids))
}

func historyNames(j *storage.Job) []states.Name {
	out := make([]states.Name, len(j.History))
	for i, h := range j.History {
		out[i] = h.State
	}
	return out
}
