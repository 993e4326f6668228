package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Notifier = (*Store)(nil)
	_ storage.Lister   = (*Store)(nil)
	_ storage.Pruner   = (*Store)(nil)
)

func TestWithTxCreateFollowsCallersTransaction(t *testing.T) {
	for _, commit := range []bool{true, false} {
		name := map[bool]string{true: "Commit", false: "Rollback"}[commit]
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			ctx := testCtx(t)
			sub, cancel := context.WithCancel(ctx)
			defer cancel()
			wake, err := s.Subscribe(sub)
			require.NoError(t, err)

			tx, err := s.pool.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx)
			j := enqueuedJob(t)
			require.NoError(t, s.WithTx(tx).Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}}))
			_, err = s.Get(ctx, j.ID)
			require.ErrorIs(t, err, storage.ErrNotFound, "visible before commit")
			select {
			case <-wake:
				t.Fatal("woken before commit")
			case <-time.After(100 * time.Millisecond):
			}

			if commit {
				require.NoError(t, tx.Commit(ctx))
				get(t, s, j.ID)
				select {
				case <-wake:
				case <-time.After(5 * time.Second):
					t.Fatal("no wake-up after commit")
				}
				return
			}
			require.NoError(t, tx.Rollback(ctx))
			_, err = s.Get(ctx, j.ID)
			require.ErrorIs(t, err, storage.ErrNotFound)
		})
	}
}
