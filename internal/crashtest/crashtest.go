// Package crashtest kills a worker process with SIGKILL while it runs jobs,
// for the crash-recovery tests of the stores: the test binary runs again as
// a helper process that runs only the helper test, which leases jobs and
// blocks in them, announcing each with [Started].
package crashtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
)

const startedPrefix = "CRASH-STARTED "

// Started tells the parent process, from a job of the helper process, that
// the job started.
func Started(id uuid.UUID) { fmt.Println(startedPrefix + id.String()) }

// StartAndKill runs the test binary again with only helperTest and the
// extra environment env, waits until it has started n jobs, lets it renew
// its leases for settle, kills it with SIGKILL, and returns when.
func StartAndKill(t *testing.T, helperTest string, env []string, n int, settle time.Duration) time.Time {
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
	for range n {
		select {
		case _, ok := <-started:
			require.True(t, ok, "the helper process exited before starting every job")
		case <-timeout:
			t.Fatal("the helper process did not start every job within 20s")
		}
	}
	time.Sleep(settle)
	require.NoError(t, cmd.Process.Kill())
	killed := time.Now()
	_ = cmd.Wait()
	return killed
}

// RequireRecovered waits until succeeded reports n jobs Succeeded, within
// the recovery bound of a worker whose lease lasts lease: the lease runs
// out at most lease after the kill, the reaper looks every lease/6, and
// slack for the run.
func RequireRecovered(t *testing.T, succeeded func() (int64, error), n int, lease time.Duration, killed time.Time) {
	t.Helper()
	bound := lease + lease/6 + 3*time.Second
	require.Eventually(t, func() bool {
		got, err := succeeded()
		return err == nil && got == int64(n)
	}, bound, 50*time.Millisecond, "the jobs of the killed worker were not all Succeeded within %s", bound)
	t.Logf("all %d jobs recovered %s after SIGKILL (bound %s)", n, time.Since(killed).Round(time.Millisecond), bound)
}

// SucceededEntries counts the Succeeded entries of a job's history.
func SucceededEntries(j *taskflow.JobInfo) int {
	n := 0
	for _, c := range j.History {
		if c.State.Name() == states.NameSucceeded {
			n++
		}
	}
	return n
}
