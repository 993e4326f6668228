package sqlitestore

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// TestWithTxFollowsCallersTransaction: jobs created through WithTx exist
// if and only if the caller's transaction commits, are visible inside it
// at once, and wake subscribers once it has committed.
func TestWithTxFollowsCallersTransaction(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(map[bool]string{true: "Commit", false: "Rollback"}[commit], func(t *testing.T) {
			s := newStore(t)
			ctx := testCtx(t)
			sub, cancel := context.WithCancel(ctx)
			defer cancel()
			wake, err := s.Subscribe(sub, storage.TopicEnqueued)
			require.NoError(t, err)
			app, err := sql.Open("sqlite3", "file:"+s.Path()+"?_pragma=busy_timeout(5000)")
			require.NoError(t, err)
			defer app.Close()
			_, err = app.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)")
			require.NoError(t, err)

			tx, err := app.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer tx.Rollback()
			_, err = tx.ExecContext(ctx, "INSERT INTO orders (id) VALUES (1)")
			require.NoError(t, err)
			in := s.WithTx(tx)
			j := enqueued()
			_, err = in.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
			require.NoError(t, err)
			_, err = in.Get(ctx, j.ID)
			require.NoError(t, err, "visible inside the transaction")
			_, err = in.Outside().Get(ctx, j.ID)
			require.ErrorIs(t, err, storage.ErrNotFound, "visible outside before the commit")
			_, err = in.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueued(), j}})
			require.ErrorIs(t, err, storage.ErrDuplicate)
			n, err := in.Count(ctx, "")
			require.NoError(t, err)
			require.Equal(t, int64(1), n["enqueued"], "a failed call leaves nothing in the transaction")

			if !commit {
				require.NoError(t, tx.Rollback())
				_, err = s.Get(ctx, j.ID)
				require.ErrorIs(t, err, storage.ErrNotFound)
				return
			}
			for len(wake) > 0 {
				<-wake
			}
			require.NoError(t, tx.Commit())
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				t.Fatal("no wake-up after the commit")
			}
			got, err := s.Get(ctx, j.ID)
			require.NoError(t, err)
			require.Equal(t, j.ID, got.ID)
		})
	}
}
