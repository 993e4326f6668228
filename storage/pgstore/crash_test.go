package pgstore

import (
	"context"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/crashtest"
	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/internal/stresstest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
)

// crashEnv names the schema the crash helper process works on; it is set
// only in that process.
const crashEnv = "TASKFLOW_CRASH_HELPER_SCHEMA"

// crashRuns records the runs of the crash test's jobs in table crash_runs.
func crashRuns(pool *pgxpool.Pool, schema string) crashtest.Runs {
	table := pgx.Identifier{schema, "crash_runs"}.Sanitize()
	return crashtest.Runs{
		Record: func(ctx context.Context, id uuid.UUID, run string) error {
			_, err := pool.Exec(ctx, "INSERT INTO "+table+" (job_id, run) VALUES ($1, $2)", id, run)
			return err
		},
		Of: func(ctx context.Context, id uuid.UUID) ([]string, error) {
			rows, err := pool.Query(ctx, "SELECT run FROM "+table+" WHERE job_id = $1 ORDER BY seq", id)
			if err != nil {
				return nil, err
			}
			return pgx.CollectRows(rows, pgx.RowTo[string])
		},
	}
}

// TestCrashHelper is the worker process of TestCrashRecovery; on its own it
// does nothing.
func TestCrashHelper(t *testing.T) {
	schema := os.Getenv(crashEnv)
	if schema == "" {
		t.Skip("the worker process of TestCrashRecovery")
	}
	pool := testPool(t)
	crashtest.Helper(t, New(pool, Schema(schema)), crashRuns(pool, schema))
}

// TestCrashRecovery kills a worker process with SIGKILL while it runs jobs,
// then checks that another worker completes every one of them, exactly
// once, within the lease recovery bound.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the helper process")
	}
	pool := testPool(t)
	schema := newSchema(t, pool)
	ctx := testCtx(t)
	require.NoError(t, Migrate(ctx, pool, Schema(schema)))
	_, err := pool.Exec(ctx, "CREATE TABLE "+pgx.Identifier{schema, "crash_runs"}.Sanitize()+
		" (seq bigserial, job_id uuid NOT NULL, run text NOT NULL)")
	require.NoError(t, err)
	crashtest.Recover(t, New(pool, Schema(schema)), crashRuns(pool, schema), "TestCrashHelper", crashEnv+"="+schema)
}

// TestJobControlAgainstRunningWork is the job-control stress test (package
// stresstest) on PostgreSQL.
func TestJobControlAgainstRunningWork(t *testing.T) {
	stresstest.Run(t, newStore(t), stresstest.Config{})
}

// TestRollingDeploy is the rolling-deploy stress test (package stresstest)
// on PostgreSQL.
func TestRollingDeploy(t *testing.T) {
	stresstest.RollingDeploy(t, newStore(t), stresstest.Config{})
}

// TestHandleFromATransactionWorksAfterCommit: a handle returned by an
// enqueue inside the caller's transaction reads outside it, so it can wait
// for the job once the transaction has committed.
func TestHandleFromATransactionWorksAfterCommit(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	reg := taskflow.NewRegistry()
	double, err := taskflow.RegisterTask(reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	require.NoError(t, err)
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	c, err := taskflow.NewClient(s.WithTx(tx), taskflow.ClientOptions{})
	require.NoError(t, err)
	h, err := double.On(c).Enqueue(ctx, 21)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	rig.Start(t, s, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg}})
	n, err := h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 42, n)
	info, err := h.Job(ctx)
	require.NoError(t, err)
	require.Equal(t, states.NameSucceeded, info.State.Name())
}
