package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// TestMigrateDownAndUp: every version goes down and up again; at version 0
// the file holds no table; a version beyond the latest is refused.
func TestMigrateDownAndUp(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	applied := func() int {
		st, err := MigrationStatus(ctx, path)
		require.NoError(t, err)
		require.Len(t, st, latestVersion)
		n := 0
		for _, m := range st {
			if m.Applied {
				n++
			}
		}
		return n
	}
	require.Equal(t, latestVersion, applied())

	require.NoError(t, MigrateTo(ctx, path, 0))
	require.Equal(t, 0, applied())
	_, err = Open(ctx, path, WithoutMigrate())
	require.ErrorIs(t, err, ErrNotMigrated)

	require.NoError(t, MigrateTo(ctx, path, latestVersion))
	require.Equal(t, latestVersion, applied())
	s, err = Open(ctx, path, WithoutMigrate())
	require.NoError(t, err)
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueued()}})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	require.ErrorIs(t, MigrateTo(ctx, path, latestVersion+1), ErrUnknownVersion)
	require.ErrorIs(t, MigrateTo(ctx, path, -1), ErrUnknownVersion)
}
