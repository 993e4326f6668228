package sqlitestore

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/crashtest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// crashEnv names the file the crash helper processes work on; it is set
// only in those processes.
const (
	crashEnv  = "TASKFLOW_SQLITE_CRASH_FILE"
	commitEnv = "TASKFLOW_SQLITE_COMMIT_FILE"
)

// crashRuns records the runs of the crash test's jobs in table crash_runs
// of the store's file, through a connection of its own.
func crashRuns(t testing.TB, path string) crashtest.Runs {
	db, err := sql.Open("sqlite3", dsn(path, config{synchronous: "NORMAL"}, false))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return crashtest.Runs{
		Record: func(ctx context.Context, id uuid.UUID, run string) error {
			return retryBusy(ctx, func() error {
				_, err := db.ExecContext(ctx, "INSERT INTO crash_runs (job_id, run) VALUES (?, ?)", id.String(), run)
				return err
			})
		},
		Of: func(ctx context.Context, id uuid.UUID) ([]string, error) {
			rows, err := db.QueryContext(ctx, "SELECT run FROM crash_runs WHERE job_id = ? ORDER BY rowid", id.String())
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var out []string
			for rows.Next() {
				var r string
				if err := rows.Scan(&r); err != nil {
					return nil, err
				}
				out = append(out, r)
			}
			return out, rows.Err()
		},
	}
}

// TestCrashHelper is the worker process of TestCrashRecovery; on its own it
// does nothing.
func TestCrashHelper(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("the worker process of TestCrashRecovery")
	}
	s, err := Open(context.Background(), path)
	require.NoError(t, err)
	crashtest.Helper(t, s, crashRuns(t, path))
}

// TestCrashRecovery kills a worker process with SIGKILL while it runs jobs,
// then checks that another worker completes every one of them, exactly
// once, within the lease recovery bound.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnv) != "" || os.Getenv(commitEnv) != "" {
		t.Skip("in a helper process")
	}
	s := newStore(t)
	require.NoError(t, s.write(testCtx(t), func(w *wtx) error {
		_, err := w.exec("CREATE TABLE crash_runs (job_id TEXT NOT NULL, run TEXT NOT NULL)")
		return err
	}))
	crashtest.Recover(t, s, crashRuns(t, s.Path()), "TestCrashHelper", crashEnv+"="+s.Path())
}

const committedPrefix = "COMMITTED "

// TestCommitHelper is the process TestKillMidCommit kills: a worker with a
// short lease working on no-op jobs while it enqueues them as fast as it
// can, ten per call, each call's jobs with the call's number as argument,
// and says so on stdout after each call returns.
func TestCommitHelper(t *testing.T) {
	path := os.Getenv(commitEnv)
	if path == "" {
		t.Skip("the process TestKillMidCommit kills")
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	require.NoError(t, err)
	reg := taskflow.NewRegistry()
	noop, _ := processTasks(t, reg)
	client, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{Registry: reg, Concurrency: 16, LeaseDuration: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	go func() { _ = w.Run(ctx) }()
	for i := 0; ; i++ {
		args := make([]int, 10)
		for k := range args {
			args[k] = i
		}
		if _, err := noop.On(client).EnqueueMany(ctx, args); err != nil {
			t.Fatal(err)
		}
		fmt.Println(committedPrefix + strconv.Itoa(i))
	}
}

// TestKillMidCommit kills, with SIGKILL, a process that enqueues and works
// jobs without pause, so that it dies in the middle of commits. Then the
// file is intact, every call the process saw return is there whole, no
// call is there in part, and a new worker completes every job, none twice.
func TestKillMidCommit(t *testing.T) {
	if os.Getenv(crashEnv) != "" || os.Getenv(commitEnv) != "" {
		t.Skip("in a helper process")
	}
	for round := range 3 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			s := newStore(t)
			ctx := testCtx(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCommitHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), commitEnv+"="+s.Path())
			cmd.Stderr = os.Stderr
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			committed := map[string]bool{}
			lines := make(chan string)
			go func() {
				for sc := bufio.NewScanner(stdout); sc.Scan(); {
					lines <- sc.Text()
				}
				close(lines)
			}()
			// Kill after a random number of committed calls, mid-stream.
			want := 20 + rand.IntN(80)
			for len(committed) < want {
				select {
				case l, ok := <-lines:
					require.True(t, ok, "the helper exited early")
					if q, ok := strings.CutPrefix(l, committedPrefix); ok {
						committed[q] = true
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the helper committed too little")
				}
			}
			require.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait()
			for l := range lines {
				if q, ok := strings.CutPrefix(l, committedPrefix); ok {
					committed[q] = true
				}
			}

			var check string
			require.NoError(t, s.read(ctx, func(conn querier) error {
				return conn.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check)
			}))
			require.Equal(t, "ok", check)
			perCall := map[string]int{}
			jobs, err := s.List(ctx, &storage.ListParams{})
			require.NoError(t, err)
			for _, j := range jobs {
				perCall[string(j.Args)]++
			}
			for c := range committed {
				require.Equal(t, 10, perCall[c], "call %s returned, yet lost jobs", c)
			}
			for c, n := range perCall {
				require.Equal(t, 10, n, "call %s stored in part", c)
			}

			reg := taskflow.NewRegistry()
			processTasks(t, reg)
			w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{Registry: reg, Concurrency: 16,
				LeaseDuration: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			require.NoError(t, err)
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.Run(runCtx) }()
			require.Eventually(t, func() bool {
				n, err := s.Count(ctx, "")
				return err == nil && n[states.NameSucceeded] == int64(len(jobs))
			}, 20*time.Second, 20*time.Millisecond, "jobs of the killed process left unfinished")
			stop()
			require.NoError(t, <-done)
			for _, j := range jobs {
				got, err := s.Get(ctx, j.ID)
				require.NoError(t, err)
				succeeded := 0
				for _, h := range got.History {
					if h.State == states.NameSucceeded {
						succeeded++
					}
				}
				require.Equal(t, 1, succeeded, "job %s: %v", j.ID, historyNames(got))
			}
			t.Logf("killed after %d calls returned; %d jobs on file, all completed once", len(committed), len(jobs))
		})
	}
}
