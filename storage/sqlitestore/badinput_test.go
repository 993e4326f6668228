package sqlitestore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// setUserVersion sets the file's schema version behind the store's back,
// as a newer taskflow migrating it would.
func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite3", dsn(path, config{synchronous: "NORMAL"}, false))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec("PRAGMA user_version = " + strconv.Itoa(v))
	require.NoError(t, err)
}

// filledFile returns the path of a closed store file holding one job.
func filledFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(context.Background(), path)
	require.NoError(t, err)
	_, err = s.Create(testCtx(t), &storage.CreateParams{Jobs: []*storage.Job{enqueued()}})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return path
}

// TestBadInputIsRefusedAndCorruptsNothing: each bad file is refused by
// Open with an error naming the problem, and left as it was.
func TestBadInputIsRefusedAndCorruptsNothing(t *testing.T) {
	tests := []struct {
		name string
		// prepare returns the path to open.
		prepare func(t *testing.T) string
		want    error
		says    string
		// asUser: root would not see the problem (root writes read-only
		// files), so as root the case runs in a child process as nobody.
		asUser bool
	}{
		{"MissingDirectory", func(t *testing.T) string {
			return filepath.Join(t.TempDir(), "no", "such", "dir", "jobs.db")
		}, ErrNoDirectory, "directory does not exist", false},
		{"NotADatabase", func(t *testing.T) string {
			path := filepath.Join(t.TempDir(), "notes.txt")
			require.NoError(t, os.WriteFile(path, []byte(strings.Repeat("these are not the jobs you are looking for\n", 200)), 0o600))
			return path
		}, ErrNotDatabase, "not a SQLite database", false},
		{"NewerSchema", func(t *testing.T) string {
			path := filledFile(t)
			setUserVersion(t, path, latestVersion+1)
			return path
		}, ErrSchemaTooNew, "upgrade taskflow", false},
		{"ReadOnlyFile", func(t *testing.T) string {
			path := filledFile(t)
			require.NoError(t, os.Chmod(path, 0o400))
			return path
		}, ErrReadOnly, "read-only", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.asUser && os.Geteuid() == 0 {
				runAsNobody(t)
				return
			}
			path := tt.prepare(t)
			before, _ := os.ReadFile(path)
			s, err := Open(context.Background(), path)
			if err == nil {
				s.Close()
			}
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.says)
			require.ErrorContains(t, err, path, "the error names the file")
			after, _ := os.ReadFile(path)
			require.Equal(t, before, after, "the file changed")
		})
	}
}

// TestTwoVersionsOnOneFile: once a newer taskflow migrates the file under
// a running store, every write of the running store fails with
// ErrSchemaTooNew and changes nothing; opening the file again fails too.
func TestTwoVersionsOnOneFile(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	j := enqueued()
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{j}})
	require.NoError(t, err)

	setUserVersion(t, s.Path(), latestVersion+1)
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueued()}})
	require.ErrorIs(t, err, ErrSchemaTooNew)
	_, err = s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "w", LeaseFor: 1e9})
	require.ErrorIs(t, err, ErrSchemaTooNew)
	n, err := s.Count(ctx, "")
	require.NoError(t, err)
	require.Equal(t, int64(1), n["enqueued"], "nothing changed")

	_, err = Open(ctx, s.Path())
	require.ErrorIs(t, err, ErrSchemaTooNew)
}
