package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url, path string
		opts      int
		bad       bool
	}{
		{url: "sqlite:///var/lib/app/jobs.db", path: "/var/lib/app/jobs.db"},
		{url: "sqlite://jobs.db", path: "jobs.db"},
		{url: "sqlite:data/jobs.db", path: "data/jobs.db"},
		{url: "sqlite:///tmp/my%20jobs.db?synchronous=full", path: "/tmp/my jobs.db", opts: 1},
		{url: "sqlite:///tmp/jobs.db?poll=10ms&synchronous=NORMAL", path: "/tmp/jobs.db", opts: 2},
		{url: "sqlite:///tmp/jobs.db?poll=soon", bad: true},
		{url: "sqlite:///tmp/jobs.db?cache=shared", bad: true},
		{url: "sqlite://", bad: true},
		{url: "postgres://x", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			path, opts, err := sqlitestore.ParseURL(tt.url)
			if tt.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.path, path)
			require.Len(t, opts, tt.opts)
		})
	}
}

// TestOpenByURL: storage.Open and taskflow.Open open the registered
// backends by URL; an unknown scheme names what to import.
func TestOpenByURL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := taskflow.Open(ctx, "sqlite://"+path)
	require.NoError(t, err)
	require.IsType(t, &sqlitestore.Store{}, s)
	require.Equal(t, path, s.(*sqlitestore.Store).Path())
	require.NoError(t, s.Close())

	m, err := storage.Open(ctx, "memory:")
	require.NoError(t, err)
	require.IsType(t, &memstore.Store{}, m)
	require.NoError(t, m.Close())

	_, err = storage.Open(ctx, "mysql://localhost/jobs")
	require.ErrorIs(t, err, storage.ErrUnknownScheme)
	_, err = storage.Open(ctx, "jobs.db")
	require.ErrorIs(t, err, storage.ErrUnknownScheme)
	_, err = storage.Open(ctx, "sqlite:///no/such/dir/jobs.db")
	require.ErrorIs(t, err, sqlitestore.ErrNoDirectory)
}

// Open a durable store from a URL: the backend's package registers its
// scheme when imported.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	store, err := taskflow.Open(ctx, "sqlite://"+filepath.Join(dir, "jobs.db"))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	if err != nil {
		panic(err)
	}
	_ = client
	fmt.Println("opened")
	// Output: opened
}
