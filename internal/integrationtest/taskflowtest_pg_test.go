package integrationtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/pgtest"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowtest"
)

// pgStore returns a pool and a store on a fresh, migrated schema (see
// package pgtest: the test skips without a database).
func pgStore(t *testing.T) (*pgxpool.Pool, *pgstore.Store) {
	t.Helper()
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	require.NoError(t, pgstore.Migrate(context.Background(), pool, pgstore.Schema(schema)))
	return pool, pgstore.New(pool, pgstore.Schema(schema))
}

type mail struct{ To string }

// TestRequireEnqueuedInsideATransaction: a job enqueued in the caller's
// transaction is seen by the assertions on the store bound to it, not
// outside until the commit, and never after a rollback. (What a failure
// says is checked on the harness's store in package taskflowtest.)
func TestRequireEnqueuedInsideATransaction(t *testing.T) {
	t.Parallel()
	for _, commit := range []bool{true, false} {
		t.Run(map[bool]string{true: "Commit", false: "Rollback"}[commit], func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			pool, pg := pgStore(t)
			reg := taskflow.NewRegistry()
			welcome, err := taskflow.RegisterTask(reg, "welcome", func(context.Context, mail) (bool, error) { return true, nil })
			require.NoError(t, err)

			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			inTx := pg.WithTx(tx)
			client, err := taskflow.NewClient(inTx, taskflow.ClientOptions{Registry: reg})
			require.NoError(t, err)
			_, err = welcome.On(client).Enqueue(ctx, mail{To: "ada"})
			require.NoError(t, err)

			isAda := func(m mail) bool { return m.To == "ada" }
			jobs := taskflowtest.RequireEnqueued(ctx, t, inTx, welcome, isAda)
			require.Len(t, jobs, 1)
			require.Equal(t, "ada", jobs[0].Args.To)
			taskflowtest.RequireEnqueuedN(ctx, t, pg, welcome, 0, nil) // not committed yet

			if commit {
				require.NoError(t, tx.Commit(ctx))
				taskflowtest.RequireEnqueuedN(ctx, t, pg, welcome, 1, isAda)
			} else {
				require.NoError(t, tx.Rollback(ctx))
				taskflowtest.RequireEnqueuedN(ctx, t, pg, welcome, 0, nil)
			}
		})
	}
}
