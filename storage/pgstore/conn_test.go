package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Notifier = (*Store)(nil)
	_ storage.Lister   = (*Store)(nil)
	_ storage.Pruner   = (*Store)(nil)
)

// After every backend of the store is terminated, calls may fail but never
// panic, the pool reconnects, and the subscriber listens again.
func TestStoreSurvivesTerminatedConnections(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	wake, err := s.Subscribe(sub)
	require.NoError(t, err)
	create := func() error {
		return s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueuedJob(t)}})
	}
	require.NoError(t, create())

	// A separate connection, so it survives; only this test's backends
	// (its application_name) are terminated, not those of other tests.
	cfg := s.pool.Config().ConnConfig
	app := cfg.RuntimeParams["application_name"]
	admin, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer admin.Close(ctx)
	backends := func(query string) int {
		var n int
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1
			AND query LIKE $2`, app, query).Scan(&n))
		return n
	}
	require.Equal(t, 1, backends("LISTEN%"))
	var killed int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = $1`, app).Scan(&killed))
	require.GreaterOrEqual(t, killed, 2, "the pool's and the listener's backends")

	require.Eventually(t, func() bool { return create() == nil }, 10*time.Second, 50*time.Millisecond, "store never recovered")
	require.Eventually(t, func() bool { return backends("LISTEN%") == 1 }, 10*time.Second, 50*time.Millisecond, "subscriber never listened again")
	drain(wake) // the wake-up sent on reconnecting
	require.NoError(t, create())
	select {
	case <-wake:
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up after resubscribing")
	}
}

// drain empties ch of wake-ups that arrive within 200ms.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}
