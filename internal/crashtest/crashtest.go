// Package crashtest is the crash-recovery test of the stores: a worker
// process killed with SIGKILL while it runs jobs, whose jobs another worker
// must complete, each exactly once, within the lease recovery bound. The
// test binary runs again as the helper process, running only the store's
// helper test, which calls [Helper].
//
// A test rig: only taskflow's own tests import it.
package crashtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Jobs is how many jobs the killed worker holds; Lease is the workers'
// lease.
const (
	Jobs  = 5
	Lease = 2 * time.Second
)

const startedPrefix = "CRASH-STARTED "

// Runs records each run of a job, tagged with who ran it and the attempt,
// somewhere both processes see (the store's database), and reads them back
// in order.
type Runs struct {
	Record func(ctx context.Context, id uuid.UUID, run string) error
	Of     func(ctx context.Context, id uuid.UUID) ([]string, error)
}

// task registers the crash test's task on reg. Each run records itself; in
// the helper process it then says so on stdout and blocks until the
// process is killed.
func task(t testing.TB, reg *taskflow.Registry, runs Runs, who string) *taskflow.Task[int, struct{}] {
	tk, err := taskflow.RegisterTask(reg, "crash-test", func(ctx context.Context, _ int) (struct{}, error) {
		j, _ := taskflow.JobFromContext(ctx)
		if err := runs.Record(ctx, j.ID, fmt.Sprintf("%s:%d", who, j.Attempt)); err != nil {
			return struct{}{}, err
		}
		if who == "helper" {
			fmt.Println(startedPrefix + j.ID.String())
			time.Sleep(time.Minute) // until SIGKILL; the bound keeps a lost helper from lingering
		}
		return struct{}{}, nil
	})
	require.NoError(t, err)
	return tk
}

func worker(t testing.TB, s storage.Store, reg *taskflow.Registry) *taskflow.Worker {
	w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{
		Registry: reg, Concurrency: Jobs, LeaseDuration: Lease,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return w
}

// Helper is the body of the helper test: a worker on s that leases the
// jobs and blocks in them until the process is killed.
func Helper(t *testing.T, s storage.Store, runs Runs) {
	reg := taskflow.NewRegistry()
	task(t, reg, runs, "helper")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = worker(t, s, reg).Run(ctx)
}

// Recover is the crash-recovery test on s, which must also be a
// storage.Lister: it enqueues Jobs jobs, runs the test binary again with
// only helperTest and the extra environment env, kills it with SIGKILL once
// it runs every job, then checks that a new worker completes each job
// exactly once, within the recovery bound: the lease runs out at most Lease
// after the kill, the reaper looks every Lease/6, and slack for the run.
func Recover(t *testing.T, s storage.Store, runs Runs, helperTest string, env ...string) {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lister := s.(storage.Lister)
	reg := taskflow.NewRegistry()
	tk := task(t, reg, runs, "recovery")
	client, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	handles, err := tk.On(client).EnqueueMany(c, make([]int, Jobs))
	require.NoError(t, err)

	killed := startAndKill(t, helperTest, env)

	runCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- worker(t, s, reg).Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-stopped) }()
	bound := Lease + Lease/6 + 3*time.Second
	require.Eventually(t, func() bool {
		n, err := lister.Count(c, "")
		return err == nil && n[states.NameSucceeded] == Jobs
	}, bound, 50*time.Millisecond, "the jobs of the killed worker were not all Succeeded within %s", bound)
	t.Logf("all %d jobs recovered %s after SIGKILL (bound %s)", Jobs, time.Since(killed).Round(time.Millisecond), bound)

	for _, h := range handles {
		j, err := client.Job(c, h.ID)
		require.NoError(t, err)
		require.Equal(t, 2, j.Attempt, "one attempt in the killed worker, one in the new one")
		succeeded := 0
		for _, e := range j.History {
			if e.State.Name() == states.NameSucceeded {
				succeeded++
			}
		}
		require.Equal(t, 1, succeeded, "job %s history: %v", h.ID, j.History)
		who, err := runs.Of(c, h.ID)
		require.NoError(t, err)
		require.Equal(t, []string{"helper:1", "recovery:2"}, who, "runs of job %s", h.ID)
	}
	n, err := lister.Count(c, "")
	require.NoError(t, err)
	var total int64
	for _, k := range n {
		total += k
	}
	require.Equal(t, int64(Jobs), total, "nothing lost, nothing extra: %v", n)
}

// startAndKill runs the helper process, waits until it has started every
// job, lets it renew its leases once, kills it with SIGKILL, and returns
// when.
func startAndKill(t *testing.T, helperTest string, env []string) time.Time {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helperTest+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	started := make(chan string)
	go func() {
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			if id, ok := strings.CutPrefix(sc.Text(), startedPrefix); ok {
				started <- id
			}
		}
		close(started)
	}()
	timeout := time.After(20 * time.Second)
	for range Jobs {
		select {
		case _, ok := <-started:
			require.True(t, ok, "the helper process exited before starting every job")
		case <-timeout:
			t.Fatal("the helper process did not start every job within 20s")
		}
	}
	time.Sleep(Lease / 2) // let the helper renew its leases at least once
	require.NoError(t, cmd.Process.Kill())
	killed := time.Now()
	_ = cmd.Wait()
	return killed
}
